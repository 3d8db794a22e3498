import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FabricError } from '../protocol/errors.js';
import { toBase64 } from '../wg/keys.js';
import { FakeDevice } from '../wg/testing/fake-device.js';
import { UapiDeviceDriver } from './device-uapi.js';
import type { PeerOp } from './diff.js';

// The uapi driver against an in-memory device on a real Unix socket (no root); the real
// wireguard-go is in test/integration/device-drivers.test.ts.
const dir = mkdtempSync(join(tmpdir(), 'wgf-ags-uapi-'));
const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** Distinct valid keys, cheap to make (not low-order points). */
const key = (i: number): string => toBase64(Buffer.from(`5${i.toString(16).padStart(63, '0')}`, 'hex'));
const upserts = (n: number): PeerOp[] =>
  Array.from({ length: n }, (_, i) => ({ op: 'upsert', spec: { publicKey: key(i), allowedIps: [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32`] } }));

test('a batch of 20,000 upserts (about 3 MB) goes as ONE set operation and every peer is on the device; state() reads them back', async () => {
  const dev = new FakeDevice();
  const path = join(dir, 'a.sock');
  await dev.listen(path);
  closers.push(() => dev.close());
  const driver = new UapiDeviceDriver('ags0', { socketPath: path, timeoutMs: 60_000 });
  await driver.apply(upserts(20_000));
  assert.deepEqual(dev.ops, ['set=1'], 'one set operation, not 64 KiB cuts');
  const st = await driver.state();
  assert.equal(st.peers.size, 20_000);
  assert.deepEqual(st.peers.get(key(300))?.allowedIps, ['10.0.1.44/32']);
  assert.equal(st.peers.get(key(300))?.endpoint, null);
});

test('a bad batch is refused before its first byte reaches the device (nothing half-applied): the bad peer is the 60,000th', async () => {
  const dev = new FakeDevice();
  const path = join(dir, 'b.sock');
  await dev.listen(path);
  closers.push(() => dev.close());
  const driver = new UapiDeviceDriver('ags1', { socketPath: path, timeoutMs: 60_000 });
  const ops = upserts(60_000);
  ops[59_999] = { op: 'upsert', spec: { publicKey: key(59_999), allowedIps: ['10.0.0.1/33'] } };
  await assert.rejects(driver.apply(ops), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_VALIDATION');
  assert.deepEqual(dev.ops, [], 'nothing was sent');
  assert.equal(dev.peers.size, 0);
});

test('a device that refuses a line mid-stream, answers errno and hangs up on the rest (as wireguard-go does): WGF_ERR_UAPI with its errno', async () => {
  const path = join(dir, 'c.sock');
  const server = createServer((s) => {
    s.on('error', () => {});
    let n = 0;
    s.on('data', (c: Buffer) => {
      n += c.length;
      if (n > 200_000 && !s.destroyed) {
        s.write('errno=-22\n\n');
        s.destroy();
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  const driver = new UapiDeviceDriver('ags2', { socketPath: path, timeoutMs: 60_000 });
  for (let i = 0; i < 3; i++) {
    await assert.rejects(driver.apply(upserts(30_000)), (e: unknown) => {
      assert.ok(e instanceof FabricError, String(e));
      assert.ok(e.code === 'WGF_ERR_UAPI' || e.code === 'WGF_ERR_DEVICE_UNAVAILABLE', `${e.code}: ${e.message}`);
      if (e.code === 'WGF_ERR_UAPI') assert.equal(e.details?.errno, -22);
      return true;
    });
  }
});

test('preshared_key: written (all-zero: none) for a peer the device had, left out for an added peer without one, as wg setconf does', async () => {
  const path = join(dir, 'd.sock');
  let received = '';
  const server = createServer((s) => {
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      received += c.toString('latin1');
      if (received.endsWith('\n\n')) s.end('errno=0\n\n');
    });
  });
  await new Promise<void>((r) => server.listen(path, () => r()));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  const psk = toBase64(Buffer.alloc(32, 7));
  const hex = (b64: string): string => Buffer.from(b64, 'base64').toString('hex');
  await new UapiDeviceDriver('ags3', { socketPath: path }).apply([
    { op: 'upsert', spec: { publicKey: key(1), allowedIps: ['10.0.0.1/32'] }, added: true },
    { op: 'upsert', spec: { publicKey: key(2), allowedIps: ['10.0.0.2/32'], presharedKey: psk }, added: true },
    { op: 'upsert', spec: { publicKey: key(3), allowedIps: ['10.0.0.3/32'] }, added: false },
    { op: 'upsert', spec: { publicKey: key(4), allowedIps: ['10.0.0.4/32'] } },
    { op: 'remove', publicKey: key(5) },
  ]);
  assert.equal(received, [
    'set=1',
    `public_key=${hex(key(1))}`, 'replace_allowed_ips=true', 'allowed_ip=10.0.0.1/32',
    `public_key=${hex(key(2))}`, `preshared_key=${hex(psk)}`, 'replace_allowed_ips=true', 'allowed_ip=10.0.0.2/32',
    `public_key=${hex(key(3))}`, `preshared_key=${'0'.repeat(64)}`, 'replace_allowed_ips=true', 'allowed_ip=10.0.0.3/32',
    `public_key=${hex(key(4))}`, `preshared_key=${'0'.repeat(64)}`, 'replace_allowed_ips=true', 'allowed_ip=10.0.0.4/32',
    `public_key=${hex(key(5))}`, 'remove=true', '', '',
  ].join('\n'));
});
