import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import type { WireGuardDevice } from './device.js';

/**
 * The contract every WireGuardDevice driver must pass. `open` returns a fresh, empty device;
 * `close` removes it.
 */
export function runDeviceContract(name: string, open: () => Promise<WireGuardDevice>, close: () => Promise<void>): void {
  let dev: WireGuardDevice;
  let deviceKey: string;
  const key = () => toBase64(generateKeyPair().publicKey);
  before(async () => {
    dev = await open();
  });
  after(close);

  test(`${name}: configure sets the key and port and is idempotent`, async () => {
    const kp = generateKeyPair();
    await dev.configure({ privateKey: toBase64(kp.privateKey), listenPort: 0 });
    await dev.configure({ privateKey: toBase64(kp.privateKey), listenPort: 0 });
    deviceKey = toBase64(kp.publicKey);
    assert.equal(await dev.publicKey(), deviceKey);
    const st = await dev.state();
    assert.equal(st.publicKey, toBase64(kp.publicKey), 'state() reads the same key');
    assert.equal(typeof st.listenPort, 'number', 'state() reads the port');
    assert.equal(st.peers.size, 0);
  });

  test(`${name}: upsert adds, replaces allowed IPs, remove deletes, absent remove is fine`, async () => {
    const a = key();
    const b = key();
    await dev.apply([
      { op: 'upsert', spec: { publicKey: a, allowedIps: ['10.9.0.2/32', 'fd09::2/128'] } },
      { op: 'upsert', spec: { publicKey: b, allowedIps: ['10.9.0.3/32'] } },
    ]);
    let peers = (await dev.state()).peers;
    assert.deepEqual([...peers.keys()].sort(), [a, b].sort());
    assert.deepEqual([...peers.get(a)!.allowedIps].sort(), ['10.9.0.2/32', 'fd09::2/128']);
    await dev.apply([{ op: 'upsert', spec: { publicKey: a, allowedIps: ['10.9.0.9/32'] } }, { op: 'remove', publicKey: b }, { op: 'remove', publicKey: key() }]);
    peers = (await dev.state()).peers;
    assert.deepEqual([...peers.keys()], [a]);
    assert.deepEqual(peers.get(a)!.allowedIps, ['10.9.0.9/32']);
    assert.equal(peers.get(a)!.lastHandshakeMs, null);
    await dev.apply([{ op: 'remove', publicKey: a }]);
  });

  test(`${name}: a preshared key is set, rotated and removed; the device reports it`, async () => {
    const a = key();
    const psk1 = randomBytes(32).toString('base64');
    const psk2 = randomBytes(32).toString('base64');
    await dev.apply([{ op: 'upsert', spec: { publicKey: a, allowedIps: ['10.9.1.2/32'], presharedKey: psk1 } }]);
    assert.equal((await dev.state()).peers.get(a)?.presharedKey, psk1);
    await dev.apply([{ op: 'upsert', spec: { publicKey: a, allowedIps: ['10.9.1.2/32'], presharedKey: psk2 } }]);
    assert.equal((await dev.state()).peers.get(a)?.presharedKey, psk2, 'rotated');
    await dev.apply([{ op: 'upsert', spec: { publicKey: a, allowedIps: ['10.9.1.2/32'] } }]);
    const peer = (await dev.state()).peers.get(a);
    assert.ok(peer, 'the peer stays');
    assert.equal(peer.presharedKey, undefined, 'an upsert without a preshared key removes it');
    await dev.apply([{ op: 'remove', publicKey: a }]);
  });

  test(`${name}: upserts of peers the device did not have (added), with and without a preshared key`, async () => {
    const a = key();
    const b = key();
    const psk = randomBytes(32).toString('base64');
    await dev.apply([
      { op: 'upsert', spec: { publicKey: a, allowedIps: ['10.9.2.2/32'] }, added: true },
      { op: 'upsert', spec: { publicKey: b, allowedIps: ['10.9.2.3/32'], presharedKey: psk }, added: true },
    ]);
    const peers = (await dev.state()).peers;
    assert.deepEqual(peers.get(a)?.allowedIps, ['10.9.2.2/32']);
    assert.equal(peers.get(a)?.presharedKey, undefined);
    assert.equal(peers.get(b)?.presharedKey, psk);
    await dev.apply([{ op: 'remove', publicKey: a }, { op: 'remove', publicKey: b }]);
  });

  test(`${name}: an empty batch changes nothing`, async () => {
    const before = (await dev.state()).peers;
    await dev.apply([]);
    assert.deepEqual((await dev.state()).peers, before);
  });

  test(`${name}: a batch of 2000 peers lands completely`, async () => {
    const ops = Array.from({ length: 2000 }, (_, i) => ({
      op: 'upsert' as const,
      spec: { publicKey: key(), allowedIps: [`10.${100 + (i >> 8)}.${i & 255}.1/32`] },
    }));
    await dev.apply(ops);
    const peers = (await dev.state()).peers;
    assert.equal(peers.size, 2000);
    // The cheap key read (the UAPI driver hangs up before the peers) still gives the key, and the device answers fully after it.
    assert.equal(await dev.publicKey(), deviceKey);
    assert.equal((await dev.state()).peers.size, 2000);
    for (const o of ops.slice(0, 50)) assert.deepEqual(peers.get(o.spec.publicKey)?.allowedIps, o.spec.allowedIps);
    await dev.apply(ops.map((o) => ({ op: 'remove' as const, publicKey: o.spec.publicKey })));
    assert.equal((await dev.state()).peers.size, 0);
  });
}
