import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../store/memory.js';
import { auditChanges, auditedKey } from './audit-diff.js';
import { admin, makePlane, pubkey } from './testing/fixtures.js';

test('auditChanges: the changed fields before/after, bookkeeping left out, secrets only as (none)/(set)/(changed)', () => {
  const before = { name: 'n1', adminState: 'active', weight: 1, labels: { a: '1' }, updatedAt: 't1', presharedKeySealed: 'SEALED1', hash: 'h' };
  const after = { name: 'n1', adminState: 'draining', weight: 1, labels: { a: '2' }, updatedAt: 't2', presharedKeySealed: 'SEALED2', hash: 'h', endpoint: '1.2.3.4:5' };
  assert.deepEqual(auditChanges(before, after), [
    { field: 'adminState', before: 'active', after: 'draining' },
    { field: 'endpoint', after: '1.2.3.4:5' },
    { field: 'labels', before: { a: '1' }, after: { a: '2' } },
    { field: 'presharedKey', secret: true, before: '(set)', after: '(changed)' },
  ]);
  assert.deepEqual(auditChanges({ x: 1 }, { x: 1, privateKeySealed: 'S' }), [{ field: 'privateKey', secret: true, before: '(none)', after: '(set)' }]);
  assert.deepEqual(auditChanges({ hash: 'abc', name: 't' }, null), [{ field: 'hash', secret: true, before: '(set)', after: '(none)' }, { field: 'name', before: 't' }]);
  assert.equal(auditedKey('pool', 'pools/p'), 'pools/p/pool');
  assert.equal(auditedKey('pool', 'pools/p/private-key'), null);
  assert.equal(auditedKey('node', 'pools/p/nodes/n'), 'pools/p/nodes/n');
  assert.equal(auditedKey('store', 'store'), null);
});

test('audit entries of the control plane carry what changed; no secret reaches the audit log', async () => {
  const store = new MemoryStore();
  const cp = makePlane(store);
  await cp.createPool({ name: 'p', ipv4Prefix: '10.5.0.0/24' }, admin);
  await cp.createNode('p', { name: 'n1', endpoint: '192.0.2.1:51820' }, admin);
  await cp.updateNode('p', 'n1', { adminState: 'draining', weight: 5 }, admin);
  const psk = Buffer.alloc(32, 7).toString('base64');
  await cp.createPeer('p', { name: 'alice', publicKey: pubkey() }, admin);
  await cp.updatePeer('p', 'alice', { presharedKey: psk, labels: { team: 'x' } }, admin);
  const t = await cp.createToken({ name: 'ops', role: 'operator' }, admin);
  await cp.deleteNode('p', 'n1', admin);
  const items = (await cp.listAudit({})).items;
  const of = (action: string, object: string) => items.find((e) => e.action === action && e.object === object)!;
  assert.deepEqual(of('update', 'pools/p/nodes/n1').changes, [{ field: 'adminState', before: 'active', after: 'draining' }, { field: 'weight', before: 1, after: 5 }]);
  const peer = of('update', 'pools/p/peers/alice').changes!;
  assert.deepEqual(peer.find((c) => c.field === 'presharedKey'), { field: 'presharedKey', secret: true, before: '(none)', after: '(set)' });
  assert.deepEqual(peer.find((c) => c.field === 'labels'), { field: 'labels', before: {}, after: { team: 'x' } });
  const created = of('create', 'pools/p').changes!;
  assert.ok(created.some((c) => c.field === 'ipv4Prefix' && c.after === '10.5.0.0/24'));
  assert.deepEqual(created.find((c) => c.field === 'privateKey'), { field: 'privateKey', secret: true, before: '(none)', after: '(set)' });
  assert.deepEqual(of('create', `tokens/${t.token.id}`).changes!.find((c) => c.field === 'hash'), { field: 'hash', secret: true, before: '(none)', after: '(set)' });
  assert.ok(of('delete', 'pools/p/nodes/n1').changes!.some((c) => c.field === 'adminState' && c.before === 'draining' && !('after' in c)));
  const text = JSON.stringify(items);
  assert.ok(!text.includes(psk) && !text.includes(t.secret) && !text.includes('Sealed'), 'no secret, sealed value or hash in the audit log');
  for (const kv of (await store.range('audit/')).kvs) assert.ok(!/[A-Za-z0-9+/]{40,}={0,2}"/.test(kv.value.replace(/"publicKey","after":"[^"]+"/g, '')), `no key-like value in ${kv.value}`);
});
