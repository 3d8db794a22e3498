import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { planLab, type LabPlan } from './plan.js';

function allNames(p: LabPlan): string[] {
  const lb = p.lb;
  return [p.bridge,
    ...(lb ? [lb.clientBridge, ...lb.instances.flatMap((i) => [i.netns, i.vethHost, i.vethNs, i.clientVethHost, i.clientVethNs])] : []),
    ...(lb?.router ? [lb.router.netns, lb.router.clientVethHost, lb.router.clientVethNs, lb.router.transitVethHost, lb.router.transitVethNs, lb.router.transitBridge] : []),
    ...[...p.backends, ...p.clients].flatMap((h) => [h.netns, h.vethHost, h.vethNs, h.wgIface])];
}

test('planLab without a load balancer: clients on the lab segment, no LB fields', () => {
  const p = planLab('ab12', 7, 3, 2);
  assert.equal(p.lb, undefined);
  assert.equal(p.serverUrl, 'https://198.18.7.1:7080', 'HTTPS by default, at the host address the certificate names');
  assert.equal(planLab('ab12', 7, 3, 2, undefined, 'http').serverUrl, 'http://198.18.7.1:7080');
  assert.deepEqual(p.clients.map((c) => [c.address, c.bridge, c.gateway, c.listenPort]), [['198.18.7.100', undefined, undefined, undefined], ['198.18.7.101', undefined, undefined, undefined]]);
});

test('planLab with one load balancer: it owns the gateway and the VIP, replies via the LB, unique short names', () => {
  const p = planLab('ab12', 7, 3, 20, { clientOctet: 9 });
  const lb = p.lb!;
  assert.equal(lb.vip, '198.18.9.2');
  assert.equal(lb.gateway, '198.18.9.1');
  assert.equal(lb.returnPath, 'via-lb');
  assert.equal(lb.router, undefined);
  assert.equal(lb.instances.length, 1);
  assert.equal(lb.instances[0]!.address, '198.18.7.5');
  assert.equal(lb.instances[0]!.frontAddress, lb.gateway);
  assert.equal(p.clients[0]!.address, '198.18.9.100');
  assert.equal(p.clients[0]!.bridge, lb.clientBridge);
  assert.equal(p.clients[0]!.gateway, lb.gateway);
  assert.equal(new Set(p.clients.map((c) => c.listenPort)).size, 20, 'a distinct fixed listen port per client');
  const names = allNames(p);
  assert.equal(new Set(names).size, names.length, 'no name used twice');
  for (const n of names) assert.ok(n.length <= 15 && n.startsWith('wglab12'), n);
  assert.throws(() => planLab('ab12', 7, 3, 2, { clientOctet: 7 }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
});

test('planLab with two load balancers: an ECMP router owns the gateway, the VIP is routed, replies are SNATed', () => {
  const p = planLab('ab12', 7, 3, 6, { clientOctet: 9, instances: 2, transitOctet: 11 });
  const lb = p.lb!;
  const r = lb.router!;
  assert.ok(r, 'a router namespace');
  assert.equal(lb.returnPath, 'snat');
  assert.equal(lb.gateway, '198.18.9.1');
  assert.equal(r.transitAddress, '198.18.11.1');
  assert.equal(lb.vip, '198.18.11.2');
  assert.deepEqual(lb.instances.map((i) => [i.name, i.address, i.frontAddress, i.statusUrl]), [
    ['lb-1', '198.18.7.5', '198.18.11.11', 'http://198.18.7.5:7090'],
    ['lb-2', '198.18.7.6', '198.18.11.12', 'http://198.18.7.6:7090'],
  ]);
  assert.equal(new Set(lb.instances.map((i) => i.instance)).size, 2, 'distinct instance names (one probe peer each)');
  assert.ok(p.backends.every((b) => !lb.instances.some((i) => i.address === b.address)), 'LB and backend addresses differ');
  const names = allNames(p);
  assert.equal(new Set(names).size, names.length, 'no name used twice');
  for (const n of names) assert.ok(n.length <= 15 && n.startsWith('wglab12'), n);
  for (const bad of [{ clientOctet: 9, instances: 2 }, { clientOctet: 9, instances: 2, transitOctet: 9 }, { clientOctet: 9, instances: 2, transitOctet: 7 },
    { clientOctet: 9, instances: 0, transitOctet: 11 }, { clientOctet: 9, instances: 5, transitOctet: 11 }]) {
    assert.throws(() => planLab('ab12', 7, 3, 2, bad), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'), JSON.stringify(bad));
  }
});
