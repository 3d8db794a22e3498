import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import pino from 'pino';
import { LogSink } from './log-sink.js';

/** Waits until the sink has written everything (its writes run on libuv's thread pool). */
async function idle(sink: LogSink, limitMs = 120_000): Promise<number> {
  const start = Date.now();
  while (!sink.idle) {
    if (Date.now() - start > limitMs) assert.fail(`the sink still had ${sink.pendingBytes} bytes waiting after ${limitMs} ms`);
    await sleep(5);
  }
  return Date.now() - start;
}

test('log sink on /dev/full (every write ENOSPC): lines are dropped and counted, the event loop keeps running', async () => {
  const fd = openSync('/dev/full', 'w');
  try {
    const sink = new LogSink(fd, 64 * 1024);
    const log = pino({ level: 'info' }, sink);
    let ticks = 0;
    for (let i = 0; i < 2000; i++) {
      log.info({ i, pad: 'x'.repeat(200) }, 'line');
      if (i % 100 === 0) {
        await tick();
        ticks++;
      }
    }
    await sleep(300);
    assert.equal(ticks, 20);
    assert.ok(sink.dropped >= 1000, `dropped ${sink.dropped}`);
    assert.ok(sink.pendingBytes <= 64 * 1024);
    // Every line given must be written or dropped before the fd is closed: a write the sink makes
    // later would go to whatever file reuses the fd number (under load, the next test's file got
    // this sink's lines: 724 lines instead of 501).
    await idle(sink);
  } finally {
    closeSync(fd);
  }
});


// The writes run on libuv's thread pool: at load 40-50 one write can take longer than the 50 ms
// this test used to sleep; flushSync then found it in flight (it writes nothing then: the queued
// lines would land before it) and the file held fewer than 501 lines. It now waits for the sink
// to be idle. (More than 501 lines came from the /dev/full test's sink: see there.)
test('log sink writes every line in order to a working file; flushSync never reorders nor duplicates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-ab-log-'));
  const file = join(dir, 'log');
  const fd = openSync(file, 'w');
  try {
    const sink = new LogSink(fd);
    for (let i = 0; i < 500; i++) sink.write(`line ${i}\n`);
    sink.flushSync(); // the first write is in flight: nothing written out of order
    const first = await idle(sink);
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 500);
    sink.write('last\n');
    sink.flushSync();
    const second = await idle(sink);
    console.log(`# 500 lines written in ${first} ms, the last in ${second} ms`);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 501);
    assert.deepEqual(lines, [...Array.from({ length: 500 }, (_, i) => `line ${i}`), 'last'], 'every line once, in order');
    assert.equal(sink.dropped, 0);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
