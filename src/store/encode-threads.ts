import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { PageEncoderSpec, RangeResult } from './store.js';

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
const { fileURLToPath } = require('node:url');
const modules = new Map();
const utf8 = new TextEncoder();
let enc = null;
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
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly waiting: ((w: Worker) => void)[] = [];

  /** `pages` encoded by `encoder` in a worker thread, in order. */
  async *encode(pages: AsyncIterable<RangeResult>, encoder: PageEncoderSpec): AsyncGenerator<Uint8Array> {
    const w = await this.acquire();
    let clean = false;
    try {
      const tsx = encoder.module.endsWith('.ts') ? createRequire(import.meta.url).resolve('tsx/cjs/api') : undefined;
      check(await ask(w, { type: 'start', encoder, tsx }));
      for await (const page of pages) {
        const r = check(await ask(w, { type: 'page', page: { kvs: page.kvs, revision: page.revision, more: page.more } }));
        if (r.type === 'bytes' && r.bytes.byteLength > 0) yield r.bytes;
        if (!page.more) clean = true;
      }
    } finally {
      // A stream given up half way leaves an encoder with state behind: drop that worker.
      if (clean) this.release(w);
      else this.discard(w);
    }
  }

  async close(): Promise<void> {
    const all = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }

  private acquire(): Promise<Worker> {
    const w = this.idle.pop();
    if (w) return Promise.resolve(w);
    if (this.all.size < MAX_THREADS) {
      const fresh = new Worker(WORKER_SOURCE, { eval: true });
      fresh.unref();
      fresh.on('error', () => this.all.delete(fresh));
      fresh.on('exit', () => this.all.delete(fresh));
      this.all.add(fresh);
      return Promise.resolve(fresh);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(w: Worker): void {
    const next = this.waiting.shift();
    if (next) next(w);
    else if (this.idle.length < MAX_IDLE) this.idle.push(w);
    else this.discard(w);
  }

  private discard(w: Worker): void {
    this.all.delete(w);
    void w.terminate();
    // A waiting stream gets a fresh worker in place of this one.
    const next = this.waiting.shift();
    if (next) void this.acquire().then(next);
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
  return new Promise((resolve, reject) => {
    const onMessage = (m: Reply) => {
      done();
      resolve(m);
    };
    const onError = (e: Error) => {
      done();
      reject(new EncodeError(`encoder thread failed: ${e.message}`, undefined));
    };
    const onExit = () => onError(new Error('the encoder thread ended'));
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
