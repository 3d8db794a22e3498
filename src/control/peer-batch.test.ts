import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { PeerBatchItem } from '../protocol/api.js';
import { isFabricError } from '../protocol/errors.js';
import { MemoryStore } from '../store/memory.js';
import type { Store } from '../store/store.js';
import { lastWrites } from './group-commit.js';
import { Overlay } from './overlay.js';
import { admin, makePlane, pubkey, rejectsWith } from './testing/fixtures.js';
import { checkInvariants } from './testing/invariants.js';
import { DRIVERS, etcdDriver } from './testing/stores.js';
import type { ControlPlane } from './plane.js';

const create = (name: string, extra: Record<string, unknown> = {}): PeerBatchItem => ({ op: 'create', peer: { name, publicKey: pubkey(), ...extra } });

// On a real etcd too (started with the limits the lab and the README give it): a batch of
// 1,000 is one etcd txn of ~5,000 operations, which etcd's defaults (128) refuse.
const etcd = etcdDriver();
after(() => etcd.stop());

for (const driver of [...DRIVERS, etcd]) {
  const withPlane = (fn: (cp: ControlPlane) => Promise<void>) => async () => {
    const { store, cleanup } = await driver.open();
    try {
      const cp = makePlane(store);
      await cp.createPool({ name: 'b', ipv4Prefix: '10.90.0.0/22', ipv6Prefix: 'fd90::/64' }, admin);
      await fn(cp);
      assert.deepEqual(await checkInvariants(store), []);
    } finally {
      await cleanup();
    }
  };

  const withStore = (fn: (cp: ControlPlane, store: Store) => Promise<void>) => async () => {
    const { store, cleanup } = await driver.open();
    try {
      const cp = makePlane(store);
      await cp.createPool({ name: 'b', ipv4Prefix: '10.90.0.0/22', ipv6Prefix: 'fd90::/64' }, admin);
      await fn(cp, store);
      assert.deepEqual(await checkInvariants(store), []);
    } finally {
      await cleanup();
    }
  };

  describe(`${driver.name}: peer batch`, { skip: driver === etcd ? etcd.skip : false }, () => {
    test('1,000 creations: one revision for all, distinct addresses, one audit entry each, one txn in the change stream', withPlane(async (cp) => {
      const before = await cp.currentRevision();
      const res = await cp.peerBatch('b', Array.from({ length: 1000 }, (_, i) => create(`p${i}`)), admin);
      assert.equal(res.revision, before + 1);
      assert.equal(res.results.length, 1000);
      assert.ok(res.results.every((r, i) => r.index === i && r.op === 'create' && r.peer?.revision === res.revision));
      const v4 = new Set(res.results.map((r) => r.peer!.addresses[0]));
      const v6 = new Set(res.results.map((r) => r.peer!.addresses[1]));
      assert.equal(v4.size, 1000);
      assert.equal(v6.size, 1000);
      assert.equal(await cp.store.count('audit/'), 1001, 'the pool and each peer');
      const changes = await cp.poolChanges('b', before);
      assert.equal(changes.changes.length, 1000);
      assert.ok(changes.changes.every((c) => c.revision === res.revision));
      // IPAM goes on after the batch: the next single creation takes a free address.
      const next = await cp.createPeer('b', { name: 'after', publicKey: pubkey() }, admin);
      assert.ok(!v4.has(next.addresses[0]!));
    }));

    test('any failing item refuses the whole batch with WGF_ERR_BATCH_REJECTED naming each failing item; nothing applied', withPlane(async (cp) => {
      const taken = pubkey();
      await cp.createPeer('b', { name: 'old', publicKey: taken, addresses: ['10.90.0.9'] }, admin);
      const rev = await cp.currentRevision();
      const items: PeerBatchItem[] = Array.from({ length: 20 }, (_, i) => create(`n${i}`));
      items[5] = create('n5', { publicKey: taken });
      items[9] = { op: 'create', peer: { name: 'n9', publicKey: 'not a key' } };
      items[12] = create('n1');
      items[14] = create('n14', { addresses: ['10.90.0.9'] });
      items[15] = { op: 'delete', name: 'missing' };
      items[16] = { op: 'update', name: 'old', patch: { nope: 1 } } as unknown as PeerBatchItem;
      const err = await rejectsWith(cp.peerBatch('b', items, admin), 'WGF_ERR_BATCH_REJECTED');
      assert.ok(isFabricError(err));
      const failed = err.details!['failed'] as { index: number; code: string }[];
      assert.deepEqual(failed.map((f) => [f.index, f.code]), [
        [5, 'WGF_ERR_ALREADY_EXISTS'], [9, 'WGF_ERR_VALIDATION'], [12, 'WGF_ERR_VALIDATION'], [14, 'WGF_ERR_ALREADY_EXISTS'], [15, 'WGF_ERR_NOT_FOUND'], [16, 'WGF_ERR_VALIDATION'],
      ]);
      assert.equal(await cp.currentRevision(), rev);
      assert.deepEqual((await cp.listPeers('b')).items.map((p) => p.name), ['old']);
    }));

    test('create, update and delete in one revision; a key and an address freed by a delete are reused in the same batch', withPlane(async (cp) => {
      const key = pubkey();
      await cp.createPeer('b', { name: 'a', publicKey: key, addresses: ['10.90.0.7'] }, admin);
      const c = await cp.createPeer('b', { name: 'c', publicKey: pubkey() }, admin);
      const res = await cp.peerBatch('b', [
        { op: 'delete', name: 'a' },
        { op: 'create', peer: { name: 'b1', publicKey: key, addresses: ['10.90.0.7'] } },
        { op: 'update', name: 'c', patch: { labels: { team: 'x' } }, ifMatch: c.revision },
      ], admin);
      assert.deepEqual(res.results.map((r) => [r.op, r.name, r.peer?.revision]), [['delete', 'a', undefined], ['create', 'b1', res.revision], ['update', 'c', res.revision]]);
      assert.deepEqual((await cp.listPeers('b')).items.map((p) => p.name), ['b1', 'c']);
      assert.deepEqual((await cp.getPeer('b', 'c')).labels, { team: 'x' });
      await rejectsWith(cp.peerBatch('b', [{ op: 'update', name: 'c', patch: { enabled: false }, ifMatch: c.revision }], admin), 'WGF_ERR_BATCH_REJECTED');
    }));

    test('0 or more than 1,000 items is WGF_ERR_VALIDATION', withPlane(async (cp) => {
      await rejectsWith(cp.peerBatch('b', [], admin), 'WGF_ERR_VALIDATION');
      await rejectsWith(cp.peerBatch('b', Array.from({ length: 1001 }, (_, i) => create(`x${i}`)), admin), 'WGF_ERR_VALIDATION');
    }));

    test('group commit: 200 concurrent creations share txns, each answered and audited on its own; a failing one fails alone', withPlane(async (cp) => {
      const before = await cp.currentRevision();
      const dup = pubkey();
      const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) =>
        cp.createPeer('b', { name: i === 150 ? 'g0' : `g${i}`, publicKey: i === 7 || i === 8 ? dup : pubkey() }, admin)));
      const rejected = results.flatMap((r, i) => (r.status === 'rejected' ? [[i, (r.reason as { code?: string }).code]] : []));
      assert.deepEqual(rejected, [[8, 'WGF_ERR_ALREADY_EXISTS'], [150, 'WGF_ERR_ALREADY_EXISTS']]);
      const peers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      assert.equal(new Set(peers.map((p) => p.addresses[0])).size, 198);
      const revisions = new Set(peers.map((p) => p.revision));
      assert.ok(revisions.size < 198, `198 creations took ${revisions.size} revisions`);
      assert.equal(await cp.currentRevision(), before + revisions.size);
      assert.equal((await cp.listAudit({ limit: 1000 })).items.filter((a) => a.action === 'create' && a.kind === 'peer').length, 198);
    }));

    test('group commit: a txn of several creations writes each key once (the allocator hints too), in the state the creations one by one leave', withStore(async (cp, store) => {
      const before = await store.currentRevision();
      const peers = await Promise.all(Array.from({ length: 40 }, (_, i) => cp.createPeer('b', { name: `h${i}`, publicKey: pubkey() }, admin)));
      const { events } = await store.changes('', before);
      const revs = new Set(events.map((e) => e.revision));
      assert.ok(revs.size < 40, `40 creations took ${revs.size} revisions`);
      for (const rev of revs) {
        const keys = events.filter((e) => e.revision === rev).map((e) => e.key);
        assert.equal(new Set(keys).size, keys.length, `revision ${rev} writes a key twice: ${keys.join(' ')}`);
      }
      // The hint points past the highest address handed out, as after 40 creations one by one.
      const n = (a: string) => { const [x, y] = a.split('/')[0]!.split('.').slice(2).map(Number); return 256 * x! + y!; };
      const highest = Math.max(...peers.map((p) => n(p.addresses[0]!)));
      const next = await cp.createPeer('b', { name: 'h-next', publicKey: pubkey() }, admin);
      assert.equal(n(next.addresses[0]!), highest + 1);
    }));
  });
}

