import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Store } from '../store/store.js';
import { toBase64 } from '../wg/keys.js';
import * as K from './keys.js';
import { MASTER_KEY_STATE_KEY } from './master-key.js';
import { ControlPlane } from './plane.js';
import type { PeerRecord, PoolRecord } from './records.js';
import { masterKeyId, SecretBox, sealedKeyId } from './secrets.js';
import { admin, fakeClock, pubkey, rejectsWith } from './testing/fixtures.js';
import { DRIVERS } from './testing/stores.js';

const plane = (store: Store, secrets: SecretBox) => new ControlPlane({ store, secrets, clock: fakeClock() });

/** Key ids every sealed secret of the store is under, with counts. */
async function sealedUnder(store: Store): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const add = (s: string | undefined) => { if (s !== undefined) out.set(sealedKeyId(s)!, (out.get(sealedKeyId(s)!) ?? 0) + 1); };
  for (const kv of (await store.range('pools/')).kvs) {
    const rec = JSON.parse(kv.value) as PoolRecord & PeerRecord;
    add(kv.key.endsWith('/pool') ? rec.privateKeySealed : rec.presharedKeySealed);
  }
  return out;
}

/** A fabric of 2 pools with 30 peers, 20 of them with a preshared key; returns the PSKs by peer. */
async function fabric(cp: ControlPlane): Promise<Map<string, string>> {
  const psks = new Map<string, string>();
  for (const [i, pool] of ['a', 'b'].entries()) {
    await cp.createPool({ name: pool, ipv4Prefix: `10.${40 + i}.0.0/24` }, admin);
    for (let n = 0; n < 15; n++) {
      const psk = n % 3 === 0 ? undefined : toBase64(randomBytes(32));
      await cp.createPeer(pool, { name: `p${n}`, publicKey: pubkey(), ...(psk ? { presharedKey: psk } : {}) }, admin);
      if (psk) psks.set(`${pool}/p${n}`, psk);
    }
  }
  return psks;
}

async function assertPsks(cp: ControlPlane, psks: Map<string, string>): Promise<void> {
  for (const pool of ['a', 'b']) {
    const snap = await cp.poolSnapshot(pool, { presharedKeys: true });
    for (const p of snap.peers) assert.equal(p.presharedKey ?? undefined, psks.get(`${pool}/${p.name}`), `${pool}/${p.name}`);
  }
}

