import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Peer, PoolSnapshot } from '../protocol/types.js';
import { DesiredState, specComputations, specOf } from './desired.js';
import { normalizeCidr } from '../wg/addr.js';
import { randomCidr } from '../wg/testing/gen-config.js';
import { Rng, testSeed } from '../wg/testing/random.js';
import { diffDesired, diffPeers, type PeerOp } from './diff.js';

const NOW = new Date('2026-11-24T12:00:00Z');
const key = (i: number) => Buffer.alloc(32, i).toString('base64');

function peer(name: string, i: number, over: Partial<Peer> = {}): Peer {
  return {
    pool: 'p', name, publicKey: key(i), addresses: [`10.0.0.${i}/32`], allowedIps: [], enabled: true, labels: {},
    expiresAt: null, hasPresharedKey: false, revision: i, createdAt: NOW.toISOString(), updatedAt: NOW.toISOString(), ...over,
  };
}

function snapshot(peers: Peer[], revision = 10): PoolSnapshot {
  return { revision, pool: {} as PoolSnapshot['pool'], nodes: [], peers };
}

test('disabled and expired peers are not on the device; future expiry is reported', () => {
  const s = DesiredState.fromSnapshot(snapshot([
    peer('a', 1),
    peer('b', 2, { enabled: false }),
    peer('c', 3, { expiresAt: '2026-11-24T11:00:00Z' }),
    peer('d', 4, { expiresAt: '2026-11-24T13:00:00Z' }),
  ]));
  assert.deepEqual([...s.deviceSpec(NOW).keys()].sort(), [key(1), key(4)].sort());
  assert.equal(s.servedCount(NOW), 2);
  assert.equal(s.nextExpiry(NOW)?.toISOString(), '2026-11-24T13:00:00.000Z');
});

test('changes at or below the current revision are ignored (replay after reconnect)', () => {
  const s = DesiredState.fromSnapshot(snapshot([peer('a', 1)], 10));
  const touched = s.apply([{ type: 'peer.delete', revision: 10, name: 'a', publicKey: key(1) }]);
  assert.equal(touched.size, 0);
  assert.equal(s.size, 1);
});

test('a key rotation touches the old and the new key', () => {
  const s = DesiredState.fromSnapshot(snapshot([peer('a', 1)], 10));
  const touched = s.apply([{ type: 'peer.put', revision: 11, peer: peer('a', 9) }]);
  assert.deepEqual([...touched].sort(), [key(1), key(9)].sort());
  const ops = diffPeers(s.specsFor(touched, NOW), new Map([[key(1), { publicKey: key(1), allowedIps: ['10.0.0.1/32'] }]]), touched);
  assert.deepEqual(ops.map((o) => o.op).sort(), ['remove', 'upsert']);
  assert.equal(s.revision, 11);
});

test('diff is empty for a device that matches, and repairs every kind of drift', () => {
  const s = DesiredState.fromSnapshot(snapshot([peer('a', 1), peer('b', 2, { allowedIps: ['192.168.5.0/24'] })]));
  const want = s.deviceSpec(NOW);
  assert.deepEqual(diffPeers(want, new Map(want)), []);
  const drifted = new Map(want);
  drifted.delete(key(1)); // removed by hand
  drifted.set(key(2), { publicKey: key(2), allowedIps: ['10.0.0.2/32'] }); // changed by hand
  drifted.set(key(7), { publicKey: key(7), allowedIps: ['10.0.0.7/32'] }); // nobody asked for it
  const ops = diffPeers(want, drifted).map((o) => JSON.stringify(o)).sort();
  const expected = [
    { op: 'upsert', spec: { publicKey: key(1), allowedIps: ['10.0.0.1/32'] }, added: true },
    { op: 'upsert', spec: { publicKey: key(2), allowedIps: ['10.0.0.2/32', '192.168.5.0/24'] }, added: false },
    { op: 'remove', publicKey: key(7) },
  ].map((o) => JSON.stringify(o)).sort();
  assert.deepEqual(ops, expected);
});

test('scoped diff only looks at the touched keys', () => {
  const want = new Map([[key(1), { publicKey: key(1), allowedIps: ['10.0.0.1/32'] }]]);
  const actual = new Map([[key(5), { publicKey: key(5), allowedIps: ['10.0.0.5/32'] }]]);
  assert.deepEqual(diffPeers(want, actual, [key(1)]), [{ op: 'upsert', spec: want.get(key(1)), added: true }]);
});

