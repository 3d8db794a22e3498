import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { httpGet, startServerProcess, type ServerProcess } from './fixtures/server-process.js';

/** Sends raw bytes on a fresh connection and collects what comes back until the server closes or `waitMs` passes. */
function raw(port: number, chunks: (string | Buffer)[], o: { waitMs?: number; gapMs?: number; readSlowly?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    const s: Socket = connect(port, '127.0.0.1', async () => {
      for (const c of chunks) {
        if (s.destroyed) break;
        s.write(c);
        if (o.gapMs) await sleep(o.gapMs);
      }
    });
    s.on('data', (d) => {
      out += d.toString('latin1');
      if (o.readSlowly) {
        s.pause();
        setTimeout(() => s.resume(), 200);
      }
    });
    const done = () => resolve(out);
    s.on('close', done);
    s.on('error', () => {});
    setTimeout(() => s.destroy(), o.waitMs ?? 3000);
  });
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));

/**
 * Issue 11 acceptance: a hostile-input run broader than the in-process fuzzer, against a real
 * server process over TCP: pipelining, huge headers, slowloris, slow and vanishing watch
 * clients, smuggling-shaped framing, garbage bytes, long-poll floods. 0 x 5xx, RSS bounded,
 * and the server still answers at the end. Bounded in time (~30 s).
 */
test('hostile clients: 0 x 5xx, memory bounded, still serving', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-ab-hostile-'));
  let server: ServerProcess | undefined;
  try {
    server = await startServerProcess(dir, ['--max-watches', '64', '--max-watches-per-token', '16']);
    const { port, token, url } = server;
    const auth = `Authorization: Bearer ${token}\r\n`;
    assert.equal((await httpGet(`${url}/v1/pools`, 10_000, { method: 'POST', token, body: { name: 'h1', ipv4Prefix: '10.77.0.0/16' } })).status, 201);
    for (let i = 0; i < 50; i++) await httpGet(`${url}/v1/pools/h1/peers`, 10_000, { method: 'POST', token, body: { name: `p${i}`, publicKey: Buffer.alloc(32, i + 1).toString('base64'), labels: { team: 'x'.repeat(63) } } });
    const rev = JSON.parse((await httpGet(`${url}/v1/pools/h1/changes?since=0`, 10_000, { token })).body).revision as number;
    const baseline = server.rss();
    let maxRss = baseline;
    const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, server!.rss())), 100);
    const all: number[] = [];
    const started = Date.now();
    const body = (json: string) => `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;

    const scenarios: Record<string, () => Promise<string[]>> = {
      pipelining: async () => {
        const reqs: string[] = [];
        for (let i = 0; i < 60; i++) {
          reqs.push(['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', `GET /v1/pools HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 'GET /v1/pools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n',
            `GET /v1/pools/h1/changes?since=99999999999 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, `GET /v1/pools/h1/snapshot HTTP/1.1\r\nHost: x\r\n${auth}\r\n`][i % 5]!);
        }
        // Bodies that fail to parse end their connection: send them last.
        reqs.push(`POST /v1/pools HTTP/1.1\r\nHost: x\r\n${auth}${body('{"name":"z","name":"y"}')}`);
        return [await raw(port, [reqs.join('')], { waitMs: 5000 }), await raw(port, [`POST /v1/pools HTTP/1.1\r\nHost: x\r\n${auth}${body('{"name":')}`])];
      },
      hugeHeaders: () => Promise.all([20_000, 100_000, 1_000_000].map((n) => raw(port, [`GET /v1/pools HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(n)}\r\n${auth}\r\n`]))),
      manyHeaders: () => Promise.all([raw(port, [`GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`])]),
      slowloris: () => Promise.all(Array.from({ length: 100 }, () => raw(port, [...'GET /v1/pools HTTP/1.1\r\nHost: x\r\n'].map(String), { gapMs: 150, waitMs: 6000 }))),
      slowWatchReaders: () => Promise.all(Array.from({ length: 20 }, () =>
        raw(port, [`GET /v1/pools/h1/watch?since=0 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`], { readSlowly: true, waitMs: 4000 }))),
      vanishingWatches: () => Promise.all(Array.from({ length: 200 }, (_, i) =>
        raw(port, [`GET /v1/pools/h1/watch?since=${i % 3 === 0 ? 'x' : 0} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`], { waitMs: 20 + (i % 50) }))),
      longPollFlood: () => Promise.all(Array.from({ length: 80 }, () =>
        raw(port, [`GET /v1/pools/h1/changes?since=1000000&wait=3 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, `GET /v1/pools/h1/changes?since=${rev}&wait=60 HTTP/1.1\r\nHost: x\r\n${auth}\r\n`], { waitMs: 5000 }))),
      framing: () => Promise.all([
        `POST /v1/pools HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
        `POST /v1/pools HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
        `POST /v1/pools HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{}`,
        `POST /v1/pools HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n{"a":1}`,
        `GET /v1/pools/${'%'.repeat(300)} HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, `GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n`,
        `PATCH /v1/pools/h1 HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${'1\r\n{\r\n'.repeat(70_000)}0\r\n\r\n`,
      ].map((r) => raw(port, [r], { waitMs: 4000 }))),
      garbage: () => Promise.all(Array.from({ length: 50 }, (_, i) => raw(port, [Buffer.from(Array.from({ length: 200 + i * 37 }, (_, j) => (j * 31 + i * 7) & 0xff))], { waitMs: 1500 }))),
    };
    const alive: number[] = [];
    const probing = (async () => {
      while (Date.now() - started < 8000) {
        const h = await httpGet(`${url}/healthz`, 20_000);
        assert.equal(h.status, 200);
        alive.push(h.ms);
        await sleep(200);
      }
    })();
    const results = await Promise.all(Object.entries(scenarios).map(async ([name, run]) => {
      const out = (await run()).flatMap(statuses);
      all.push(...out);
      return `${name}: ${out.length} answers [${[...new Set(out)].sort().join(',')}]`;
    }));
    await probing;
    clearInterval(rssTimer);
    for (const r of results) console.log(`# ${r}`);
    const fiveXX = all.filter((s) => s >= 500);
    console.log(`# ${all.length} answers in ${Date.now() - started} ms, 5xx: ${fiveXX.length}; /healthz during the run: ${alive.length} probes, max ${Math.max(...alive).toFixed(1)} ms`);
    console.log(`# server RSS baseline ${(baseline / 2 ** 20).toFixed(0)} MiB, max ${(maxRss / 2 ** 20).toFixed(0)} MiB`);
    assert.deepEqual(fiveXX, []);
    assert.ok(all.filter((s) => s === 429).length > 0, 'the watch/long-poll limits answered 429');
    assert.ok(maxRss < baseline + 256 * 2 ** 20, `RSS ${maxRss} grew more than 256 MiB over ${baseline}`);
    assert.equal((await httpGet(`${url}/v1/pools/h1`, 10_000, { token })).status, 200);
  } finally {
    await server?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  }
});
