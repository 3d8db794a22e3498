import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FabricError, type ErrorCode } from '../protocol/errors.js';
import { UapiClient } from './uapi.js';
import { FakeDevice, renderPeer } from './testing/fake-device.js';
import { keyPairs } from './testing/gen-config.js';
import { Rng } from './testing/random.js';

// These tests drive UapiClient against an in-memory device on a real Unix socket: no root.
const dir = mkdtempSync(join(tmpdir(), 'wgf-uapi-'));
let n = 0;
const sockPath = (): string => join(dir, `d${n++}.sock`);
const keys = keyPairs(new Rng(11), 6);
const [K0, K1, K2, K3] = keys as [(typeof keys)[0], (typeof keys)[0], (typeof keys)[0], (typeof keys)[0]];
const servers: { close(): Promise<void> | void }[] = [];
/** Distinct, valid (not low-order) hex keys, cheap to make. */
const fakeKey = (i: number): string => `5${i.toString(16).padStart(63, '0')}`;

async function fake(setup?: (d: FakeDevice) => void): Promise<{ dev: FakeDevice; client: UapiClient }> {
  const dev = new FakeDevice();
  setup?.(dev);
  const path = sockPath();
  await dev.listen(path);
  servers.push(dev);
  return { dev, client: new UapiClient('wgtest', { socketPath: path, timeoutMs: 10_000 }) };
}

/** A raw server that answers every connection with `reply` (or closes at once when null). */
async function raw(reply: string | null): Promise<string> {
  const path = sockPath();
  const server: Server = createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => (reply === null ? s.destroy() : s.write(reply)));
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  servers.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return path;
}