for (const driver of DRIVERS) {
  describe(`master-key rotation (${driver.name})`, () => {
    test('every sealed secret re-sealed under the new key, one audit entry, the old key refused afterwards', async () => {
      const { store, cleanup } = await driver.open();
      const oldKey = randomBytes(32);
      const newKey = randomBytes(32);
      try {
        const cp = plane(store, new SecretBox([oldKey]));
        const psks = await fabric(cp);
        const poolKeyA = await cp.poolPrivateKey('a', admin);
        assert.deepEqual([...await sealedUnder(store)], [[masterKeyId(oldKey), 22]]);
        // The operator added the new key to the key file: the ring holds both.
        const cp2 = plane(store, new SecretBox([oldKey, newKey]));
        const audit = (await cp2.listAudit({ limit: 1000 })).items.length;
        const res = await cp2.rotateMasterKey(undefined, admin);
        assert.deepEqual({ ...res, revision: 0 }, { from: masterKeyId(oldKey), to: masterKeyId(newKey), resealed: { pools: 2, presharedKeys: 20 }, revision: 0 });
        assert.deepEqual([...await sealedUnder(store)], [[masterKeyId(newKey), 22]]);
        const entries = (await cp2.listAudit({ limit: 1000 })).items;
        assert.equal(entries.length, audit + 1, 'exactly one audit entry');
        assert.deepEqual(entries.filter((e) => e.kind === 'master-key').map((e) => ({ ...e, id: '', time: '' })), [
          { id: '', time: '', revision: res.revision, actor: 'tester', action: 'update', kind: 'master-key', object: `master-key/${masterKeyId(newKey)}` }]);
        assert.ok(entries.some((e) => e.revision === res.revision));
        
        // Nothing lost: a server with only the new key opens everything.
        const fresh = plane(store, new SecretBox([newKey]));
        assert.equal(await fresh.checkMasterKey(), null);
        await assertPsks(fresh, psks);
        assert.equal(await fresh.poolPrivateKey('a', admin), poolKeyA);
        // The old key is refused: alone, and even beside the new one it is dropped.
        await rejectsWith(plane(store, new SecretBox([oldKey])).checkMasterKey(), 'WGF_ERR_MASTER_KEY_RETIRED');
        const both = new SecretBox([oldKey, newKey]);
        await plane(store, both).checkMasterKey();
        assert.deepEqual(both.keyIds, [masterKeyId(newKey)]);
        // New secrets from any replica are sealed under the new key, also by one whose file lists the old key first.
        const stale = plane(store, new SecretBox([oldKey, newKey]));
        await stale.createPeer('a', { name: 'late', publicKey: pubkey(), presharedKey: toBase64(randomBytes(32)) }, admin);
        await stale.createPool({ name: 'c', ipv4Prefix: '10.49.0.0/24' }, admin);
        assert.deepEqual([...await sealedUnder(store)], [[masterKeyId(newKey), 24]]);
        // A rotation needs a new key; retired keys cannot come back.
        await rejectsWith(fresh.rotateMasterKey(undefined, admin), 'WGF_ERR_VALIDATION');
        await rejectsWith(plane(store, new SecretBox([newKey, oldKey])).rotateMasterKey(masterKeyId(oldKey), admin), 'WGF_ERR_VALIDATION');
        await rejectsWith(fresh.rotateMasterKey('nothex', admin), 'WGF_ERR_VALIDATION');
      } finally {
        await cleanup();
      }
    });

    test('a replica that learns the new key from its key file (reload) seals under it; one that lacks it refuses with WGF_ERR_MASTER_KEY_MISSING', async () => {
      const { store, cleanup } = await driver.open();
      const oldKey = randomBytes(32);
      const newKey = randomBytes(32);
      try {
        const a = plane(store, new SecretBox([oldKey, newKey]));
        await a.createPool({ name: 'a', ipv4Prefix: '10.50.0.0/24' }, admin);
        let file = [oldKey];
        const b = plane(store, new SecretBox([oldKey], { reload: () => file }));
        const lacking = plane(store, new SecretBox([oldKey]));
        file = [oldKey, newKey]; // the operator put the new key file on B's machine
        await a.rotateMasterKey(masterKeyId(newKey), admin);
        const psk = toBase64(randomBytes(32));
        await b.createPeer('a', { name: 'x', publicKey: pubkey(), presharedKey: psk }, admin);
        assert.equal(sealedKeyId(JSON.parse((await store.get(K.peerKey('a', 'x')))!.value).presharedKeySealed), masterKeyId(newKey));
        assert.equal((await b.poolSnapshot('a', { presharedKeys: true })).peers[0]!.presharedKey, psk);
        await rejectsWith(lacking.createPeer('a', { name: 'y', publicKey: pubkey(), presharedKey: psk }, admin), 'WGF_ERR_MASTER_KEY_MISSING');
        assert.equal(await store.get(K.peerKey('a', 'y')), undefined, 'nothing half-applied');
        await rejectsWith(lacking.checkMasterKey(), 'WGF_ERR_MASTER_KEY_RETIRED');
      } finally {
        await cleanup();
      }
    });

    test('a crash in the middle of the re-sealing loses nothing; running the rotation again finishes it', async () => {
      const { store, cleanup } = await driver.open();
      const oldKey = randomBytes(32);
      const newKey = randomBytes(32);
      try {
        const psks = await fabric(plane(store, new SecretBox([oldKey])));
        // The process "dies" at its 4th re-sealing txn (after the switch and 2 re-seals).
        let txns = 0;
        const dying = new Proxy(store, {
          get(target, prop) {
            if (prop === 'txn') {
              return (...args: Parameters<Store['txn']>) => {
                if (++txns === 4) return Promise.reject(new Error('killed'));
                return target.txn(...args);
              };
            }
            const v = Reflect.get(target, prop, target);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        });
        await assert.rejects(plane(dying, new SecretBox([oldKey, newKey])).rotateMasterKey(undefined, admin), /killed/);
        const mixed = await sealedUnder(store);
        assert.equal(mixed.size, 2, 'half re-sealed');
        assert.equal(JSON.parse((await store.get(MASTER_KEY_STATE_KEY))!.value).rotation.to, masterKeyId(newKey));
        // Restarted with both keys: it starts (with a warning), everything opens, writes go under the new key.
        const cp = plane(store, new SecretBox([oldKey, newKey]));
        assert.match((await cp.checkMasterKey())!, /unfinished/);
        await assertPsks(cp, psks);
        // Without the old key it refuses to start: secrets are still under it.
        await rejectsWith(plane(store, new SecretBox([newKey])).checkMasterKey(), 'WGF_ERR_MASTER_KEY_MISSING');
        // Another target while one is unfinished is refused; the same one finishes it.
        await rejectsWith(cp.rotateMasterKey(masterKeyId(randomBytes(32)), admin), 'WGF_ERR_CONFLICT');
        const res = await cp.rotateMasterKey(undefined, admin);
        assert.equal(res.to, masterKeyId(newKey));
        assert.deepEqual([...await sealedUnder(store)], [[masterKeyId(newKey), 22]]);
        await assertPsks(plane(store, new SecretBox([newKey])), psks);
        assert.equal((await cp.listAudit({ limit: 1000 })).items.filter((e) => e.kind === 'master-key').length, 1);
      } finally {
        await cleanup();
      }
    });
  });
}
