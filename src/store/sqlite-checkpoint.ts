import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints of a SqliteStore off the event loop. By default SQLite checkpoints inside
 * the COMMIT that pushes the WAL past 1,000 pages: that commit copies the pages into the
 * database file and fsyncs both files (synchronous=NORMAL) on the writer's thread, which is
 * the event loop (measured: most of the SQLite time of a peer creation at 100,000 peers).
 * Here a worker thread with its own connection runs PASSIVE checkpoints (they never wait for
 * and never block the writer or readers) once enough has been written; the writer keeps an
 * inline checkpoint only as a backstop at a much larger WAL (FALLBACK_PAGES), for when this
 * thread lags or is gone. Durability does not change: the checkpoint connection has the
 * store's synchronous setting, so it fsyncs exactly as the writer's own checkpoint did, and a
 * checkpoint only copies committed pages (a crash in the middle is recovered from the WAL).
 */

/** The writer's own (inline) checkpoint threshold, in pages (SQLite's default is 1,000). */
export const FALLBACK_PAGES = 10_000;
/** Ops committed since the last checkpoint that start one (each op dirties a page or two). */
const KICK_OPS = 1_000;
/** A smaller backlog is checkpointed this long after the last commit. */
const IDLE_MS = 1_000;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: 0 });
// The checkpoint's fsyncs follow the connection's synchronous setting: the store's own.
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('wal_autocheckpoint = 0');
parentPort.on('message', () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ type: 'done', busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ type: 'error', message: String(e && e.message), code: e && e.code });
  }
});
`;

/** What the checkpointer has done (SqliteStore.diagnostics). */
export interface CheckpointStats {
  /** Checkpoints run by the thread. */
  readonly runs: number;
  /** Frames in the WAL and frames checkpointed at the last run. */
  readonly lastLog: number;
  readonly lastCheckpointed: number;
  /** The last checkpoint's error (kept until the store closes; the next trigger tries again). */
  readonly lastError: string | null;
  /** Why the thread stopped, once it has: the writer's inline checkpoint is then the only one. */
  readonly failure: string | null;
}

/** The checkpoint thread of one database file (started at the first checkpoint). */
export class SqliteCheckpointer {
  private worker: Worker | null = null;
  private running = false;
  private pendingOps = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private stats = { runs: 0, lastLog: 0, lastCheckpointed: 0, lastError: null as string | null, failure: null as string | null };
  /** Resolves the waiter of the run in flight (close, tests). */
  private idle: (() => void)[] = [];

  /** `onFailure` runs once when the thread is given up (the writer then checkpoints as before). */
  constructor(private readonly file: string, private readonly synchronous: 'NORMAL' | 'FULL', private readonly onFailure: (reason: string) => void) {}

  /** Called after each commit with the number of ops it wrote. */
  committed(ops: number): void {
    if (this.closed || this.stats.failure) return;
    this.pendingOps += Math.max(1, ops);
    this.schedule();
  }

  private schedule(): void {
    if (this.pendingOps >= KICK_OPS) this.kick();
    else if (this.pendingOps > 0 && !this.timer && !this.closed) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick();
      }, IDLE_MS);
      this.timer.unref();
    }
  }

  /** Runs a checkpoint now (unless one is running); resolves when no run is in flight. */
  async flush(): Promise<void> {
    this.pendingOps = Math.max(this.pendingOps, 1);
    this.kick();
    if (this.running) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** See CheckpointStats. */
  diagnostics(): CheckpointStats {
    return { ...this.stats };
  }

  /** Ends the thread (a run in flight is cut short; SQLite recovers a checkpoint cut anywhere). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const w = this.worker;
    this.worker = null;
    this.settle();
    if (w) await w.terminate();
  }

  private kick(): void {
    if (this.running || this.closed || this.stats.failure || this.pendingOps === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pendingOps = 0;
    this.running = true;
    let w: Worker;
    try {
      w = this.worker ??= this.start();
    } catch (e) {
      this.fail(`cannot start the checkpoint thread: ${(e as Error).message}`);
      return;
    }
    w.postMessage('checkpoint');
  }

  private start(): Worker {
    const workerData = { driver: createRequire(import.meta.url).resolve('better-sqlite3'), file: this.file, synchronous: this.synchronous };
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData });
    w.unref();
    w.on('message', (m: { type: 'done'; busy: number; log: number; checkpointed: number } | { type: 'error'; message: string; code?: string }) => {
      if (m.type === 'error') {
        // SQLITE_BUSY (the writer's backstop checkpoint is running), a full disk, an I/O
        // error: nothing is lost (the pages stay in the WAL); tried again at the next trigger.
        this.stats.lastError = `${m.code ?? 'error'}: ${m.message}`;
        this.pendingOps = Math.max(this.pendingOps, 1);
      } else {
        this.stats.runs++;
        this.stats.lastLog = m.log;
        this.stats.lastCheckpointed = m.checkpointed;
      }
      this.settle();
      // Commits that came in while it ran: their checkpoint waits for the next trigger.
      this.schedule();
    });
    w.on('error', (e) => this.fail(`the checkpoint thread failed: ${e.message}`));
    w.on('exit', (code) => {
      if (!this.closed) this.fail(`the checkpoint thread ended (exit code ${code})`);
    });
    return w;
  }

  /** The thread is given up for good: the writer checkpoints inline again (onFailure). */
  private fail(reason: string): void {
    if (this.stats.failure === null && !this.closed) {
      this.stats.failure = reason;
      this.onFailure(reason);
    }
    const w = this.worker;
    this.worker = null;
    if (w) void w.terminate();
    this.settle();
  }

  private settle(): void {
    this.running = false;
    for (const f of this.idle.splice(0)) f();
  }
}
