/**
 * The one log format of every wgfabric role (server, agent, LB, dns updater): pino, one JSON
 * object per line, the same shape everywhere:
 *   {"level":"info","time":"2026-01-01T00:00:00.000Z","role":"agent","pid":123,"msg":"...", ...fields}
 * `level` is a name (debug, info, warn, error), `time` ISO 8601 UTC, `role` the process's role.
 * Fields never carry keys or tokens (the server also redacts Authorization headers).
 * Periodic traffic (polls, heartbeats, reports) logs at debug, so an idle fabric is quiet at
 * the default level info.
 */
import { pino, stdTimeFunctions, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { FabricError } from '../protocol/errors.js';

/** Levels a caller of LogFn uses. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A role's log call: one line with a message and optional structured fields. */
export type LogFn = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** Levels accepted by --log-level (silent: nothing). */
export const LOG_LEVEL_CHOICES = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevelChoice = (typeof LOG_LEVEL_CHOICES)[number];

/** The role names that appear in the `role` field. */
export type LogRole = 'server' | 'agent' | 'lb' | 'dns' | 'lab';

/** Checks a --log-level value; WGF_ERR_VALIDATION naming the choices otherwise. */
export function parseLogLevel(text: string): LogLevelChoice {
  const v = text.trim().toLowerCase();
  if ((LOG_LEVEL_CHOICES as readonly string[]).includes(v)) return v as LogLevelChoice;
  throw new FabricError('WGF_ERR_VALIDATION', `--log-level must be one of ${LOG_LEVEL_CHOICES.join(', ')}, got "${text}"`, { field: 'logLevel' });
}

/** pino options of the common shape (fastify takes them as its `logger` option). */
export function logOptions(role: LogRole, level: LogLevelChoice = 'info'): LoggerOptions {
  return {
    level,
    base: { role, pid: process.pid },
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token', 'privateKey', 'presharedKey'], censor: '[redacted]' },
  };
}

/** A logger of the common shape writing to `dest` (default stderr, synchronously). */
export function createLogger(role: LogRole, level: LogLevelChoice = 'info', dest: DestinationStream = process.stderr): Logger {
  return pino(logOptions(role, level), dest);
}

/** The LogFn view of a pino logger. */
export function logFnOf(logger: Logger): LogFn {
  return (level, msg, fields) => {
    if (fields && Object.keys(fields).length > 0) logger[level](fields, msg);
    else logger[level](msg);
  };
}

/** The keys every log line carries, in this order (the log-shape test checks them). */
export const LOG_LINE_KEYS = ['level', 'time', 'role', 'pid', 'msg'] as const;

/**
 * Whether `line` is one log line of the common shape; the reason when not. Used by tests that
 * read every role's log.
 */
export function checkLogLine(line: string): string | null {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return 'not a JSON object';
  const r = o as Record<string, unknown>;
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(r.level as string)) return `level ${JSON.stringify(r.level)} is not a level name`;
  if (typeof r.time !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(r.time)) return `time ${JSON.stringify(r.time)} is not ISO 8601 UTC`;
  if (!['server', 'agent', 'lb', 'dns', 'lab'].includes(r.role as string)) return `role ${JSON.stringify(r.role)} is not a role`;
  if (typeof r.pid !== 'number') return 'no pid';
  if (typeof r.msg !== 'string' || r.msg === '') return 'no msg';
  return null;
}
