import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { ask, BACKGROUND_PRIORITY_SOURCE, WorkerPool } from './worker-pool.js';

// A worker that answers each message with its thread id, or exits when asked to.
const ECHO = `
const { parentPort, threadId } = require('node:worker_threads');
parentPort.on('message', (m) => { if (m.exit) process.exit(3); parentPort.postMessage(threadId); });
`;
const make = () => new Worker(ECHO, { eval: true });
const fail = (e: Error) => new Error(`failed: ${e.message}`);

test('worker pool: at most max workers; callers beyond wait in order and get released workers', async () => {
  const pool = new WorkerPool(make, 2, 1);
  try {
    const a = await pool.acquire();
    const b = await pool.acquire();
    assert.notEqual(a, b);
    const order: string[] = [];
    const c = pool.acquire().then((w) => (order.push('c'), w));
    const d = pool.acquire().then((w) => (order.push('d'), w));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, [], 'nobody got a third worker');
    pool.release(a);
    assert.equal(await c, a, 'the first waiting caller gets the released worker');
    pool.release(b);
    assert.equal(await d, b);
    assert.deepEqual(order, ['c', 'd']);
    assert.equal(typeof (await ask<number>(a, {}, fail)), 'number');
    pool.release(a);
    pool.release(b);
    assert.equal(await pool.acquire(), a, 'one idle worker is kept for reuse');
    assert.equal(pool.has(b), false, 'the one beyond maxIdle was ended');
  } finally {
    await pool.close();
  }
});

test('worker pool: a worker that exits leaves the pool, ask rejects, and a waiting caller gets a fresh one', async () => {
  const pool = new WorkerPool(make, 1, 1);
  // The pool's workers do not keep the process alive: this does, while a worker exits.
  const alive = setInterval(() => undefined, 1000);
  try {
    const a = await pool.acquire();
    const waiting = pool.acquire();
    await assert.rejects(ask(a, { exit: true }, fail), /failed: the thread ended/);
    assert.equal(pool.has(a), false);
    pool.release(a);
    const fresh = await waiting;
    assert.notEqual(fresh, a);
    assert.equal(typeof (await ask<number>(fresh, {}, fail)), 'number');
    pool.discard(fresh);
    assert.equal(pool.has(fresh), false);
  } finally {
    clearInterval(alive);
    await pool.close();
  }
});

test('worker pool: closed with an error, later acquires are refused with it', async () => {
  const pool = new WorkerPool(make, 1, 1);
  await pool.acquire();
  await pool.close(new Error('the store is closed'));
  await assert.rejects(pool.acquire(), /the store is closed/);
});

test('BACKGROUND_PRIORITY_SOURCE lowers the worker thread to nice 10 and leaves the main thread as it was', { skip: process.platform !== 'linux' }, async () => {
  const { getPriority } = await import('node:os');
  const before = getPriority();
  const w = new Worker(`
const { parentPort } = require('node:worker_threads');
${BACKGROUND_PRIORITY_SOURCE}
const tid = Number(require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]);
parentPort.postMessage({ tid, nice: require('node:os').getPriority(tid) });
`, { eval: true });
  const got = await new Promise<{ tid: number; nice: number }>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  await w.terminate();
  assert.notEqual(got.tid, process.pid, 'the worker has its own thread id');
  assert.equal(got.nice, Math.max(before, 10), 'the worker thread runs at nice 10 (or lower priority if the process already had it)');
  assert.equal(getPriority(), before, 'the main thread keeps its priority');
});
