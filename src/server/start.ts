import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { AutoCompactor, DEFAULT_AUTO_COMPACT, validateAutoCompact, type AutoCompactSettings } from '../control/compaction.js';
import type { AuthCacheOptions } from '../control/auth-cache.js';
import { ControlPlane } from '../control/plane.js';
import { loadOrCreateMasterKey, readKeyRingSync, SecretBox } from '../control/secrets.js';
import { FabricError } from '../protocol/errors.js';
import { openEtcdStore, openStore, type EtcdStoreOptions } from '../store/index.js';
import { buildServer } from './app.js';
import { LogSink } from './log-sink.js';
import type { DestinationStream } from 'pino';
import { createLogger, logOptions, type LogLevelChoice } from '../sys/log.js';
import type { WatchLimits } from './stream-limits.js';
import { EtcdLeadership, soleLeader, type Leadership } from './leader.js';
import { loadServerTls, type ServerTls, type ServerTlsFiles } from './tls.js';
import { listenError } from '../sys/listen.js';

/** Options of startServer. */
export interface StartServerOptions {
  /** Holds the SQLite store and, by default, master.key. Created with mode 0700. Unused with `etcd`. */
  readonly dataDir: string;
  /**
   * Keep the state in etcd instead of SQLite in dataDir: any number of replicas can share
   * it. Needs masterKeyFile (the same key on every replica, never in etcd).
   */
  readonly etcd?: EtcdStoreOptions;
  /**
   * With etcd: TTL in seconds of the lease behind the background-job election (default 10):
   * when the leader dies, another replica takes the jobs over within about this time.
   */
  readonly leaderTtlSec?: number;
  readonly host: string;
  /** 0 picks a free port (see the returned url). */
  readonly port: number;
  /** Default <dataDir>/master.key; keep it out of database backups. */
  readonly masterKeyFile?: string;
  /** When given, the bootstrap admin token is also written here (mode 0600) on first start. */
  readonly bootstrapTokenFile?: string;
  /** fastify/pino logger option (default: the common shape of sys/log.ts at logLevel, to stdout). */
  readonly logger?: FastifyServerOptions['logger'];
  /** Level of the default logger (default info). */
  readonly logLevel?: LogLevelChoice;
  readonly heartbeatMs?: number;
  /** Close gracefully on SIGTERM/SIGINT (default true). */
  readonly handleSignals?: boolean;
  /** Where the bootstrap token is printed (default process.stdout). */
  readonly stdout?: { write(s: string): unknown };
  /**
   * Automatic compaction of the store's change log (default DEFAULT_AUTO_COMPACT: keep 10000
   * revisions, check every 60 s); keepRevisions 0 turns it off. WGF_ERR_VALIDATION if unusable.
   */
  readonly autoCompact?: AutoCompactSettings;
  /**
   * Serve HTTPS with this certificate and key (PEM files, read once at start: restart to take
   * a renewed certificate). Without it the API is plain HTTP, and API tokens and the pool
   * private keys that agents fetch cross the network in clear text.
   */
  readonly tls?: ServerTlsFiles;
  /** Limits of watches and long polls (default DEFAULT_WATCH_LIMITS, see stream-limits.ts). */
  readonly watchLimits?: WatchLimits;
  /** Settings of the token lookup cache (default: entries trusted up to 30 s, see control/auth-cache.ts). */
  readonly authCache?: AuthCacheOptions;
}

/** A started server and how to stop it. */
export interface RunningServer {
  readonly app: FastifyInstance;
  readonly control: ControlPlane;
  /** e.g. http://127.0.0.1:7080, or https://… with opts.tls */
  readonly url: string;
  /** The bootstrap admin token when this start created it, else null. */
  readonly bootstrapToken: string | null;
  /** The automatic compactor (started unless disabled; stopped by close()). */
  readonly compactor: AutoCompactor;
  /** Whether this replica runs the background jobs now (always, on SQLite). */
  readonly leadership: Leadership;
  /** Stops listening, ends open watches, closes the store. Idempotent. */
  close(): Promise<void>;
  /** Settles when the server has closed (by close() or a signal). */
  readonly closed: Promise<void>;
}

/**
 * Starts the control plane on a SQLite store in `dataDir`. On the very first start (no
 * token exists) it creates the "bootstrap" admin token and prints it ONCE to stdout (and to
 * bootstrapTokenFile when given); it is never logged and never shown again. Compacts the
 * change log automatically (opts.autoCompact) until closed.
 */
