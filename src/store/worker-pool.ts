import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';

/**
 * What the store's worker threads (SQLite readers, etcd page encoders) share: a bounded pool
 * of workers that asks one question at a time, and the worker-side loader of a page-encoder
 * module (Store.rangeEncoded).
 */

/**
 * Worker-side source that lowers the calling thread's CPU priority (nice 10; Linux nice values
 * are per thread): snapshot reads and encodings are bulk work that must not take the core from
 * the event loop that answers writes. Elsewhere (or when refused) the thread keeps its priority.
 */
export const BACKGROUND_PRIORITY_SOURCE = `
try {
  const tid = Number(require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);
  const os = require('node:os');
  if (tid > 0 && os.getPriority(tid) < 10) os.setPriority(tid, 10);
} catch {}
`;

/**
 * Worker-side source of `load(url, tsx)`: imports a module by URL once per worker; a `.ts`
 * URL (tests and benches run from sources) goes through tsx's require hook, which works in a
 * worker where tsx's import hooks do not (Node 20).
 */
export const WORKER_LOAD_SOURCE = `
const { fileURLToPath } = require('node:url');
const modules = new Map();
async function load(url, tsx) {
  if (!modules.has(url)) {
    let mod;
    if (url.endsWith('.ts')) {
      require(tsx).register();
      mod = require(fileURLToPath(url));
    } else mod = await import(url);
    modules.set(url, mod);
  }
  return modules.get(url);
}
`;

/** The path of tsx's CommonJS API when `module` is TypeScript source (for WORKER_LOAD_SOURCE). */
export function tsxFor(module: string): string | undefined {
  return module.endsWith('.ts') ? createRequire(import.meta.url).resolve('tsx/cjs/api') : undefined;
}

/**
 * Sends `msg` to `w` and resolves with its next message; a worker error or exit before that
 * rejects with `fail(error)`.
 */
export function ask<R>(w: Worker, msg: object, fail: (e: Error) => Error): Promise<R> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: R) => {
      done();
      resolve(m);
    };
    const onError = (e: Error) => {
      done();
      reject(fail(e));
    };
    const onExit = () => onError(new Error('the thread ended'));
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

/**
 * At most `max` workers made by `make`; up to `maxIdle` kept for reuse; callers beyond `max`
 * wait in order. A worker that errs or exits leaves the pool; a discarded one is terminated
 * and a waiting caller gets a fresh one in its place.
 */
export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly waiting: ((w: Worker) => void)[] = [];
  private closed: Error | undefined;

  constructor(private readonly make: () => Worker, private readonly max: number, private readonly maxIdle: number) {}

  /** Whether `w` is still a live member (it has not erred, exited or been discarded). */
  has(w: Worker): boolean {
    return this.all.has(w);
  }

  acquire(): Promise<Worker> {
    if (this.closed) return Promise.reject(this.closed);
    const w = this.idle.pop();
    if (w) return Promise.resolve(w);
    if (this.all.size < this.max) {
      const fresh = this.make();
      fresh.unref();
      fresh.on('error', () => this.all.delete(fresh));
      fresh.on('exit', () => this.all.delete(fresh));
      this.all.add(fresh);
      return Promise.resolve(fresh);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives `w` back: to the next waiting caller, to the idle list, or ends it. */
  release(w: Worker): void {
    if (!this.all.has(w)) return this.replace();
    const next = this.waiting.shift();
    if (next) next(w);
    else if (this.idle.length < this.maxIdle) this.idle.push(w);
    else this.discard(w);
  }

  /** Ends `w` (it holds state that must not be reused). */
  discard(w: Worker): void {
    this.all.delete(w);
    void w.terminate();
    this.replace();
  }

  /**
   * Ends every worker; work in progress fails. With `error`, later acquires are refused with
   * it; without, the pool makes new workers when asked again.
   */
  async close(error?: Error): Promise<void> {
    this.closed = error;
    const all = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(all.map((w) => w.terminate()));
  }

  /** A waiting caller gets a fresh worker in place of one that left. */
  private replace(): void {
    const next = this.waiting.shift();
    if (next) void this.acquire().then(next, () => undefined);
  }
}
