import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { KeyValue, RangeResult } from './store.js';

/**
 * Consistent paged reads of a SqliteStore off the event loop: each reader is a worker thread
 * with its own SQLite connection that reads every page of one range inside ONE read
 * transaction (WAL mode: the read sees the database as of its first statement and never
 * holds up the writer). The next page is read only when the consumer asks for it, so a slow
 * HTTP client holds a read transaction (and the WAL cannot be checkpointed past it), not
 * memory. Idle workers are kept for reuse; at most MAX_READERS read at once, others wait.
 */

const MAX_READERS = 8;
const MAX_IDLE = 2;

// Plain CommonJS so the worker needs no TypeScript loader; better-sqlite3 is resolved here.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: workerData.busyTimeoutMs });
db.pragma('query_only = ON');
const cols = 'key, value, create_rev AS createRevision, mod_rev AS modRevision';
const revision = db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck();
const from = db.prepare('SELECT ' + cols + ' FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?');
const after = db.prepare('SELECT ' + cols + ' FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?');
let cur = null;
const end = () => { if (db.inTransaction) db.exec('COMMIT'); cur = null; };
function page() {
  const kvs = cur.after === undefined ? from.all(cur.prefix, cur.end, cur.pageSize + 1) : after.all(cur.after, cur.end, cur.pageSize + 1);
  const more = kvs.length > cur.pageSize;
  if (more) kvs.pop();
  if (kvs.length > 0) cur.after = kvs[kvs.length - 1].key;
  parentPort.postMessage({ type: 'page', kvs, revision: cur.revision, more });
  if (!more) end();
}
parentPort.on('message', (m) => {
  try {
    if (m.type === 'start') {
      end();
      db.exec('BEGIN');
      cur = { prefix: m.prefix, end: m.end, pageSize: m.pageSize, after: undefined, revision: revision.get() };
      page();
    } else if (m.type === 'next' && cur) page();
    else if (m.type === 'end') end();
  } catch (e) {
    try { end(); } catch {}
    parentPort.postMessage({ type: 'error', message: String(e && e.message), code: e && e.code });
  }
});
`;

type Reply = { type: 'page'; kvs: KeyValue[]; revision: number; more: boolean } | { type: 'error'; message: string; code?: string };

/** An error of a reader's SQLite read; `code` is the SQLite code when there is one. */
export class ReaderError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

/** The reader workers of one database file. */
export class SqliteReaders {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly waiting: ((w: Worker) => void)[] = [];
  private closed = false;
  private readonly driver = createRequire(import.meta.url).resolve('better-sqlite3');

  constructor(private readonly file: string, private readonly busyTimeoutMs: number) {}

  /** Pages of every key in [prefix, end), all from one read transaction. */
  async *pages(prefix: string, end: string, pageSize: number): AsyncGenerator<RangeResult> {
    const w = await this.acquire();
    let finished = false;
    try {
      let reply = await this.ask(w, { type: 'start', prefix, end, pageSize });
      for (;;) {
        if (reply.type === 'error') {
          finished = true;
          throw new ReaderError(reply.message, reply.code);
        }
        finished = !reply.more;
        yield { kvs: reply.kvs, revision: reply.revision, more: reply.more };
        if (finished) return;
        reply = await this.ask(w, { type: 'next' });
      }
    } finally {
      // The consumer stopped early: end the read transaction before the worker is reused.
      if (!finished && this.all.has(w)) w.postMessage({ type: 'end' });
      this.release(w);
    }
  }

  /** Ends every worker; reads in progress fail. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private acquire(): Promise<Worker> {
    if (this.closed) return Promise.reject(new ReaderError('the store is closed', undefined));
    const w = this.idle.pop();
    if (w) return Promise.resolve(w);
    if (this.all.size < MAX_READERS) {
      const fresh = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver: this.driver, file: this.file, busyTimeoutMs: this.busyTimeoutMs } });
      fresh.unref();
      fresh.on('error', () => this.all.delete(fresh));
      fresh.on('exit', () => this.all.delete(fresh));
      this.all.add(fresh);
      return Promise.resolve(fresh);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(w: Worker): void {
    if (!this.all.has(w)) return;
    const next = this.waiting.shift();
    if (next) next(w);
    else if (this.idle.length < MAX_IDLE) this.idle.push(w);
    else {
      this.all.delete(w);
      void w.terminate();
    }
  }

  private ask(w: Worker, msg: object): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: Reply) => {
        done();
        resolve(m);
      };
      const onError = (e: Error) => {
        done();
        reject(new ReaderError(`store reader failed: ${e.message}`, undefined));
      };
      const onExit = () => onError(new Error('the reader thread ended'));
      const done = () => {
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
      };
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage(msg);
    });
  }
}
