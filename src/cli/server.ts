/**
 * `wgfabric server [--data-dir DIR] [--listen HOST:PORT] [--master-key-file F]
 *   [--bootstrap-token-file F] [--compact-keep N] [--compact-interval-ms MS]
 *   [--tls-cert FILE --tls-key FILE] [--store sqlite|etcd --etcd-endpoints URL[,URL]
 *   [--etcd-prefix P] [--etcd-ca F] [--etcd-cert F --etcd-key F] [--etcd-user U --etcd-password-file F]]`
 *
 * Runs the control plane in the foreground on a SQLite store in the data directory until
 * SIGTERM/SIGINT. On the very first start it prints the bootstrap admin token once. It
 * compacts the store's change log by itself, keeping the last N revisions (0: never). With
 * --tls-cert and --tls-key it serves HTTPS.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { DEFAULT_AUTO_COMPACT, MIN_COMPACT_INTERVAL_MS, type AutoCompactSettings } from '../control/compaction.js';
import { FabricError } from '../protocol/errors.js';
import type { EtcdStoreOptions } from '../store/index.js';
import type { RunningServer, StartServerOptions } from '../server/start.js';
import type { ServerTlsFiles } from '../server/tls.js';
import { DEFAULT_WATCH_LIMITS, validateWatchLimits, type WatchLimits } from '../server/stream-limits.js';
import { LOG_LEVEL_HELP, logLevelOf } from './log.js';

/** Defaults of the server command's flags. */
export const DEFAULT_DATA_DIR = './.wgfabric/data';
export const DEFAULT_LISTEN = '127.0.0.1:7080';

/** Injection points for tests. */
export interface ServerCommandDeps {
  /** Starts the server (tests substitute a fake). */
  readonly start?: (o: StartServerOptions) => Promise<RunningServer>;
}

/** "HOST:PORT" with an IPv4 address, a host name, or "[IPv6]:PORT"; port 0 = any free port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : -1;
  if (!m || port > 65535 || (text.startsWith('[') && isIP(m[1]!) !== 6)) {
    throw new FabricError('WGF_ERR_VALIDATION', `--listen must be HOST:PORT or [IPv6]:PORT with port 0..65535, got "${text}"`, { field: 'listen' });
  }
  return { host: m[1]!, port };
}

/**
 * The automatic-compaction settings from `--compact-keep` (integer >= 0, 0 = off) and
 * `--compact-interval-ms` (integer >= 1000); WGF_ERR_VALIDATION naming the flag otherwise.
 */
export function parseCompactFlags(f: { compactKeep: string; compactIntervalMs: string }): AutoCompactSettings {
  const int = (text: string) => (/^\d{1,15}$/.test(text) ? Number(text) : NaN);
  const keepRevisions = int(f.compactKeep);
  if (Number.isNaN(keepRevisions)) {
    throw new FabricError('WGF_ERR_VALIDATION', `--compact-keep must be a whole number of revisions >= 0 (0 turns automatic compaction off), got "${f.compactKeep}"`, { field: 'compactKeep' });
  }
  const intervalMs = int(f.compactIntervalMs);
  if (!(intervalMs >= MIN_COMPACT_INTERVAL_MS)) {
    throw new FabricError('WGF_ERR_VALIDATION', `--compact-interval-ms must be a whole number of milliseconds >= ${MIN_COMPACT_INTERVAL_MS}, got "${f.compactIntervalMs}"`, { field: 'compactIntervalMs' });
  }
  return { keepRevisions, intervalMs };
}

/** `--tls-cert` and `--tls-key`: both (HTTPS) or neither (plain HTTP); WGF_ERR_VALIDATION for one alone. */
export function parseTlsFlags(f: { tlsCert?: string; tlsKey?: string }): ServerTlsFiles | undefined {
  if (!f.tlsCert && !f.tlsKey) return undefined;
  if (!f.tlsCert || !f.tlsKey) {
    throw new FabricError('WGF_ERR_VALIDATION', `--tls-cert and --tls-key go together: ${f.tlsCert ? '--tls-key' : '--tls-cert'} is missing`, { field: f.tlsCert ? 'tlsKey' : 'tlsCert' });
  }
  return { certFile: f.tlsCert, keyFile: f.tlsKey };
}

