import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { planLab } from './plan.js';

test('planLab without a load balancer: clients on the lab segment, no LB fields', () => {
  const p = planLab('ab12', 7, 3, 2);
  assert.equal(p.lb, undefined);
  assert.deepEqual(p.clients.map((c) => [c.address, c.bridge, c.gateway, c.listenPort]), [['198.18.7.100', undefined, undefined, undefined], ['198.18.7.101', undefined, undefined, undefined]]);
});

test('planLab with a load balancer: clients behind it on their own bridge, unique short names', () => {
  const p = planLab('ab12', 7, 3, 20, { clientOctet: 9 });
  const lb = p.lb!;
  assert.equal(lb.vip, '198.18.9.2');
  assert.equal(lb.gateway, '198.18.9.1');
  assert.equal(lb.address, '198.18.7.5');
  assert.equal(p.clients[0]!.address, '198.18.9.100');
  assert.equal(p.clients[0]!.bridge, lb.clientBridge);
  assert.equal(p.clients[0]!.gateway, lb.gateway);
  assert.equal(new Set(p.clients.map((c) => c.listenPort)).size, 20, 'a distinct fixed listen port per client');
  const names = [p.bridge, lb.netns, lb.vethHost, lb.vethNs, lb.clientVethHost, lb.clientVethNs, lb.clientBridge,
    ...[...p.backends, ...p.clients].flatMap((h) => [h.netns, h.vethHost, h.vethNs, h.wgIface])];
  assert.equal(new Set(names).size, names.length, 'no name used twice');
  for (const n of names) assert.ok(n.length <= 15 && n.startsWith('wglab12'), n);
  assert.throws(() => planLab('ab12', 7, 3, 2, { clientOctet: 7 }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
});
