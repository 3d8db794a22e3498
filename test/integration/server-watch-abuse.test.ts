import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ControlPlane } from '../../src/control/plane.js';
import { loadOrCreateMasterKey, SecretBox } from '../../src/control/secrets.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { generateKeyPair, toBase64 } from '../../src/wg/keys.js';
import { httpGet, startServerProcess, type ServerProcess } from './fixtures/server-process.js';

/** 32 labels of 63 + 63 characters: about 4 KiB of JSON per peer. */
function bigLabels(i: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let k = 0; k < 32; k++) out[`k${k}-${'x'.repeat(58)}`.slice(0, 63)] = `${i}-${'v'.repeat(60)}`.slice(0, 63);
  return out;
}

/** Opens a watch from revision 0 on a raw socket and never reads its body; resolves with the status line. */
function rawWatch(port: number, token: string, pool: string): Promise<{ socket: Socket; status: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET /v1/pools/${pool}/watch?since=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    });
    socket.once('data', (chunk) => {
      socket.pause(); // from here on nothing is read: the kernel buffers fill, then the server's
      resolve({ socket, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1] ?? 0) });
    });
    socket.once('error', reject);
  });
}

/**
 * Acceptance of issue 11, finding 1: 200 watches from revision 0 that never read, on a pool of
 * 5,000 peers with large labels (~20 MB of backlog each). Before the fix the server built each
 * backlog whole in memory (200 watches: 7.8 GB RSS, ~100 s without service).
 */
test('200 never-reading watches from revision 0 on 5,000 peers: RSS bounded, /healthz and writes answer, limits answer 429', { timeout: 480_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-ab-watch-'));
  const sockets: Socket[] = [];
  let server: ServerProcess | undefined;
  try {
    // Seed through the control plane itself (real records, claims and revisions), then start the server on it.
    const seedStart = Date.now();
    const store = await SqliteStore.open(dir);
    const cp = new ControlPlane({ store, secrets: new SecretBox((await loadOrCreateMasterKey(join(dir, 'master.key'))).key) });
    const admin = (await cp.bootstrap())!;
    const sys = { actor: 'seed' };
    await cp.createPool({ name: 'big', ipv4Prefix: '10.64.0.0/16' }, sys);
    for (let i = 0; i < 5000; i++) {
      await cp.createPeer('big', { name: `peer${i}`, publicKey: toBase64(generateKeyPair().publicKey), labels: bigLabels(i) }, sys);
    }
    const tokA = (await cp.createToken({ name: 'ro-a', role: 'read-only' }, sys)).secret;
    const tokB = (await cp.createToken({ name: 'ro-b', role: 'read-only' }, sys)).secret;
    await store.close();
    console.log(`# seeded 5,000 peers with large labels in ${Date.now() - seedStart} ms`);

    server = await startServerProcess(dir, ['--max-watches', '200', '--max-watches-per-token', '100', '--compact-keep', '0']);
    const port = server.port;
    const baseline = server.rss();
    const srv = server;
    const samples: { rss: number; healthz: number; write: number }[] = [];
    let n = 0;
    const probe = async () => {
      const h = await httpGet(`${srv.url}/healthz`, 30_000);
      const w = await httpGet(`${srv.url}/v1/pools/big/peers`, 30_000, { method: 'POST', token: admin, body: { name: `probe${n++}`, publicKey: toBase64(generateKeyPair().publicKey) } });
      assert.equal(h.status, 200);
      assert.equal(w.status, 201, w.body);
      samples.push({ rss: srv.rss(), healthz: h.ms, write: w.ms });
    };

    // 100 per token: the 101st of token A is refused (per token), then the 201st overall (total).
    for (let i = 0; i < 100; i++) {
      const w = await rawWatch(port, tokA, 'big');
      sockets.push(w.socket);
      assert.equal(w.status, 200);
      if (i % 20 === 0) await probe();
    }
    const overToken = await httpGet(`${srv.url}/v1/pools/big/watch?since=0`, 10_000, { token: tokA });
    assert.equal(overToken.status, 429);
    assert.equal(JSON.parse(overToken.body).error.code, 'WGF_ERR_TOO_MANY_WATCHES');
    assert.equal(JSON.parse(overToken.body).error.details.scope, 'token');
    for (let i = 0; i < 100; i++) {
      const w = await rawWatch(port, tokB, 'big');
      sockets.push(w.socket);
      assert.equal(w.status, 200);
      if (i % 20 === 0) await probe();
    }
    const overTotal = await httpGet(`${srv.url}/v1/pools/big/watch?since=0`, 10_000, { token: admin });
    assert.equal(overTotal.status, 429);
    assert.equal(JSON.parse(overTotal.body).error.details.scope, 'server');
    // Hold all 200 open and unread for a while, probing.
    for (let i = 0; i < 20; i++) {
      await probe();
      await sleep(250);
    }
    const maxRss = Math.max(...samples.map((s) => s.rss));
    const worst = (k: 'healthz' | 'write') => Math.max(...samples.map((s) => s[k]));
    const med = (k: 'healthz' | 'write') => samples.map((s) => s[k]).sort((a, b) => a - b)[samples.length >> 1]!;
    console.log(`# server RSS: baseline ${(baseline / 2 ** 20).toFixed(0)} MiB, max with 200 unread watches ${(maxRss / 2 ** 20).toFixed(0)} MiB (${samples.length} samples)`);
    console.log(`# /healthz: median ${med('healthz').toFixed(1)} ms, max ${worst('healthz').toFixed(1)} ms; write (POST peer): median ${med('write').toFixed(1)} ms, max ${worst('write').toFixed(1)} ms`);
    // The bound stated in README: baseline + watches x (buffer + one page), here 200 x (256 KiB + 64 x ~4.5 KiB), with slack.
    const bound = baseline + 200 * (256 * 1024 + 64 * 4608) + 128 * 2 ** 20;
    console.log(`# asserted RSS bound ${(bound / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(maxRss < bound, `RSS ${maxRss} above ${bound}`);
  } finally {
    for (const s of sockets) s.destroy();
    await server?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  }
});