/** Flags of the etcd store (`--store etcd`). */
export interface EtcdFlags {
  readonly store: string;
  readonly etcdEndpoints?: string;
  readonly etcdPrefix?: string;
  readonly etcdCa?: string;
  readonly etcdCert?: string;
  readonly etcdKey?: string;
  readonly etcdUser?: string;
  readonly etcdPasswordFile?: string;
}

/**
 * The etcd store options from the flags, or undefined for `--store sqlite` (the default).
 * WGF_ERR_VALIDATION naming the flag for an unknown store, etcd flags without `--store etcd`,
 * or `--store etcd` without endpoints. The password is read from a file, never a flag value
 * (those show in `ps`).
 */
export function parseStoreFlags(f: EtcdFlags, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): EtcdStoreOptions | undefined {
  if (f.store !== 'sqlite' && f.store !== 'etcd') {
    throw new FabricError('WGF_ERR_VALIDATION', `--store must be sqlite or etcd, got "${f.store}"`, { field: 'store' });
  }
  const etcdFlags = (['etcdEndpoints', 'etcdPrefix', 'etcdCa', 'etcdCert', 'etcdKey', 'etcdUser', 'etcdPasswordFile'] as const).filter((k) => f[k] !== undefined);
  if (f.store === 'sqlite') {
    if (etcdFlags.length > 0) throw new FabricError('WGF_ERR_VALIDATION', `--${kebab(etcdFlags[0]!)} needs --store etcd`, { field: etcdFlags[0] });
    return undefined;
  }
  const endpoints = (f.etcdEndpoints ?? '').split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (endpoints.length === 0) throw new FabricError('WGF_ERR_VALIDATION', '--store etcd needs --etcd-endpoints URL[,URL...]', { field: 'etcdEndpoints' });
  if ((f.etcdUser === undefined) !== (f.etcdPasswordFile === undefined)) {
    throw new FabricError('WGF_ERR_VALIDATION', '--etcd-user and --etcd-password-file go together', { field: f.etcdUser ? 'etcdPasswordFile' : 'etcdUser' });
  }
  let password: string | undefined;
  if (f.etcdPasswordFile) {
    try {
      password = readFile(f.etcdPasswordFile).replace(/\r?\n$/, '');
    } catch (e) {
      throw new FabricError('WGF_ERR_VALIDATION', `cannot read --etcd-password-file ${f.etcdPasswordFile}: ${(e as Error).message}`, { field: 'etcdPasswordFile' });
    }
  }
  const tls = f.etcdCa || f.etcdCert || f.etcdKey ? { ...(f.etcdCa ? { caFile: f.etcdCa } : {}), ...(f.etcdCert ? { certFile: f.etcdCert } : {}), ...(f.etcdKey ? { keyFile: f.etcdKey } : {}) } : undefined;
  return {
    endpoints,
    ...(f.etcdPrefix !== undefined ? { prefix: f.etcdPrefix } : {}),
    ...(tls ? { tls } : {}),
    ...(f.etcdUser !== undefined ? { auth: { username: f.etcdUser, password: password! } } : {}),
  };
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Flags of the watch limits (strings as commander gives them). */
export interface WatchFlags { maxWatches: string; maxWatchesPerToken: string; watchBufferBytes: string }

/** The watch limits from --max-watches, --max-watches-per-token, --watch-buffer-bytes; WGF_ERR_VALIDATION naming the flag. */
export function parseWatchFlags(f: WatchFlags): WatchLimits {
  const int = (flag: string, text: string) => {
    if (!/^\d{1,12}$/.test(text)) throw new FabricError('WGF_ERR_VALIDATION', `--${flag} must be a whole number, got "${text}"`, { field: flag });
    return Number(text);
  };
  const limits = {
    ...DEFAULT_WATCH_LIMITS,
    maxTotal: int('max-watches', f.maxWatches), maxPerToken: int('max-watches-per-token', f.maxWatchesPerToken), bufferBytes: int('watch-buffer-bytes', f.watchBufferBytes),
  };
  try {
    return validateWatchLimits(limits);
  } catch (e) {
    const field = (e as FabricError).details?.['field'];
    const flag = field === 'maxTotal' ? 'max-watches' : field === 'maxPerToken' ? 'max-watches-per-token' : 'watch-buffer-bytes';
    throw new FabricError('WGF_ERR_VALIDATION', `--${flag}: ${(e as Error).message}`, { field: flag });
  }
}

/** Adds the `server` subcommand to the program. */
export function registerServerCommand(program: Command, deps: ServerCommandDeps = {}): Command {
  return program
    .command('server')
    .description('run the control plane (REST API under /v1) on a SQLite store, or as one of several replicas on etcd')
    .option('--data-dir <dir>', 'data directory (SQLite store, default master key)', DEFAULT_DATA_DIR)
    .option('--listen <host:port>', 'address to listen on', DEFAULT_LISTEN)
    .option('--master-key-file <file>', 'master key that seals pool private keys (default <data-dir>/master.key)')
    .option('--bootstrap-token-file <file>', 'also write the first-start admin token here (mode 0600)')
    .option('--compact-keep <revisions>', 'change-log revisions kept by automatic compaction (0: off)', String(DEFAULT_AUTO_COMPACT.keepRevisions))
    .option('--compact-interval-ms <ms>', 'how often automatic compaction checks the log', String(DEFAULT_AUTO_COMPACT.intervalMs))
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain); needs --tls-key')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (keep it mode 0600)')
    .option('--store <kind>', 'where the state lives: sqlite (in --data-dir) or etcd (several replicas)', 'sqlite')
    .option('--etcd-endpoints <urls>', 'etcd client URLs, comma-separated (with --store etcd)')
    .option('--etcd-prefix <prefix>', 'key prefix of this fabric in etcd (default wgfabric/)')
    .option('--etcd-ca <file>', 'PEM CA that signed the etcd server certificates')
    .option('--etcd-cert <file>', 'PEM client certificate for etcd (mutual TLS); needs --etcd-key')
    .option('--etcd-key <file>', 'PEM key of --etcd-cert')
    .option('--etcd-user <name>', 'etcd user (etcd auth); needs --etcd-password-file')
    .option('--etcd-password-file <file>', 'file holding the etcd password')
    .option('--etcd-lease-ttl <seconds>', 'lease of the background-job election: a dead leader is replaced within about this time', '10')
    .option('--max-watches <n>', 'open watches + waiting long polls, all tokens together (429 past it)', String(DEFAULT_WATCH_LIMITS.maxTotal))
    .option('--max-watches-per-token <n>', 'open watches + waiting long polls of one token (429 past it)', String(DEFAULT_WATCH_LIMITS.maxPerToken))
    .option('--log-level <level>', LOG_LEVEL_HELP, 'info')
    .option('--watch-buffer-bytes <n>', 'bytes a watch may queue for a slow client before it is paused (backlog) or cut (live)', String(DEFAULT_WATCH_LIMITS.bufferBytes))
    .action(async (flags: { dataDir: string; listen: string; masterKeyFile?: string; bootstrapTokenFile?: string; compactKeep: string; compactIntervalMs: string; tlsCert?: string; tlsKey?: string; etcdLeaseTtl: string; logLevel?: string } & EtcdFlags & WatchFlags) => {
      const { host, port } = parseListen(flags.listen);
      const etcd = parseStoreFlags(flags);
      const leaderTtlSec = Number(flags.etcdLeaseTtl);
      if (!/^\d{1,4}$/.test(flags.etcdLeaseTtl) || leaderTtlSec < 2) {
        throw new FabricError('WGF_ERR_VALIDATION', `--etcd-lease-ttl must be a whole number of seconds >= 2, got "${flags.etcdLeaseTtl}"`, { field: 'etcdLeaseTtl' });
      }
      const autoCompact = parseCompactFlags(flags);
      const tls = parseTlsFlags(flags);
      const watchLimits = parseWatchFlags(flags);
      // Loaded here, not at the top: every other command (agents, LBs, the CLI) skips fastify's start-up cost.
      const running = await (deps.start ?? (await import('../server/start.js')).startServer)({
        dataDir: flags.dataDir, host, port, autoCompact, watchLimits,
        ...(etcd ? { etcd, leaderTtlSec } : {}),
        ...(tls ? { tls } : {}),
        ...(flags.masterKeyFile ? { masterKeyFile: flags.masterKeyFile } : {}),
        ...(flags.bootstrapTokenFile ? { bootstrapTokenFile: flags.bootstrapTokenFile } : {}),
        logLevel: logLevelOf(flags),
      });
      running.app.log.info(`wgfabric control plane listening on ${running.url}`);
      await running.closed;
    });
}
