import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { httpGet, startServerProcess, type ServerProcess } from './fixtures/server-process.js';

/**
 * Finding 2 of issue 11: with stdout on a full filesystem the server kept no event loop
 * (pino blocked). Here the server's stdout is a file on a small tmpfs of our own that we fill
 * up; the server must keep answering, count the dropped lines and stop on SIGTERM.
 */
test('server with its log on a full filesystem keeps answering, counts dropped lines, stops on SIGTERM', { timeout: 120_000 }, async () => {
  const tag = `wgf-ab-logfs-${Math.random().toString(36).slice(2, 8)}`;
  const base = mkdtempSync(join(tmpdir(), `${tag}-`));
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  let server: ServerProcess | undefined;
  let mounted = false;
  let fd = -1;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', tag, mnt]);
    mounted = true;
    fd = openSync(join(mnt, 'server.log'), 'w');
    // Requests log at debug (an idle server is quiet at info): debug makes each request write a line.
    server = await startServerProcess(join(base, 'data'), ['--log-level', 'debug'], fd);
    // Fill the filesystem: every further write to the log gets ENOSPC.
    try {
      writeFileSync(join(mnt, 'fill'), Buffer.alloc(1024 * 1024));
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    const times: number[] = [];
    for (let i = 0; i < 150; i++) {
      const h = await httpGet(`${server.url}/healthz`, 10_000);
      assert.equal(h.status, 200);
      const p = await httpGet(`${server.url}/v1/pools`, 10_000, { token: server.token });
      assert.equal(p.status, 200);
      times.push(h.ms, p.ms);
    }
    // One debug line per request (300): the sink counts each as dropped once its write fails; the
    // last ones may still be on their way to the sink when the requests end, so read until all are.
    const readDropped = async () => Number(/^wgfabric_log_lines_dropped_total (\d+)/m.exec((await httpGet(`${server!.url}/metrics`, 10_000, { token: server!.token })).body)?.[1]);
    let dropped = await readDropped();
    for (let i = 0; i < 100 && !(dropped >= 300); i++) {
      await new Promise((r) => setTimeout(r, 100));
      dropped = await readDropped();
    }
    times.sort((a, b) => a - b);
    console.log(`# 300 requests with the log disk full: p50 ${times[150]!.toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms; log lines dropped ${dropped}`);
    assert.ok(dropped >= 300, `dropped ${dropped}`);
    const stop = await server.stop(15_000);
    console.log(`# SIGTERM -> exit in ${stop.ms} ms (code ${stop.code}, signal ${stop.signal})`);
    assert.equal(stop.signal, null, 'it ended by itself on SIGTERM, not by SIGKILL');
  } finally {
    await server?.stop(1000);
    if (fd >= 0) closeSync(fd);
    if (mounted) execFileSync('umount', [mnt]);
    rmSync(base, { recursive: true, force: true });
  }
});