async function rejectsCode(p: Promise<unknown>, code: ErrorCode, check?: (e: FabricError) => void): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof FabricError, `expected FabricError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check?.(e);
    return true;
  });
}

after(async () => {
  for (const s of servers) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('configureDevice, setPeers, get, removePeers against a device', async () => {
  const { client } = await fake();
  await client.configureDevice({ privateKey: K0.privateKey, listenPort: 51820 });
  await client.setPeers([
    { publicKey: K1.publicKey, allowedIps: ['10.0.0.1/32', 'fd00::1/128'], endpoint: '198.18.0.1:51820', persistentKeepaliveInterval: 25 },
    { publicKey: K2.publicKey, allowedIps: ['10.0.0.2/32'] },
    { publicKey: K3.publicKey, allowedIps: ['10.0.0.3/32'] },
  ]);
  let d = await client.get();
  assert.equal(d.publicKey, K0.publicKey);
  assert.equal(d.listenPort, 51820);
  assert.deepEqual(d.peers.map((p) => p.publicKey).sort(), [K1.publicKey, K2.publicKey, K3.publicKey].sort());
  const p1 = d.peers.find((p) => p.publicKey === K1.publicKey)!;
  assert.deepEqual(p1.allowedIps, ['10.0.0.1/32', 'fd00::1/128']);
  assert.equal(p1.endpoint, '198.18.0.1:51820');
  assert.equal(p1.persistentKeepaliveInterval, 25);
  await client.removePeers([K2.publicKey, keys[5]!.publicKey]);
  d = await client.get();
  assert.deepEqual(d.peers.map((p) => p.publicKey).sort(), [K1.publicKey, K3.publicKey].sort());
});

test('answers split into tiny chunks are reassembled', async () => {
  const { client, dev } = await fake((d) => (d.chunkSize = 3));
  await client.setPeers([{ publicKey: K1.publicKey, allowedIps: ['10.1.0.0/16'] }]);
  const d = await client.get();
  assert.deepEqual(d.peers[0]?.allowedIps, ['10.1.0.0/16']);
  assert.deepEqual(dev.ops, ['set=1', 'get=1']);
});

test('concurrent calls are serialised, in call order', async () => {
  const { client, dev } = await fake((d) => (d.answerDelayMs = 2));
  const ports = Array.from({ length: 12 }, (_, i) => 1000 + i);
  const results = await Promise.all(ports.map((listenPort, i) => (i % 3 === 2 ? client.get() : client.configureDevice({ listenPort }))));
  assert.equal(dev.maxPendingRequests, 1);
  // Each get saw exactly the sets made before it.
  results.forEach((r, i) => {
    if (i % 3 === 2) assert.equal((r as { listenPort: number }).listenPort, ports[i - 1]);
  });
  assert.equal(dev.ops.length, 12);
});

test('a failed call does not block the queue', async () => {
  const { client } = await fake();
  const bad = client.set({ listenPort: 70000 });
  const good = client.configureDevice({ listenPort: 5 });
  await rejectsCode(bad, 'WGF_ERR_VALIDATION');
  await good;
  assert.equal((await client.get()).listenPort, 5);
});

test('a missing socket is WGF_ERR_DEVICE_UNAVAILABLE naming the socket', async () => {
  const path = join(dir, 'nothing-here.sock');
  const client = new UapiClient('wgnone', { socketPath: path });
  await rejectsCode(client.get(), 'WGF_ERR_DEVICE_UNAVAILABLE', (e) => {
    assert.ok(e.message.includes(path));
    assert.equal(e.details?.socket, path);
    assert.equal(e.details?.errno, 'ENOENT');
  });
});

test('a path that is not a socket is WGF_ERR_DEVICE_UNAVAILABLE', async () => {
  const path = join(dir, 'plain-file');
  writeFileSync(path, 'x');
  await rejectsCode(new UapiClient('x', { socketPath: path }).get(), 'WGF_ERR_DEVICE_UNAVAILABLE', (e) => assert.equal(e.details?.errno, 'ECONNREFUSED'));
});

test('a device that never answers times out as WGF_ERR_DEVICE_UNAVAILABLE', async () => {
  const { client } = await fake((d) => (d.hang = true));
  await rejectsCode(client.get({ timeoutMs: 50 }), 'WGF_ERR_DEVICE_UNAVAILABLE', (e) => {
    assert.equal(e.details?.timeoutMs, 50);
    assert.match(e.message, /within 50 ms/);
  });
});

test('a device that hangs up without answering is WGF_ERR_DEVICE_UNAVAILABLE', async () => {
  const path = await raw(null);
  await rejectsCode(new UapiClient('x', { socketPath: path }).get(), 'WGF_ERR_DEVICE_UNAVAILABLE', (e) => assert.match(e.message, /closed the connection/));
});

test('a refusal (errno) is WGF_ERR_UAPI with details.errno', async () => {
  const path = await raw('errno=-98\n\n');
  await rejectsCode(new UapiClient('x', { socketPath: path }).configureDevice({ listenPort: 1 }), 'WGF_ERR_UAPI', (e) => {
    assert.equal(e.details?.errno, -98);
    assert.equal(e.details?.errnoName, 'EADDRINUSE');
  });
});

test('a garbled answer is WGF_ERR_UAPI', async () => {
  const path = await raw('hello\n\n');
  await rejectsCode(new UapiClient('x', { socketPath: path }).get(), 'WGF_ERR_UAPI', (e) => assert.match(e.message, /malformed/));
});

test('an answer over maxResponseBytes is refused', async () => {
  const path = await raw(`${'listen_port=1\n'.repeat(1000)}errno=0\n\n`);
  await rejectsCode(new UapiClient('x', { socketPath: path, maxResponseBytes: 1000 }).get(), 'WGF_ERR_UAPI', (e) => assert.match(e.message, /larger than 1000/));
});

test('invalid interface names are refused before any I/O', () => {
  for (const bad of ['', 'a'.repeat(16), '../etc', 'wg 0']) {
    assert.throws(() => new UapiClient(bad), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_VALIDATION', bad);
  }
  assert.equal(new UapiClient('wg0').socketPath, '/var/run/wireguard/wg0.sock');
});

test('a 50,000-peer answer (about 18 MB) is read and parsed', async () => {
  const { client, dev } = await fake((d) => (d.chunkSize = 64 * 1024));
  for (let i = 0; i < 50_000; i++) {
    const hex = fakeKey(i); // distinct 32-byte keys, cheap to make
    dev.peers.set(hex, {
      publicKey: Buffer.from(hex, 'hex').toString('base64'), endpoint: `198.18.${(i >> 8) & 255}.${i & 255}:51820`, persistentKeepaliveInterval: 25,
      lastHandshakeMs: i === 7 ? 1_700_000_000_500 : null, rxBytes: i, txBytes: 2 * i,
      allowedIps: [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32`, `fd00::${i.toString(16)}/128`], protocolVersion: 1,
    });
  }
  const d = await client.get();
  assert.equal(d.peers.length, 50_000);
  const want = [...dev.peers.values()];
  for (const i of [0, 7, 4242, 49_999]) assert.deepEqual(d.peers[i], want[i], `peer ${i}`);
});

