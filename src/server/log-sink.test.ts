import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import pino from 'pino';
import { LogSink } from './log-sink.js';

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
  } finally {
    closeSync(fd);
  }
});

test('log sink writes every line in order to a working file and flushes at close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-ab-log-'));
  const file = join(dir, 'log');
  const fd = openSync(file, 'w');
  try {
    const sink = new LogSink(fd);
    for (let i = 0; i < 500; i++) sink.write(`line ${i}\n`);
    await sleep(50);
    sink.write('last\n');
    await sleep(50);
    sink.flushSync();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, 501);
    assert.equal(lines[0], 'line 0');
    assert.equal(lines.at(-1), 'last');
    assert.equal(sink.dropped, 0);
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
