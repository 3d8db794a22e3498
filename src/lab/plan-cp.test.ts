import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { IFNAME_MAX } from '../sys/netns.js';
import { etcdEndpoints, initialCluster, planControlPlanes, serverUrlsFor } from './plan-cp.js';
import { planLab } from './plan.js';

test('planControlPlanes: one namespace per etcd member off the other lab addresses, one port per replica', () => {
  const cp = planControlPlanes('ab12', '198.18.7', '198.18.7.1', 3, 'https');
  assert.deepEqual(cp.members.map((m) => m.address), ['198.18.7.61', '198.18.7.62', '198.18.7.63']);
  assert.deepEqual(cp.replicas.map((r) => r.url), ['https://198.18.7.1:7080', 'https://198.18.7.1:7081', 'https://198.18.7.1:7082']);
  const lab = planLab('ab12', 7, 40, 150, { clientOctet: 9, instances: 4, transitOctet: 11 });
  const taken = new Set([lab.hostAddress, ...lab.backends.map((b) => b.address), ...lab.clients.map((c) => c.address), ...lab.lb!.instances.map((l) => l.address)]);
  for (const m of planControlPlanes('ab12', '198.18.7', '198.18.7.1', 5, 'http').members) assert.ok(!taken.has(m.address), m.address);
  const names = cp.members.flatMap((m) => [m.netns, m.vethHost, m.vethNs]);
  assert.equal(new Set(names).size, names.length);
  for (const nm of names) assert.ok(nm.length <= IFNAME_MAX && nm.includes('ab12'), nm);
  assert.equal(initialCluster(cp), 'wglab12-etcd-1=http://198.18.7.61:2380,wglab12-etcd-2=http://198.18.7.62:2380,wglab12-etcd-3=http://198.18.7.63:2380');
  assert.equal(etcdEndpoints(cp), 'http://198.18.7.61:2379,http://198.18.7.62:2379,http://198.18.7.63:2379');
  for (const bad of [0, 6, 1.5]) assert.throws(() => planControlPlanes('ab12', '198.18.7', '198.18.7.1', bad, 'http'), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
});

test('serverUrlsFor: every replica, rotated per client; the single URL without replicas', () => {
  const cp = planControlPlanes('ab12', '198.18.7', '198.18.7.1', 3, 'http');
  const plan = { serverUrl: cp.replicas[0]!.url, controlPlanes: cp };
  assert.equal(serverUrlsFor(plan, 0), 'http://198.18.7.1:7080,http://198.18.7.1:7081,http://198.18.7.1:7082');
  assert.equal(serverUrlsFor(plan, 4), 'http://198.18.7.1:7081,http://198.18.7.1:7082,http://198.18.7.1:7080');
  assert.equal(serverUrlsFor({ serverUrl: 'https://198.18.7.1:7080' }, 2), 'https://198.18.7.1:7080');
});
