import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planLab } from './plan.js';

test('planLab with the dsr return path: one LB, a return router on both bridges, names within 15 bytes', () => {
  const p = planLab('a1b2', 7, 3, 2, { clientOctet: 8, returnPath: 'dsr' });
  assert.equal(p.lb?.returnPath, 'dsr');
  const r = p.lb!.returnRouter!;
  assert.deepEqual([r.address, r.clientAddress], ['198.18.7.2', '198.18.8.3']);
  for (const n of [r.netns, r.vethHost, r.vethNs, r.clientVethHost, r.clientVethNs]) assert.ok(n.length <= 15, n);
  const used = [p.hostAddress, ...p.backends.map((b) => b.address), ...p.lb!.instances.map((i) => i.address), p.lb!.gateway, p.lb!.vip, ...p.clients.map((c) => c.address)];
  assert.ok(!used.includes(r.address) && !used.includes(r.clientAddress), 'the return router\'s addresses are its own');
  assert.equal(planLab('a1b2', 7, 3, 2, { clientOctet: 8 }).lb?.returnRouter, undefined);
});

test('planLab refuses dsr with several LB instances', () => {
  assert.throws(() => planLab('a1b2', 7, 3, 2, { clientOctet: 8, instances: 2, transitOctet: 9, returnPath: 'dsr' }), /one LB instance/);
});
