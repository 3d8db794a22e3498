import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FabricError } from '../protocol/errors.js';
import { UapiClient } from './uapi.js';
import { buildSetRequest, type UapiPeerUpdate } from './uapi-codec.js';
import { FakeDevice } from './testing/fake-device.js';

// UapiClient with operationBytes Infinity (the agent's driver): each set is ONE operation,
// validated whole, then built and written chunk by chunk. Real Unix sockets, no root; the real
// wireguard-go is in test/integration/uapi.test.ts.
const dir = mkdtempSync(join(tmpdir(), 'wgf-ags4-stream-'));
let n = 0;
const sockPath = (): string => join(dir, `s${n++}.sock`);
const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** Distinct valid (not low-order) hex keys, cheap to make. */
const fakeKey = (i: number): string => `5${i.toString(16).padStart(63, '0')}`;
const peersOf = (count: number): UapiPeerUpdate[] =>
  Array.from({ length: count }, (_, i) => ({ publicKey: fakeKey(i), replaceAllowedIps: true, allowedIps: [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32`] }));

/** A server that records every connection and the bytes it got; `answer` decides when and what to reply. */
async function recorder(answer: (sock: Socket, received: () => Buffer) => void): Promise<{ path: string; connections: () => number; bytes: () => Buffer }> {
  const path = sockPath();
  let connections = 0;
  let last: Buffer[] = [];
  const server = createServer((s) => {
    connections++;
    const parts: Buffer[] = [];
    last = parts;
    s.on('error', () => {});
    s.on('data', (c: Buffer) => parts.push(c));
    answer(s, () => Buffer.concat(parts));
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { path, connections: () => connections, bytes: () => Buffer.concat(last) };
}

test('streamed set: an invalid peer at position 60,000 writes nothing (no connection is even made)', async () => {
  const rec = await recorder(() => {});
  const client = new UapiClient('x', { socketPath: rec.path, operationBytes: Number.POSITIVE_INFINITY, timeoutMs: 60_000 });
  const peers = peersOf(60_000);
  peers[59_999] = { ...peers[59_999]!, allowedIps: ['10.0.0.1/33'] };
  await assert.rejects(client.set({ replacePeers: true, peers }), (e: unknown) =>
    e instanceof FabricError && e.code === 'WGF_ERR_VALIDATION' && e.details?.field === 'peers[59999].allowedIps[0]');
  const weak = peersOf(60_000);
  weak[59_999] = { ...weak[59_999]!, publicKey: '0'.repeat(64) };
  await assert.rejects(client.set({ peers: weak }), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_WEAK_KEY');
  await sleep(50);
  assert.equal(rec.connections(), 0, 'the device was never contacted');
});

test('streamed set: built behind the socket\'s backpressure while the device reads, and arrives whole as ONE operation', async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const rec = await recorder((s, received) => {
    let paused = false;
    s.on('data', () => {
      const got = received();
      if (!paused && got.length >= 64 * 1024) {
        paused = true;
        s.pause(); // a device busy applying what it has
        void released.then(() => s.resume());
      }
      if (got.length >= 2 && got[got.length - 1] === 10 && got[got.length - 2] === 10) s.end('errno=0\n\n');
    });
  });
  const count = 60_000;
  let built = 0;
  const peers = peersOf(count).map((p, i) => ({
    publicKey: p.publicKey, allowedIps: p.allowedIps,
    get replaceAllowedIps(): boolean {
      built = Math.max(built, i + 1); // read when the peer's lines are built
      return true;
    },
  }));
  const client = new UapiClient('x', { socketPath: rec.path, operationBytes: Number.POSITIVE_INFINITY, timeoutMs: 120_000 });
  const done = client.set({ peers });
  // Wait until the client stops building (it is blocked on the socket), however slow the machine.
  let before = -1;
  while (built !== before || built === 0) {
    before = built;
    await sleep(200);
  }
  assert.ok(built < count / 4, `${built} of ${count} peers built while the device did not read: the client must wait for the socket`);
  release();
  await done;
  assert.equal(built, count);
  assert.equal(rec.connections(), 1);
  assert.equal(rec.bytes().toString('latin1'), buildSetRequest({ peers: peersOf(count) }), 'exactly the single operation, in order');
});

test('streamed set: a device that applies the operation has every peer; one set=1 operation', async () => {
  const dev = new FakeDevice();
  const path = sockPath();
  await dev.listen(path);
  closers.push(() => dev.close());
  const client = new UapiClient('x', { socketPath: path, operationBytes: Number.POSITIVE_INFINITY, timeoutMs: 60_000 });
  await client.set({ replacePeers: true, peers: peersOf(20_000) });
  assert.deepEqual(dev.ops, ['set=1']);
  assert.equal((await client.get()).peers.length, 20_000);
});

test('streamed set: a refusal mid-stream is WGF_ERR_UAPI with its errno (or the hang-up after it), and the stream stops', async () => {
  const rec = await recorder((s, received) => {
    s.on('data', () => {
      if (received().length > 300_000 && !s.destroyed) {
        s.write('errno=-22\n\n');
        s.destroy();
      }
    });
  });
  const client = new UapiClient('x', { socketPath: rec.path, operationBytes: Number.POSITIVE_INFINITY, timeoutMs: 60_000 });
  const count = 40_000;
  let built = 0;
  const peers = peersOf(count).map((p, i) => ({
    publicKey: p.publicKey, allowedIps: p.allowedIps,
    get replaceAllowedIps(): boolean {
      built = Math.max(built, i + 1);
      return true;
    },
  }));
  await assert.rejects(client.set({ peers }), (e: unknown) => {
    assert.ok(e instanceof FabricError, String(e));
    assert.ok(e.code === 'WGF_ERR_UAPI' || e.code === 'WGF_ERR_DEVICE_UNAVAILABLE', `${e.code}: ${e.message}`);
    if (e.code === 'WGF_ERR_UAPI') assert.equal(e.details?.errno, -22);
    return true;
  });
  await sleep(100);
  assert.ok(built < count / 2, `${built} of ${count} peers built: the client went on after the refusal`);
});

test('streamed set: a chunk that fails to build (first or mid-stream) ends the call with that error and hangs up', async () => {
  let closed = 0;
  const rec = await recorder((s) => s.on('close', () => closed++));
  const client = new UapiClient('x', { socketPath: rec.path, operationBytes: Number.POSITIVE_INFINITY, timeoutMs: 120_000 });
  for (const at of [0, 50_000]) {
    // Validation does not read replaceAllowedIps; building does: a stand-in for a builder bug.
    const peers = peersOf(60_000).map((p, i) => ({
      publicKey: p.publicKey, allowedIps: p.allowedIps,
      get replaceAllowedIps(): boolean {
        if (i === at) throw new Error(`builder broke at ${i}`);
        return true;
      },
    }));
    await assert.rejects(client.set({ peers }), (e: unknown) => e instanceof Error && e.message === `builder broke at ${at}`);
  }
  for (let i = 0; i < 200 && closed < rec.connections(); i++) await sleep(50);
  assert.ok(rec.connections() >= 1, 'the mid-stream case connected');
  assert.equal(closed, rec.connections(), 'each connection was closed by the client');
});