test('every change of one revision is applied: several puts and deletes in one batch', () => {
  const s = DesiredState.fromSnapshot(snapshot([peer('a', 1), peer('b', 2), peer('c', 3)], 10));
  const touched = s.apply([
    { type: 'peer.delete', revision: 11, name: 'a', publicKey: key(1) },
    { type: 'peer.delete', revision: 11, name: 'b', publicKey: key(2) },
    { type: 'peer.put', revision: 11, peer: peer('d', 4, { revision: 11 }) },
    { type: 'peer.put', revision: 11, peer: peer('e', 5, { revision: 11 }) },
    { type: 'peer.put', revision: 12, peer: peer('f', 6, { revision: 12 }) },
    { type: 'peer.delete', revision: 12, name: 'c', publicKey: key(3) },
  ]);
  assert.deepEqual([...s.deviceSpec(NOW).keys()].sort(), [key(4), key(5), key(6)].sort());
  assert.equal(touched.size, 6);
  assert.equal(s.revision, 12);
});

test('revisions split across stream reads arrive as separate whole batches; a replayed one is skipped whole', () => {
  const s = DesiredState.fromSnapshot(snapshot([peer('a', 1), peer('b', 2)], 10));
  s.apply([{ type: 'peer.put', revision: 11, peer: peer('c', 3) }, { type: 'peer.put', revision: 11, peer: peer('d', 4) }]);
  s.apply([{ type: 'peer.delete', revision: 12, name: 'a', publicKey: key(1) }, { type: 'peer.delete', revision: 12, name: 'b', publicKey: key(2) }]);
  assert.deepEqual([...s.deviceSpec(NOW).keys()].sort(), [key(3), key(4)].sort());
  // After a reconnect the stream replays revision 12 and brings 13: only 13 is applied.
  const touched = s.apply([
    { type: 'peer.put', revision: 12, peer: peer('a', 1) },
    { type: 'peer.delete', revision: 13, name: 'c', publicKey: key(3) },
    { type: 'peer.put', revision: 13, peer: peer('e', 5) },
  ]);
  assert.deepEqual([...touched].sort(), [key(3), key(5)].sort());
  assert.deepEqual([...s.deviceSpec(NOW).keys()].sort(), [key(4), key(5)].sort());
});

test('a forced pool delete (peer deletes, node delete, pool delete in one revision) empties the desired state', () => {
  const s = DesiredState.fromSnapshot(snapshot([peer('a', 1), peer('b', 2), peer('c', 3), peer('d', 4)], 10));
  const touched = s.apply([
    ...['a', 'b', 'c', 'd'].map((n, i) => ({ type: 'peer.delete' as const, revision: 11, name: n, publicKey: key(i + 1) })),
    { type: 'node.delete', revision: 11, name: 'n1' },
    { type: 'pool.delete', revision: 11, name: 'p' },
  ]);
  assert.equal(s.size, 0);
  assert.equal(touched.size, 4);
  assert.ok(s.poolDeleted);
  const ops = diffPeers(s.specsFor(touched, NOW), new Map([1, 2, 3, 4].map((i) => [key(i), { publicKey: key(i), allowedIps: [] }])), touched);
  assert.equal(ops.filter((o) => o.op === 'remove').length, 4);
});

test('a preshared key change alone makes the peer an upsert; the spec carries the key', () => {
  const psk = Buffer.alloc(32, 7).toString('base64');
  const s = DesiredState.fromSnapshot(snapshot([peer('a', 1)]));
  const before = s.deviceSpec(NOW);
  assert.equal(before.get(key(1))!.presharedKey, undefined);
  s.apply([{ type: 'peer.put', revision: 11, peer: peer('a', 1, { hasPresharedKey: true, presharedKey: psk }) }]);
  const after = s.deviceSpec(NOW);
  assert.equal(after.get(key(1))!.presharedKey, psk);
  assert.deepEqual(diffPeers(after, before), [{ op: 'upsert', spec: after.get(key(1)), added: false }], 'same allowed IPs, new key: upsert');
  assert.deepEqual(diffPeers(before, after), [{ op: 'upsert', spec: before.get(key(1)), added: false }], 'key removed: upsert (the all-zero key clears it)');
  assert.deepEqual(diffPeers(after, after), [], 'idempotent');
});

test('specOf: every address and allowed IP normalised, deduplicated and sorted, whatever their number (property)', () => {
  const rng = new Rng(testSeed(5150));
  for (let i = 0; i < 2000; i++) {
    const pick = (): string => (rng.bool(0.2) ? '10.0.0.1/32' : randomCidr(rng, undefined, rng.bool(0.1)));
    const p = peer('x', 1, { addresses: Array.from({ length: rng.int(3) }, pick), allowedIps: Array.from({ length: rng.int(3) }, pick) });
    const want = [...new Set([...p.addresses, ...p.allowedIps].map((c) => normalizeCidr(c) ?? c))].sort();
    assert.deepEqual(specOf(p).allowedIps, want, JSON.stringify(p));
  }
});

