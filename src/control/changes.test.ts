import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PoolChange } from '../protocol/types.js';
import { mapEvent } from './changes.js';
import { ControlPlane } from './plane.js';
import { admin, pubkey, rejectsWith } from './testing/fixtures.js';
import { DRIVERS, withPlaneOn } from './testing/stores.js';

test('mapEvent ignores keys outside the pool and of other pools', () => {
  assert.equal(mapEvent('a', { type: 'put', key: 'pools/ab/peers/x', revision: 1, value: '{}' }), null);
  assert.equal(mapEvent('a', { type: 'put', key: 'status/a/n', revision: 1, value: '{}' }), null);
  assert.equal(mapEvent('a', { type: 'put', key: 'pools/a/peers/x/y', revision: 1, value: '{}' }), null);
  assert.deepEqual(mapEvent('a', { type: 'delete', key: 'pools/a/nodes/n', revision: 7, prevValue: '{}' }), { type: 'node.delete', revision: 7, name: 'n' });
});

for (const driver of DRIVERS) {
  describe(`change stream on ${driver.name}`, () => {
    const withPlane = (fn: (cp: ControlPlane) => Promise<void>) => withPlaneOn(driver, fn);

    test('snapshot, then changes since its revision, mapped without secrets', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      await cp.createPool({ name: 'p2', ipv4Prefix: '10.0.0.0/24', allowOverlap: true }, admin);
      await cp.createNode('p', { name: 'n1' }, admin);
      await cp.putNodeStatus('p', 'n1', { appliedRevision: 0, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready: false, message: '' }, admin);
      const k1 = pubkey();
      await cp.createPeer('p', { name: 'a', publicKey: k1 }, admin);
      const snap = await cp.poolSnapshot('p');
      assert.equal(snap.revision, await cp.currentRevision());
      assert.deepEqual(snap.peers.map((x) => x.name), ['a']);
      assert.deepEqual(snap.nodes.map((x) => [x.name, x.status]), [['n1', null]]);
      await rejectsWith(cp.poolSnapshot('nope'), 'WGF_ERR_NOT_FOUND');

      const b = await cp.createPeer('p', { name: 'b', publicKey: pubkey() }, admin);
      await cp.createPeer('p2', { name: 'other-pool', publicKey: pubkey() }, admin);
      await cp.putNodeStatus('p', 'n1', { appliedRevision: 1, peersDesired: 1, peersApplied: 1, lastReconcileAt: null, driftRepairs: 0, ready: true, message: '' }, admin);
      await cp.updatePool('p', { mtu: 1380 }, admin);
      await cp.deletePeer('p', 'a', admin);
      await cp.updateNode('p', 'n1', { adminState: 'draining' }, admin);
      await cp.deleteNode('p', 'n1', admin);
      const res = await cp.poolChanges('p', snap.revision);
      const summary = res.changes.map((c) => c.type + ('name' in c ? `:${c.name}` : ''));
      assert.deepEqual(summary, ['peer.put', 'pool.put', 'peer.delete:a', 'node.put', 'node.delete:n1']);
      const del = res.changes[2] as Extract<PoolChange, { type: 'peer.delete' }>;
      assert.equal(del.publicKey, k1, 'peer.delete carries the public key from the previous value');
      assert.equal((res.changes[0] as Extract<PoolChange, { type: 'peer.put' }>).peer.revision, b.revision);
      assert.equal(res.revision, await cp.currentRevision());
      const json = JSON.stringify([res, snap]);
      assert.doesNotMatch(json, /privateKeySealed|"v1\.[0-9a-f]{16}\./);
      // Following on from the answer's revision yields nothing new.
      assert.deepEqual((await cp.poolChanges('p', res.revision)).changes, []);
      // A pool delete is streamed too.
      await cp.deletePool('p', { ...admin, force: true });
      const after = await cp.poolChanges('p', res.revision);
      assert.deepEqual(after.changes.map((c) => c.type), ['pool.put', 'peer.delete', 'pool.delete']);
    }));

    test('watchPool delivers changes made after it starts, in order', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      const since = await cp.currentRevision();
      const got: PoolChange[] = [];
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      const w = cp.watchPool('p', since, (changes) => {
        got.push(...changes);
        if (got.length >= 3) done();
      }, (e) => assert.fail(e));
      await cp.createPeer('p', { name: 'a', publicKey: pubkey() }, admin);
      await cp.createPool({ name: 'unrelated', ipv4Prefix: '10.0.0.0/24', allowOverlap: true }, admin);
      await cp.createPeer('p', { name: 'b', publicKey: pubkey() }, admin);
      await cp.deletePeer('p', 'a', admin);
      await finished;
      w.cancel();
      assert.deepEqual(got.map((c) => c.type), ['peer.put', 'peer.put', 'peer.delete']);
      assert.ok(got[0]!.revision < got[1]!.revision && got[1]!.revision < got[2]!.revision);
      // Nothing of this pool after the last change: a follower may resume from the current revision.
      await cp.createPool({ name: 'unrelated2', ipv4Prefix: '10.0.0.0/24', allowOverlap: true }, admin);
      assert.equal(await cp.resumeRevision('p', got[2]!.revision), await cp.currentRevision());
      assert.equal(await cp.resumeRevision('p', since), since, 'pending changes keep the resume point');
    }));

    test('compaction: changes and watch from a compacted revision fail with WGF_ERR_STORE_COMPACTED', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      await cp.createPeer('p', { name: 'a', publicKey: pubkey() }, admin);
      const { compactRevision } = await cp.compact(undefined, admin);
      assert.ok(compactRevision >= 2);
      await rejectsWith(cp.poolChanges('p', 0), 'WGF_ERR_STORE_COMPACTED');
      const err = await new Promise<Error>((resolve) => cp.watchPool('p', 0, () => assert.fail('no events expected'), resolve));
      assert.equal((err as { code?: string }).code, 'WGF_ERR_STORE_COMPACTED');
      const snap = await cp.poolSnapshot('p');
      assert.deepEqual((await cp.poolChanges('p', snap.revision)).changes, []);
      assert.equal((await cp.listAudit({ kind: 'store' })).items.length, 1, 'compaction is audited');
      await rejectsWith(cp.compact((await cp.currentRevision()) + 10, admin), 'WGF_ERR_VALIDATION');
    }));
  });
}
