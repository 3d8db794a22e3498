import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { KeyValue, PageEncoderSpec, RangeResult } from './store.js';

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
// With an encoder (Store.rangeEncoded) each page is turned into bytes here, in the worker,
// and the bytes are transferred (not copied) to the main thread.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { fileURLToPath } = require('node:url');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: workerData.busyTimeoutMs });
db.pragma('query_only = ON');
const cols = 'key, value, create_rev AS createRevision, mod_rev AS modRevision';
const revision = db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck();
const from = db.prepare('SELECT ' + cols + ' FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?');
const after = db.prepare('SELECT ' + cols + ' FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?');
const modules = new Map();
const utf8 = new TextEncoder();
let cur = null;
const end = () => { if (db.inTransaction) db.exec('COMMIT'); cur = null; };
async function load(url, tsx) {
  if (!modules.has(url)) {
    let mod;
    if (url.endsWith('.ts')) {
      // Running from TypeScript sources (tests, benches): tsx's require hook works in a worker.
      require(tsx).register();
      mod = require(fileURLToPath(url));
    } else mod = await import(url);
    modules.set(url, mod);
  }
  return modules.get(url);
}
function page() {
  const c = cur;
  const kvs = c.after === undefined ? from.all(c.prefix, c.end, c.pageSize + 1) : after.all(c.after, c.end, c.pageSize + 1);
  const more = kvs.length > c.pageSize;
  if (more) kvs.pop();
  if (kvs.length > 0) c.after = kvs[kvs.length - 1].key;
  if (c.enc) {
    const bytes = utf8.encode(c.enc.page({ kvs, revision: c.revision, more }) + (more ? '' : c.enc.end()));
    if (!more) end();
    parentPort.postMessage({ type: 'bytes', bytes, revision: c.revision, more }, [bytes.buffer]);
  } else {
    if (!more) end();
    parentPort.postMessage({ type: 'page', kvs, revision: c.revision, more });
  }
}
function fail(e) {
  try { end(); } catch {}
  parentPort.postMessage({ type: 'error', message: String(e && e.message), code: e && e.code, details: e && e.details });
}
parentPort.on('message', async (m) => {
  try {
    if (m.type === 'start') {
      end();
      const enc = m.encoder ? (await load(m.encoder.module, m.tsx)).createPageEncoder(m.encoder.args) : null;
      db.exec('BEGIN');
      cur = { prefix: m.prefix, end: m.end, pageSize: m.pageSize, after: undefined, revision: revision.get(), enc };
      page();
    } else if (m.type === 'next' && cur) page();
    else if (m.type === 'end') end();
  } catch (e) {
    fail(e);
  }
});
`;

type Reply = { type: 'page'; kvs: KeyValue[]; revision: number; more: boolean } | { type: 'bytes'; bytes: Uint8Array; revision: number; more: boolean }
  | { type: 'error'; message: string; code?: string; details?: Record<string, unknown> };

/** An error of a reader's SQLite read; `code` is the SQLite code when there is one. */
export class ReaderError extends Error {
  /** `code` a WGF_ERR_* code and `details` its details when an encoder threw a FabricError. */
  constructor(message: string, readonly code: string | undefined, readonly details?: Record<string, unknown>) {
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
    for await (const r of this.read({ type: 'start', prefix, end, pageSize })) {
      if (r.type === 'page') yield { kvs: r.kvs, revision: r.revision, more: r.more };
    }
  }

  /** The same pages turned into bytes by `encoder` in the reader thread (Store.rangeEncoded). */
  async *encoded(prefix: string, end: string, pageSize: number, encoder: PageEncoderSpec): AsyncGenerator<Uint8Array> {
    const tsx = encoder.module.endsWith('.ts') ? createRequire(import.meta.url).resolve('tsx/cjs/api') : undefined;
    for await (const r of this.read({ type: 'start', prefix, end, pageSize, encoder, tsx })) {
      if (r.type === 'bytes' && r.bytes.byteLength > 0) yield r.bytes;
    }
  }

  private async *read(start: object): AsyncGenerator<Reply> {
    const w = await this.acquire();
    let finished = false;
    try {
      let reply = await this.ask(w, start);
      for (;;) {
        if (reply.type === 'error') {
          finished = true;
          throw new ReaderError(reply.message, reply.code, reply.details);
        }
        finished = !reply.more;
        yield reply;
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
