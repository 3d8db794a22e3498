import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlPlane } from '../control/plane.js';
import { SecretBox } from '../control/secrets.js';
import { pubkey } from '../control/testing/fixtures.js';
import { FabricError } from '../protocol/errors.js';
import type { PoolSnapshot } from '../protocol/types.js';
import { SqliteStore } from '../store/sqlite.js';
import { buildServer } from './app.js';
import { SnapshotShare } from './snapshot-share.js';

/** A read of `n` chunks; `gate` (if given) holds it before its first chunk. */
function reader(n: number, gate?: Promise<void>) {
  const r = { pulled: 0, finished: false, read: async () => (async function* () {
    if (gate) await gate;
    for (let i = 0; i < n; i++) {
      r.pulled++;
      yield i === 0 ? `{"revision":7,"c":[${i}` : `,${i}`;
    }
    r.finished = true;
  })() };
  return r;
}
async function all(body: AsyncIterable<Buffer>): Promise<string> {
  let s = '';
  for await (const c of body) s += c.toString();
  return s;
}
const never = async () => false;

describe('snapshot share', () => {
  test('a client that takes nothing does not hold the read: it ends with every page read; the client still gets all of it later', async () => {
    const share = new SnapshotShare(never);
    const r = reader(50);
    const snap = await share.open('p', 'v', r.read);
    assert.equal(snap.revision, 7);
    for (let i = 0; i < 100 && !r.finished; i++) await sleep(5);
    assert.ok(r.finished, `the read ended while no chunk was taken (${r.pulled}/50 pages read)`);
    assert.equal(await all(snap.body), `{"revision":7,"c":[${Array.from({ length: 50 }, (_, i) => i).join(',')}`);
    assert.equal(share.stats.open, 0);
  });

  test('200 requests that come together share one read; each gets every chunk', async () => {
    const share = new SnapshotShare(never);
    let open!: () => void;
    const r = reader(20, new Promise<void>((res) => (open = res)));
    const snaps = Array.from({ length: 200 }, () => share.open('p', 'v', r.read));
    await sleep(10);
    open();
    const bodies = await Promise.all((await Promise.all(snaps)).map((s) => all(s.body)));
    assert.deepEqual(share.stats, { reads: 1, joins: 199, open: 0 });
    assert.equal(new Set(bodies).size, 1);
  });

  test('a request after a change of the pool, of another view or another pool starts its own read', async () => {
    let changed = false;
    const share = new SnapshotShare(async () => changed);
    const r = reader(3);
    const a = await share.open('p', 'v', r.read);
    await share.open('p', 'v', r.read).then((s) => all(s.body));
    assert.deepEqual([share.stats.reads, share.stats.joins], [1, 1], 'the first read, still being sent, was joined');
    await share.open('p', 'other', r.read).then((s) => all(s.body));
    await share.open('q', 'v', r.read).then((s) => all(s.body));
    assert.equal(share.stats.reads, 3);
    changed = true;
    await share.open('p', 'v', r.read).then((s) => all(s.body));
    assert.deepEqual([share.stats.reads, share.stats.joins], [4, 1]);
    await all(a.body);
  });

  test('an error before the first chunk is thrown to every waiting request and the next one reads again', async () => {
    const share = new SnapshotShare(never);
    let fail = true;
    const read = async () => {
      if (fail) throw new FabricError('WGF_ERR_NOT_FOUND', 'pool p not found');
      return reader(2).read();
    };
    const results = await Promise.allSettled([share.open('p', 'v', read), share.open('p', 'v', read)]);
    assert.ok(results.every((x) => x.status === 'rejected' && (x.reason as FabricError).code === 'WGF_ERR_NOT_FOUND'));
    fail = false;
    assert.match(await all((await share.open('p', 'v', read)).body), /^\{"revision":7/);
    assert.equal(share.stats.open, 0);
  });

  test('a client that leaves a chunk untaken for the stall time is cut and releases the read', async () => {
    const share = new SnapshotShare(never);
    let cuts = 0;
    const snap = await share.open('p', 'v', reader(5).read, { ms: 30, cut: () => cuts++ });
    const it = snap.body[Symbol.asyncIterator]();
    await it.next();
    await sleep(100);
    assert.equal(cuts, 1);
    await it.return!();
    assert.equal(share.stats.open, 0);
  });
});

test('HTTP on SQLite: 12 agents that never read a 10 MB snapshot hold no store read; another agent still gets the snapshot, and they are cut', { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgf-fb-share-'));
  const store = await SqliteStore.open(dir);
  const cp = new ControlPlane({ store, secrets: SecretBox.random() });
  const sockets: Socket[] = [];
  try {
    await cp.bootstrap();
    const sys = { actor: 'test' };
    await cp.createPool({ name: 'big', ipv4Prefix: '10.90.0.0/16' }, sys);
    await cp.createNode('big', { name: 'n1' }, sys);
    const token = (await cp.createToken({ name: 'agent', role: 'node', pool: 'big', node: 'n1' }, sys)).secret;
    // 2,500 peers of ~4 KB (32 labels): far more than the kernel buffers of a connection hold.
    const labels = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`label-${i}-${'k'.repeat(54)}`, 'v'.repeat(63)]));
    for (let i = 0; i < 2500; i += 500) {
      await cp.peerBatch('big', Array.from({ length: 500 }, (_, j) => ({ op: 'create' as const, peer: { name: `p${i + j}`, publicKey: pubkey(), labels } })), sys);
    }
    const app = await buildServer({ control: cp, watchLimits: { stallMs: 2000 } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    try {
      // More clients than the store serves reads at once (8), each asking and never reading.
      const got: number[] = [];
      for (let i = 0; i < 12; i++) {
        const s = connect(port, '127.0.0.1');
        s.pause();
        s.write(`GET /v1/pools/big/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nAccept-Encoding: identity\r\n\r\n`);
        got.push(0);
        s.on('data', (d: Buffer) => { got[i]! += d.length; });
        sockets.push(s);
      }
      await sleep(500);
      const res = await fetch(`http://127.0.0.1:${port}/v1/pools/big/snapshot`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(120_000) });
      const text = await res.text();
      assert.equal((JSON.parse(text) as PoolSnapshot).peers.length, 2500);
      // The clients that never read are cut after stallMs: once they read again, they find
      // their connection ended before the whole answer (kept alive, it would stay open).
      await sleep(4000);
      const closed = sockets.map((s) => new Promise<void>((res) => s.once('close', () => res())));
      for (const s of sockets) s.resume();
      await Promise.race([Promise.all(closed), sleep(60_000).then(() => assert.fail('the clients that never read were not cut'))]);
      assert.ok(got.every((n) => n < text.length), `each got less than the ${text.length} bytes: ${got.join(', ')}`);
    } finally {
      await app.close();
    }
  } finally {
    for (const s of sockets) s.destroy();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
