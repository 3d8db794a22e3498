import type { Command } from 'commander';
import { createLogger, logFnOf, LOG_LEVEL_CHOICES, parseLogLevel, type LogFn, type LogLevelChoice, type LogRole } from '../sys/log.js';

/** Help text of --log-level. */
export const LOG_LEVEL_HELP = `log level: ${LOG_LEVEL_CHOICES.join(', ')} (debug adds every poll, heartbeat and report)`;

/** Adds `--log-level` (also WGFABRIC_LOG_LEVEL, see env.ts) to a role's command. */
export function logLevelOption(cmd: Command): Command {
  return cmd.option('--log-level <level>', LOG_LEVEL_HELP, 'info');
}

/** The checked level of --log-level. */
export function logLevelOf(f: { logLevel?: string }): LogLevelChoice {
  return parseLogLevel(f.logLevel ?? 'info');
}

/** The role's LogFn on stderr, in the common JSON shape (sys/log.ts). */
export function roleLog(role: LogRole, f: { logLevel?: string }): LogFn {
  return logFnOf(createLogger(role, logLevelOf(f)));
}
