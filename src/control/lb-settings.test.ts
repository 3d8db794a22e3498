import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LbReportInput, PoolUpdate } from '../protocol/api.js';
import { isFabricError } from '../protocol/errors.js';
import * as K from './keys.js';
import { admin } from './testing/fixtures.js';
import { DRIVERS, withPlaneOn } from './testing/stores.js';
import type { ControlPlane } from './plane.js';

// Node weights and pool LB settings: what every load balancer of a pool builds its table from.

const LBR: LbReportInput = {
  vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip', generation: 1, lastError: null, failOpen: false,
  backends: [{ name: 'n1', state: 'up', reason: 'healthy', inTable: true, slots: 251 }],
};

/** Asserts WGF_ERR_VALIDATION naming `field`. */
async function refused(p: Promise<unknown>, field: string, label: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isFabricError(e, 'WGF_ERR_VALIDATION'), `${label}: ${String(e)}`);
    assert.equal(e.details?.['field'], field, label);
    return true;
  }, label);
}

/** Rewrites a stored JSON record without `field`, as a server before that field existed stored it. */
async function dropStoredField(cp: ControlPlane, key: string, field: string): Promise<void> {
  const kv = (await cp.store.get(key))!;
  const rec = JSON.parse(kv.value) as Record<string, unknown>;
  assert.ok(field in rec, `the record holds ${field} before`);
  delete rec[field];
  const r = await cp.store.txn([{ key, modRevision: kv.modRevision }], [{ type: 'put', key, value: JSON.stringify(rec) }]);
  assert.ok(r.succeeded);
}

