import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { KeyValue, PageEncoderSpec, RangeResult } from './store.js';
import { ask, tsxFor, BACKGROUND_PRIORITY_SOURCE, WORKER_LOAD_SOURCE, WorkerPool } from './worker-pool.js';

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
${BACKGROUND_PRIORITY_SOURCE}
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: workerData.busyTimeoutMs });
db.pragma('query_only = ON');
const cols = 'key, value, create_rev AS createRevision, mod_rev AS modRevision';
const revision = db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck();
const from = db.prepare('SELECT ' + cols + ' FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?');
const after = db.prepare('SELECT ' + cols + ' FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?');
const utf8 = new TextEncoder();
let cur = null;
const end = () => { if (db.inTransaction) db.exec('COMMIT'); cur = null; };
${WORKER_LOAD_SOURCE}
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
  private readonly pool: WorkerPool;

  constructor(file: string, busyTimeoutMs: number) {
    const workerData = { driver: createRequire(import.meta.url).resolve('better-sqlite3'), file, busyTimeoutMs };
    this.pool = new WorkerPool(() => new Worker(WORKER_SOURCE, { eval: true, workerData }), MAX_READERS, MAX_IDLE);
  }

  /** Pages of every key in [prefix, end), all from one read transaction. */
  async *pages(prefix: string, end: string, pageSize: number): AsyncGenerator<RangeResult> {
    for await (const r of this.read({ type: 'start', prefix, end, pageSize })) {
      if (r.type === 'page') yield { kvs: r.kvs, revision: r.revision, more: r.more };
    }
  }

  /** The same pages turned into bytes by `encoder` in the reader thread (Store.rangeEncoded). */
  async *encoded(prefix: string, end: string, pageSize: number, encoder: PageEncoderSpec): AsyncGenerator<Uint8Array> {
    for await (const r of this.read({ type: 'start', prefix, end, pageSize, encoder, tsx: tsxFor(encoder.module) })) {
      if (r.type === 'bytes' && r.bytes.byteLength > 0) yield r.bytes;
    }
  }

  private async *read(start: object): AsyncGenerator<Reply> {
    const w = await this.pool.acquire();
    const askReader = (msg: object) => ask<Reply>(w, msg, (e) => new ReaderError(`store reader failed: ${e.message}`, undefined));
    let finished = false;
    try {
      let reply = await askReader(start);
      for (;;) {
        if (reply.type === 'error') {
          finished = true;
          throw new ReaderError(reply.message, reply.code, reply.details);
        }
        finished = !reply.more;
        yield reply;
        if (finished) return;
        reply = await askReader({ type: 'next' });
      }
    } finally {
      // The consumer stopped early: end the read transaction before the worker is reused.
      if (!finished && this.pool.has(w)) w.postMessage({ type: 'end' });
      this.pool.release(w);
    }
  }

  /** Ends every worker; reads in progress fail, later ones are refused. */
  async close(): Promise<void> {
    await this.pool.close(new ReaderError('the store is closed', undefined));
  }
}
