import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as K from './keys.js';
import { ControlPlane } from './plane.js';
import { SecretBox } from './secrets.js';
import { admin, fakeClock, makePlane, pubkey, rejectsWith } from './testing/fixtures.js';
import { DRIVERS, withPlaneOn } from './testing/stores.js';

for (const driver of DRIVERS) {
  describe(`IPAM on ${driver.name}`, () => {
    const withPlane = (fn: (cp: ControlPlane) => Promise<void>) => withPlaneOn(driver, fn);

    test('50 concurrent creations in one pool get 50 distinct IPv4 and IPv6 addresses', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24', ipv6Prefix: 'fd00::/64' }, admin);
      const peers = await Promise.all(Array.from({ length: 50 }, (_, i) => cp.createPeer('p', { name: `p${i}`, publicKey: pubkey() }, admin)));
      const v4 = new Set(peers.map((p) => p.addresses[0]));
      const v6 = new Set(peers.map((p) => p.addresses[1]));
      assert.equal(v4.size, 50);
      assert.equal(v6.size, 50);
      assert.equal((await cp.store.range(K.ipamPrefix('p', 4))).kvs.length, 50);
    }));

    test('two writers on one store (as two processes would be) never share an address', withPlane(async (cp) => {
      // A second ControlPlane has its own in-process lanes: only the store compares separate them.
      const other = new ControlPlane({ store: cp.store, secrets: SecretBox.random(), clock: fakeClock() });
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24', ipv6Prefix: 'fd00::/120' }, admin);
      const made = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? cp : other).createPeer('p', { name: `x${i}`, publicKey: pubkey() }, admin)));
      const all = made.flatMap((p) => p.addresses);
      assert.equal(new Set(all).size, 80);
      const claims = (await cp.store.range('ipam/p/')).kvs;
      assert.equal(claims.length, 80);
      // Every claim names the peer whose record holds that address.
      const byName = new Map(made.map((p) => [p.name, p.addresses]));
      for (const kv of claims) assert.ok(byName.has(kv.value), kv.key);
    }));

    test('a /30 holds exactly one peer; exhaustion, then reuse after delete', withPlane(async (cp) => {
      await cp.createPool({ name: 'tiny', ipv4Prefix: '10.9.9.0/30' }, admin);
      const a = await cp.createPeer('tiny', { name: 'a', publicKey: pubkey() }, admin);
      assert.deepEqual(a.addresses, ['10.9.9.2/32']);
      const rev = await cp.currentRevision();
      await rejectsWith(cp.createPeer('tiny', { name: 'b', publicKey: pubkey() }, admin), 'WGF_ERR_ADDRESS_EXHAUSTED');
      assert.equal(await cp.currentRevision(), rev, 'a failed creation writes nothing');
      await cp.deletePeer('tiny', 'a', admin);
      assert.equal((await cp.store.range('ipam/tiny/')).kvs.length, 0, 'delete frees the claim');
      const b = await cp.createPeer('tiny', { name: 'b', publicKey: pubkey() }, admin);
      assert.deepEqual(b.addresses, ['10.9.9.2/32']);
    }));

    test('the allocator wraps around to the first hole and skips requested addresses', withPlane(async (cp) => {
      await cp.createPool({ name: 'w', ipv4Prefix: '10.1.0.0/29' }, admin); // usable .2 .. .6
      await cp.createPeer('w', { name: 'req', publicKey: pubkey(), addresses: ['10.1.0.3'] }, admin);
      const got = [];
      for (const n of ['a', 'b', 'c', 'd']) got.push((await cp.createPeer('w', { name: n, publicKey: pubkey() }, admin)).addresses[0]);
      assert.deepEqual(got, ['10.1.0.2/32', '10.1.0.4/32', '10.1.0.5/32', '10.1.0.6/32']);
      await rejectsWith(cp.createPeer('w', { name: 'e', publicKey: pubkey() }, admin), 'WGF_ERR_ADDRESS_EXHAUSTED');
      await cp.deletePeer('w', 'b', admin);
      assert.deepEqual((await cp.createPeer('w', { name: 'e', publicKey: pubkey() }, admin)).addresses, ['10.1.0.4/32']);
    }));

    test('extra AllowedIPs may not overlap another peer or the pool prefixes', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24', ipv6Prefix: 'fd00::/64' }, admin);
      await cp.createPool({ name: 'q', ipv4Prefix: '10.0.0.0/24', allowOverlap: true }, admin);
      await cp.createPeer('p', { name: 'site-a', publicKey: pubkey(), allowedIps: ['192.168.0.0/16', 'fd10::/48'] }, admin);
      const e = await rejectsWith(cp.createPeer('p', { name: 'site-b', publicKey: pubkey(), allowedIps: ['192.168.7.0/24'] }, admin), 'WGF_ERR_ALLOWED_IPS_OVERLAP');
      assert.match(e.message, /peer site-a/);
      await rejectsWith(cp.createPeer('p', { name: 'site-b', publicKey: pubkey(), allowedIps: ['0.0.0.0/0'] }, admin), 'WGF_ERR_ALLOWED_IPS_OVERLAP');
      await rejectsWith(cp.createPeer('p', { name: 'site-b', publicKey: pubkey(), allowedIps: ['10.0.0.128/25'] }, admin), 'WGF_ERR_ALLOWED_IPS_OVERLAP', 'tunnel prefix');
      await rejectsWith(cp.createPeer('p', { name: 'site-b', publicKey: pubkey(), allowedIps: ['fd10:0:0:1::/64'] }, admin), 'WGF_ERR_ALLOWED_IPS_OVERLAP');
      await cp.createPeer('q', { name: 'site-b', publicKey: pubkey(), allowedIps: ['192.168.7.0/24'] }, admin); // other pool: fine
      const b = await cp.createPeer('p', { name: 'site-b', publicKey: pubkey(), allowedIps: ['172.16.0.0/12'] }, admin);
      // Updating one's own AllowedIPs does not collide with itself.
      await cp.updatePeer('p', 'site-a', { allowedIps: ['192.168.0.0/16', '192.169.0.0/16'] }, admin);
      await rejectsWith(cp.updatePeer('p', 'site-b', { allowedIps: ['192.169.1.0/24'] }, { ...admin, ifMatch: b.revision }), 'WGF_ERR_ALLOWED_IPS_OVERLAP');
      // Freed on delete.
      await cp.deletePeer('p', 'site-a', admin);
      await cp.updatePeer('p', 'site-b', { allowedIps: ['192.168.7.0/24'] }, admin);
      assert.deepEqual((await cp.store.range(K.cidrPrefix('p'))).kvs.map((kv) => kv.value), ['site-b']);
    }));
  });
}

test('invariant checker: consistent after churn, and catches a planted orphan claim', async () => {
  const { checkInvariants } = await import('./testing/invariants.js');
  const { MemoryStore } = await import('../store/memory.js');
  const cp = makePlane(new MemoryStore());
  await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24', ipv6Prefix: 'fd00::/64' }, admin);
  for (let i = 0; i < 10; i++) await cp.createPeer('p', { name: `x${i}`, publicKey: pubkey(), allowedIps: [`192.168.${i}.0/24`] }, admin);
  for (let i = 0; i < 10; i += 3) await cp.deletePeer('p', `x${i}`, admin);
  await cp.updatePeer('p', 'x1', { publicKey: pubkey(), allowedIps: [] }, admin);
  assert.deepEqual(await checkInvariants(cp.store), []);
  await cp.store.txn([], [{ type: 'put', key: 'ipam/p/4/0a000063', value: 'ghost' }]);
  assert.equal((await checkInvariants(cp.store)).length, 1);
});