test('overlay: reads see pending puts and deletes, pages stay ordered and complete', async () => {
  const store = new MemoryStore();
  await store.txn([], ['a/1', 'a/3', 'a/5', 'a/7'].map((key) => ({ type: 'put' as const, key, value: 'old' })));
  const o = new Overlay(store);
  o.apply([{ type: 'put', key: 'a/4', value: 'new' }, { type: 'delete', key: 'a/5' }, { type: 'put', key: 'a/9', value: 'new' }, { type: 'put', key: 'a/1', value: 'new' }]);
  assert.equal((await o.get('a/5')), undefined);
  assert.equal((await o.get('a/1'))?.value, 'new');
  assert.equal((await o.get('a/3'))?.value, 'old');
  const keys: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await o.range('a/', { limit: 2, ...(after ? { after } : {}) });
    keys.push(...page.kvs.map((kv) => kv.key));
    if (!page.more) break;
    after = page.kvs.at(-1)?.key ?? after;
  }
  assert.deepEqual(keys, ['a/1', 'a/3', 'a/4', 'a/7', 'a/9']);
  assert.deepEqual((await o.range('a/')).kvs.map((kv) => kv.key), ['a/1', 'a/3', 'a/4', 'a/7', 'a/9']);
});

test('lastWrites: a put that a later op of the txn overwrites is dropped; deletes and the order of the rest stay', () => {
  const put = (key: string, value: string) => ({ type: 'put' as const, key, value });
  const del = (key: string) => ({ type: 'delete' as const, key });
  assert.deepEqual(lastWrites([put('h', '1'), put('a', 'x'), put('h', '2'), del('b'), put('b', 'y'), put('c', 'z'), del('c'), put('h', '3')]),
    [put('a', 'x'), del('b'), put('b', 'y'), del('c'), put('h', '3')]);
  const once = [put('a', '1'), del('b')];
  assert.deepEqual(lastWrites(once), once);
});

test('overlay: a key read twice from the store is read once (the plans of one txn share their reads); pending writes still win', async () => {
  const store = new MemoryStore();
  await store.txn([], [{ type: 'put', key: 'k', value: 'v1' }]);
  let reads = 0;
  const counting = { get: async (key: string) => { reads++; return store.get(key); }, range: store.range.bind(store) };
  const o = new Overlay(counting);
  assert.equal((await o.get('k'))?.value, 'v1');
  assert.equal((await o.get('k'))?.value, 'v1');
  assert.equal(reads, 1);
  o.apply([{ type: 'put', key: 'k', value: 'v2' }]);
  assert.equal((await o.get('k'))?.value, 'v2');
});