test('getInterface reads key, port and fwmark and hangs up at the first peer', async () => {
  // A device that sends its interface part and first peer line, then never finishes: get() cannot
  // complete, getInterface() must not need to.
  const partial = `private_key=${Buffer.from(K0.privateKey, 'base64').toString('hex')}\nlisten_port=51820\nfwmark=9\npublic_key=${fakeKey(1)}\nallowed_ip=10.0.0.1/32\n`;
  const path = await raw(partial);
  const client = new UapiClient('x', { socketPath: path, timeoutMs: 2000 });
  assert.deepEqual(await client.getInterface(), { privateKey: K0.privateKey, publicKey: K0.publicKey, listenPort: 51820, fwmark: 9 });
  await rejectsCode(client.get({ timeoutMs: 200 }), 'WGF_ERR_DEVICE_UNAVAILABLE', (e) => assert.match(e.message, /no complete answer/));
  // Against a whole device (with 2000 peers, in small chunks) it agrees with get() and leaves the queue usable.
  const { client: c2, dev } = await fake((d) => (d.chunkSize = 512));
  await c2.configureDevice({ privateKey: K1.privateKey, listenPort: 4242 });
  await c2.setPeers(Array.from({ length: 2000 }, (_, i) => ({ publicKey: fakeKey(i), allowedIps: [`10.8.${i >> 8}.${i & 255}/32`] })));
  const { peers, ...whole } = await c2.get();
  assert.equal(peers.length, 2000);
  assert.deepEqual(await c2.getInterface(), whole);
  assert.equal((await c2.get()).peers.length, 2000);
  assert.deepEqual(dev.ops.slice(-3), ['get=1', 'get=1', 'get=1']);
});

test('a big set goes as several operations on one connection, all applied', async () => {
  const { client, dev } = await fake();
  const small = new UapiClient('x', { socketPath: client.socketPath, operationBytes: 4096 });
  const peers = Array.from({ length: 500 }, (_, i) => ({ publicKey: fakeKey(i), allowedIps: [`10.9.${i >> 8}.${i & 255}/32`] }));
  await small.set({ replacePeers: true, peers });
  assert.ok(dev.ops.length > 10, `only ${dev.ops.length} operations`);
  assert.ok(dev.ops.every((op) => op === 'set=1'));
  assert.equal((await small.get()).peers.length, 500);
});

test('a refusal in a later operation names it and stops sending', async () => {
  const { client, dev } = await fake();
  const victim = fakeKey(300);
  dev.refuseLine = (line) => (line === `public_key=${victim}` ? -22 : undefined);
  const small = new UapiClient('x', { socketPath: client.socketPath, operationBytes: 4096 });
  const peers = Array.from({ length: 500 }, (_, i) => ({ publicKey: fakeKey(i), allowedIps: [`10.9.${i >> 8}.${i & 255}/32`] }));
  await rejectsCode(small.setPeers(peers), 'WGF_ERR_UAPI', (e) => {
    assert.equal(e.details?.errno, -22);
    assert.ok(typeof e.details?.operation === 'number' && e.details.operation > 1, `operation ${String(e.details?.operation)}`);
    assert.equal(dev.ops.length, e.details?.operation);
  });
  // Peers before the refused line were applied (UAPI is not transactional); none after it.
  assert.equal(dev.peers.size, 300);
});
