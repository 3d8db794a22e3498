import { Worker } from 'node:worker_threads';
import type { PageEncoderSpec, RangeResult } from './store.js';
import { ask as askWorker, tsxFor, BACKGROUND_PRIORITY_SOURCE, WORKER_LOAD_SOURCE, WorkerPool } from './worker-pool.js';

/**
 * Page encoding (Store.rangeEncoded) in worker threads, for drivers whose reads arrive on the
 * event loop (etcd: its gRPC client lives there): each page's key-values are handed to a
 * worker, which decodes and encodes them with the encoder module, and the bytes come back
 * transferred. The event loop keeps the read and a structured copy of each page, not the
 * per-record JSON work. One worker per stream at a time; at most MAX_THREADS, others wait.
 */

const MAX_THREADS = 4;
const MAX_IDLE = 1;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
${BACKGROUND_PRIORITY_SOURCE}
${WORKER_LOAD_SOURCE}
const utf8 = new TextEncoder();
let enc = null;
parentPort.on('message', async (m) => {
  try {
    if (m.type === 'start') {
      enc = (await load(m.encoder.module, m.tsx)).createPageEncoder(m.encoder.args);
      parentPort.postMessage({ type: 'ready' });
    } else if (m.type === 'page') {
      const bytes = utf8.encode(enc.page(m.page) + (m.page.more ? '' : enc.end()));
      if (!m.page.more) enc = null;
      parentPort.postMessage({ type: 'bytes', bytes }, [bytes.buffer]);
    }
  } catch (e) {
    enc = null;
    parentPort.postMessage({ type: 'error', message: String(e && e.message), code: e && e.code, details: e && e.details });
  }
});
`;

type Reply = { type: 'ready' } | { type: 'bytes'; bytes: Uint8Array } | { type: 'error'; message: string; code?: string; details?: Record<string, unknown> };

/** An error an encoder threw in a worker; `code` and `details` are a FabricError's. */
export class EncodeError extends Error {
  constructor(message: string, readonly code: string | undefined, readonly details?: Record<string, unknown>) {
    super(message);
  }
}

/** A small pool of encoder threads (one per process is enough: see sharedEncodeThreads). */
export class EncodeThreads {
  private readonly pool = new WorkerPool(() => new Worker(WORKER_SOURCE, { eval: true }), MAX_THREADS, MAX_IDLE);

  /** `pages` encoded by `encoder` in a worker thread, in order. */
  async *encode(pages: AsyncIterable<RangeResult>, encoder: PageEncoderSpec): AsyncGenerator<Uint8Array> {
    const w = await this.pool.acquire();
    let clean = false;
    try {
      check(await ask(w, { type: 'start', encoder, tsx: tsxFor(encoder.module) }));
      for await (const page of pages) {
        const r = check(await ask(w, { type: 'page', page: { kvs: page.kvs, revision: page.revision, more: page.more } }));
        if (r.type === 'bytes' && r.bytes.byteLength > 0) yield r.bytes;
        if (!page.more) clean = true;
      }
    } finally {
      // A stream given up half way leaves an encoder with state behind: drop that worker.
      if (clean) this.pool.release(w);
      else this.pool.discard(w);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

let shared: EncodeThreads | undefined;
/** The process's encoder threads (created on first use; idle threads do not keep it alive). */
export function sharedEncodeThreads(): EncodeThreads {
  shared ??= new EncodeThreads();
  return shared;
}

function check(r: Reply): Reply {
  if (r.type === 'error') throw new EncodeError(r.message, r.code, r.details);
  return r;
}

function ask(w: Worker, msg: object): Promise<Reply> {
  return askWorker<Reply>(w, msg, (e) => new EncodeError(`encoder thread failed: ${e.message}`, undefined));
}