test('the device form of each peer version is computed once: later reads and unrelated changes use the cache', () => {
  const peers = Array.from({ length: 50 }, (_, i) => peer(`p${i}`, i + 1));
  const s = DesiredState.fromSnapshot(snapshot(peers));
  const before = specComputations();
  s.deviceSpec(NOW);
  assert.equal(specComputations() - before, 50);
  s.deviceSpec(NOW);
  s.specsFor([key(1), key(2)], NOW);
  assert.equal(specComputations() - before, 50, 'served from the cache');
  s.apply([{ type: 'peer.put', revision: 11, peer: peer('p0', 1, { addresses: ['10.0.0.99/32'], revision: 11 }) }]);
  assert.deepEqual(s.deviceSpec(NOW).get(key(1))!.allowedIps, ['10.0.0.99/32']);
  assert.equal(specComputations() - before, 51, 'only the changed peer computed again');
});

test('diffPeers equals a naive diff over the union of keys, with and without a scope (property)', () => {
  const rng = new Rng(testSeed(5151));
  const ips = ['10.0.0.1/32', '10.0.0.2/32', 'fd00::1/128'];
  const spec = (k: string) => ({ publicKey: k, allowedIps: ips.filter(() => rng.bool()).sort(), ...(rng.bool(0.2) ? { presharedKey: key(99) } : {}) });
  for (let i = 0; i < 500; i++) {
    const keys = Array.from({ length: 8 }, (_, j) => key(j + 1));
    const desired = new Map<string, ReturnType<typeof spec> | undefined>();
    const actual = new Map<string, ReturnType<typeof spec>>();
    for (const k of keys) {
      if (rng.bool(0.6)) desired.set(k, rng.bool(0.1) ? undefined : spec(k));
      if (rng.bool(0.6)) actual.set(k, rng.bool(0.5) && desired.get(k) ? { ...desired.get(k)! } : spec(k));
    }
    const scope = rng.bool() ? keys.filter(() => rng.bool()) : undefined;
    const want = [...new Set(scope ?? [...desired.keys(), ...actual.keys()])].sort().flatMap((k): PeerOp[] => {
      const w = desired.get(k);
      const h = actual.get(k);
      if (w && (!h || w.allowedIps.join() !== h.allowedIps.join() || (w.presharedKey ?? null) !== (h.presharedKey ?? null))) return [{ op: 'upsert', spec: w, added: !h }];
      return !w && h ? [{ op: 'remove', publicKey: k }] : [];
    });
    assert.deepEqual(diffPeers(desired, actual, scope), want);
  }
});

test('diffDesired (the reconcile, no map of specs) gives exactly diffPeers(deviceSpec(now), actual) (property)', () => {
  const rng = new Rng(testSeed(5152));
  const ips = ['10.0.0.1/32', '10.0.0.2/32', 'fd00::1/128', '10.0.0.9/24'];
  for (let i = 0; i < 300; i++) {
    const peers = Array.from({ length: rng.int(12) }, (_, j) => peer(`p${j}`, j + 1, {
      addresses: ips.filter(() => rng.bool()), enabled: rng.bool(0.85),
      expiresAt: rng.bool(0.2) ? (rng.bool() ? '2026-11-24T11:00:00Z' : '2026-11-24T13:00:00Z') : null,
      ...(rng.bool(0.2) ? { presharedKey: key(99) } : {}),
    }));
    const s = DesiredState.fromSnapshot(snapshot(peers));
    const actual = new Map<string, { publicKey: string; allowedIps: string[]; presharedKey?: string }>();
    for (let j = 1; j <= 14; j++) {
      if (!rng.bool(0.6)) continue;
      const want = s.deviceSpec(NOW).get(key(j));
      actual.set(key(j), want && rng.bool(0.6) ? { ...want, allowedIps: [...want.allowedIps] } : { publicKey: key(j), allowedIps: ips.slice(0, 2).filter(() => rng.bool()) });
    }
    const got = diffDesired(s, actual, NOW);
    const keyOf = (o: PeerOp): string => (o.op === 'remove' ? o.publicKey : o.spec.publicKey);
    assert.deepEqual([...got].sort((x, y) => (keyOf(x) < keyOf(y) ? -1 : 1)), diffPeers(s.deviceSpec(NOW), actual), `case ${i}`);
    // Upserts in the desired (snapshot) order, then removes.
    const order = [...s.deviceSpec(NOW).keys()];
    const ups = got.filter((o) => o.op === 'upsert').map(keyOf);
    assert.deepEqual(ups, order.filter((k) => ups.includes(k)));
    assert.ok(got.findIndex((o) => o.op === 'remove') < 0 || got.slice(got.findIndex((o) => o.op === 'remove')).every((o) => o.op === 'remove'));
    // An upsert is `added` exactly when the device did not have the peer (nothing to clear on it).
    for (const o of [...got, ...diffPeers(s.deviceSpec(NOW), actual), ...diffPeers(s.deviceSpec(NOW), actual, actual.keys())]) {
      if (o.op === 'upsert') assert.equal(o.added, !actual.has(o.spec.publicKey), `case ${i}`);
    }
  }
});