for (const driver of DRIVERS) {
  describe(`node weights and pool LB settings on ${driver.name}`, () => {
    const withPlane = (fn: (cp: ControlPlane) => Promise<void>) => withPlaneOn(driver, fn);

    test('the table size keeps a slot for every node: a smaller size is refused, and so is a node beyond it', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24', lb: { tableSize: 3 } }, admin);
      for (const n of ['n1', 'n2', 'n3']) await cp.createNode('p', { name: n }, admin);
      await refused(cp.createNode('p', { name: 'n4' }, admin), 'lb.tableSize', 'a 4th node in 3-slot tables');
      await cp.updatePool('p', { lb: { tableSize: 5 } }, admin);
      await cp.createNode('p', { name: 'n4' }, admin);
      await refused(cp.updatePool('p', { lb: { tableSize: 3 } }, admin), 'lb.tableSize', '3 slots for 4 nodes');
      assert.equal((await cp.getPool('p')).lb.tableSize, 5, 'nothing changed');
    }));

    test('node weight: default 1, set on create, changed by update (audited, a node.put in the change stream)', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      const n1 = await cp.createNode('p', { name: 'n1', endpoint: '198.18.0.1:51820' }, admin);
      assert.equal(n1.weight, 1);
      const n2 = await cp.createNode('p', { name: 'n2', weight: 5 }, admin);
      assert.equal(n2.weight, 5);
      assert.equal((await cp.getNode('p', 'n2')).weight, 5);
      const u = await cp.updateNode('p', 'n1', { weight: 1000 }, { actor: 'ops', ifMatch: n1.revision });
      assert.equal(u.weight, 1000);
      assert.equal(u.endpoint, '198.18.0.1:51820', 'other fields kept');
      assert.deepEqual((await cp.listNodes('p')).items.map((n) => [n.name, n.weight]), [['n1', 1000], ['n2', 5]]);
      const { changes } = await cp.poolChanges('p', n1.revision);
      const put = changes.find((c) => c.type === 'node.put' && c.revision === u.revision);
      assert.ok(put && put.type === 'node.put' && put.node.weight === 1000, 'the weight change is in the pool change stream');
      const audit = (await cp.listAudit({ object: 'pools/p/nodes/n1' })).items;
      assert.deepEqual(audit.map((e) => [e.action, e.actor, e.revision]), [['create', admin.actor, n1.revision], ['update', 'ops', u.revision]]);
      assert.equal((await cp.poolSnapshot('p')).nodes.find((n) => n.name === 'n1')!.weight, 1000);
    }));

    test('node weight: 0, 1001, fractions and non-numbers are WGF_ERR_VALIDATION (field weight), nothing written', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      await cp.createNode('p', { name: 'n1' }, admin);
      const rev = await cp.currentRevision();
      for (const w of [0, 1001, -1, 1.5, '2' as never, null as never]) {
        await refused(cp.createNode('p', { name: 'n2', weight: w }, admin), 'weight', `create weight ${String(w)}`);
        await refused(cp.updateNode('p', 'n1', { weight: w }, admin), 'weight', `update weight ${String(w)}`);
      }
      assert.equal(await cp.currentRevision(), rev);
    }));

    test('a node stored before weights existed reads as weight 1 and can be given one', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      await cp.createNode('p', { name: 'old', weight: 3 }, admin);
      await dropStoredField(cp, K.nodeKey('p', 'old'), 'weight');
      assert.equal((await cp.getNode('p', 'old')).weight, 1);
      assert.equal((await cp.listNodes('p')).items[0]!.weight, 1);
      assert.equal((await cp.poolSnapshot('p')).nodes[0]!.weight, 1);
      assert.equal((await cp.updateNode('p', 'old', { adminState: 'draining' }, admin)).weight, 1, 'an update of another field keeps the default');
      assert.equal((await cp.updateNode('p', 'old', { weight: 4 }, admin)).weight, 4);
    }));

    test('pool lb: defaults, set on create (partial), merged field by field on update, audited and in the change stream', withPlane(async (cp) => {
      const d = await cp.createPool({ name: 'd', ipv4Prefix: '10.0.0.0/24' }, admin);
      assert.deepEqual(d.lb, { affinity: 'src-ip-port', tableSize: 65537 });
      const p = await cp.createPool({ name: 'p', ipv4Prefix: '10.1.0.0/24', lb: { tableSize: 251 } }, admin);
      assert.deepEqual(p.lb, { affinity: 'src-ip-port', tableSize: 251 });
      const u1 = await cp.updatePool('p', { lb: { affinity: 'src-ip' } }, { actor: 'ops', ifMatch: p.revision });
      assert.deepEqual(u1.lb, { affinity: 'src-ip', tableSize: 251 }, 'the table size is kept');
      const u2 = await cp.updatePool('p', { lb: { tableSize: 16381 } }, admin);
      assert.deepEqual(u2.lb, { affinity: 'src-ip', tableSize: 16381 }, 'the affinity is kept');
      const u3 = await cp.updatePool('p', { mtu: 1400 }, admin);
      assert.deepEqual(u3.lb, u2.lb, 'an update without lb keeps it');
      assert.deepEqual((await cp.getPool('p')).lb, { affinity: 'src-ip', tableSize: 16381 });
      assert.deepEqual((await cp.listPools()).items.map((x) => [x.name, x.lb.tableSize]), [['d', 65537], ['p', 16381]]);
      const { changes } = await cp.poolChanges('p', p.revision);
      assert.deepEqual(changes.filter((c) => c.type === 'pool.put').map((c) => c.type === 'pool.put' && c.pool.lb), [u1.lb, u2.lb, u3.lb]);
      assert.deepEqual((await cp.listAudit({ object: 'pools/p' })).items.filter((e) => e.object === 'pools/p').map((e) => [e.action, e.actor]),
        [['create', admin.actor], ['update', 'ops'], ['update', admin.actor], ['update', admin.actor]]);
    }));

    test('pool lb: bad values are WGF_ERR_VALIDATION naming lb.affinity or lb.tableSize, nothing written', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      const rev = await cp.currentRevision();
      const cases: [string, unknown, string][] = [
        ['not a prime', { tableSize: 65536 }, 'lb.tableSize'],
        ['2 (Maglev needs 3 or more)', { tableSize: 2 }, 'lb.tableSize'],
        ['1', { tableSize: 1 }, 'lb.tableSize'],
        ['beyond 2^24', { tableSize: 16777259 }, 'lb.tableSize'],
        ['a string', { tableSize: '65537' }, 'lb.tableSize'],
        ['an unknown affinity', { affinity: 'dst-ip' }, 'lb.affinity'],
        ['an unknown field', { seed: 1 }, 'lb'],
        ['not an object', 'src-ip', 'lb'],
      ];
      for (const [label, lb, field] of cases) {
        await refused(cp.updatePool('p', { lb } as PoolUpdate, admin), field, `update: ${label}`);
        await refused(cp.createPool({ name: 'q', ipv4Prefix: '10.1.0.0/24', lb } as never, admin), field, `create: ${label}`);
      }
      assert.equal(await cp.currentRevision(), rev);
      assert.deepEqual((await cp.getPool('p')).lb, { affinity: 'src-ip-port', tableSize: 65537 });
    }));

    test('a pool stored before LB settings existed reads as the defaults; an update starts from them', withPlane(async (cp) => {
      await cp.createPool({ name: 'old', ipv4Prefix: '10.0.0.0/24', lb: { affinity: 'src-ip', tableSize: 251 } }, admin);
      await dropStoredField(cp, K.poolKey('old'), 'lb');
      assert.deepEqual((await cp.getPool('old')).lb, { affinity: 'src-ip-port', tableSize: 65537 });
      assert.deepEqual((await cp.poolSnapshot('old')).pool.lb, { affinity: 'src-ip-port', tableSize: 65537 });
      assert.deepEqual((await cp.updatePool('old', { lb: { affinity: 'src-ip' } }, admin)).lb, { affinity: 'src-ip', tableSize: 65537 });
    }));

    test('LB reports carry the affinity; a report stored before it existed reads as src-ip-port', withPlane(async (cp) => {
      await cp.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, admin);
      assert.equal((await cp.putLbStatus('p', 'lb1', LBR, admin)).affinity, 'src-ip');
      assert.equal((await cp.getLbStatus('p', 'lb1')).affinity, 'src-ip');
      await refused(cp.putLbStatus('p', 'lb1', { ...LBR, affinity: 'dst-ip' as never }, admin), 'affinity', 'unknown affinity');
      await dropStoredField(cp, K.lbStatusKey('p', 'lb1'), 'affinity');
      assert.equal((await cp.getLbStatus('p', 'lb1')).affinity, 'src-ip-port');
      assert.equal((await cp.listLbStatus('p')).items[0]!.affinity, 'src-ip-port');
    }));
  });
}