export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const compaction = validateAutoCompact(opts.autoCompact ?? DEFAULT_AUTO_COMPACT);
  const tls = opts.tls ? await loadServerTls(opts.tls) : null; // refused before any store is touched
  if (opts.etcd && !opts.masterKeyFile) {
    throw new FabricError('WGF_ERR_VALIDATION', 'with --store etcd pass --master-key-file: every replica needs the same master key, kept apart from etcd (see README)', { field: 'masterKeyFile' });
  }
  if (!opts.etcd) {
    await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
    await chmod(opts.dataDir, 0o700); // holds the master key and the store: owner only
  }
  const master = await loadOrCreateMasterKey(opts.masterKeyFile ?? join(opts.dataDir, 'master.key'));
  const etcdStore = opts.etcd ? await openEtcdStore(opts.etcd) : undefined;
  const store = etcdStore ?? await openStore(`sqlite:${opts.dataDir}`);
  const keyFile = opts.masterKeyFile ?? join(opts.dataDir, 'master.key');
  // The key file is a ring during a rotation; read again when a key it does not hold is named.
  const secrets = new SecretBox(master.keys, { reload: () => readKeyRingSync(keyFile) });
  const control = new ControlPlane({ store, secrets, ...(opts.authCache ? { authCache: opts.authCache } : {}) });
  const sink = new LogSink();
  let app: FastifyInstance | undefined;
  let token: string | null;
  try {
    const rotationWarning = await control.checkMasterKey();
    token = await control.bootstrap();
    app = await buildServer({
      control,
      // Never blocks on a log that cannot be written (full disk): drops and counts lines instead.
      logger: opts.logger ?? { ...logOptions('server', opts.logLevel ?? 'info'), stream: sink },
      logDropped: () => sink.dropped,
      ...(opts.watchLimits ? { watchLimits: opts.watchLimits } : {}),
      ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
      ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    });
    if (rotationWarning) app.log.warn(rotationWarning);
    // etcd's default limits refuse batches of more than ~20 peers: say which flag to raise.
    if (etcdStore) for (const problem of await etcdStore.checkLimits().catch((e: Error) => [`could not check etcd's limits: ${e.message}`])) app.log.warn(problem);
    if (master.insecureMode) app.log.warn('the master key file is readable by group or others; chmod 600 it');
    if (tls?.keyInsecureMode) app.log.warn(`the TLS key file ${opts.tls!.keyFile} is accessible to group or others; chmod 600 it`);
    if (token !== null) {
      if (opts.bootstrapTokenFile) {
        await writeFile(opts.bootstrapTokenFile, `${token}\n`, { mode: 0o600 });
        await chmod(opts.bootstrapTokenFile, 0o600);
      }
      // With a token file the token goes there only: stdout often ends up in a journal.
      // With a file, a log line of the common shape; without, plain text for the operator at the terminal.
      const out = opts.stdout ?? process.stdout;
      if (opts.bootstrapTokenFile) createLogger('server', 'info', out as DestinationStream).info(`bootstrap admin token written to ${opts.bootstrapTokenFile} (mode 0600); it is not printed`);
      else out.write(`bootstrap admin token (shown only this once; store it now):\n${token}\n`);
    }
    await app.listen({ host: opts.host, port: opts.port }).catch((e: unknown) => { throw listenError(e, 'the control plane', opts.host, opts.port); });
  } catch (e) {
    await app?.close();
    control.close();
    await store.close();
    throw e;
  }
  const server = app;
  for (const note of (store as { openNotes?: string[] }).openNotes ?? []) server.log.info(note);
  // Logged, not audited: see compaction.ts.
  const leadership: Leadership = etcdStore
    ? new EtcdLeadership(etcdStore.client, etcdStore.layout.prefix, `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`, opts.leaderTtlSec ?? 10, server.log).start()
    : soleLeader;
  const compactor = new AutoCompactor({ store, settings: compaction, log: server.log, isLeader: () => leadership.isLeader() });
  compactor.start();
  if (!compactor.enabled) server.log.info('automatic compaction of the change log is off (--compact-keep 0)');
  logTransport(server, opts.host, tls);
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closing: Promise<void> | null = null;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const onSignal = () => void close();
  const close = (): Promise<void> => {
    closing ??= (async () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      try {
        await compactor.stop();
        await leadership.close();
        await server.close();
        control.close();
        await store.close();
      } finally {
        sink.flushSync();
        markClosed();
      }
    })();
    return closing;
  };
  if (opts.handleSignals !== false) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return { app: server, control, url: `${tls ? 'https' : 'http'}://${host}:${port}`, bootstrapToken: token, compactor, leadership, close, closed };
}

/** Says once whether the API is served over HTTPS (which certificate) or plain HTTP; never key material. */
function logTransport(app: FastifyInstance, host: string, tls: ServerTls | null): void {
  if (tls) {
    app.log.info(`serving HTTPS with the certificate for ${tls.subjectAltName || tls.subject}, valid until ${tls.validTo.toISOString()}`);
    if (tls.validTo.getTime() < Date.now()) app.log.warn('the TLS certificate has expired: clients will refuse the connection');
    return;
  }
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  const text = 'serving plain HTTP: API tokens and the pool private keys agents fetch travel in clear text; use --tls-cert and --tls-key';
  if (loopback) app.log.info(text);
  else app.log.warn(text);
}
