import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planLabDns, renderKnotConf, renderLabZone } from './dns.js';

test('the lab DNS plan: names with the lab tag, address .53 on the lab segment, files under the lab dir', () => {
  const d = planLabDns({ tag: '0e5c', subnet: '198.18.92.0/24' }, '/x/labs/0e5c');
  assert.equal(d.netns, 'wgl0e5cdn');
  assert.ok(d.vethHost.length <= 15 && d.vethNs.length <= 15);
  assert.equal(d.address, '198.18.92.53');
  assert.equal(d.name, 'vpn.lab.test');
  assert.ok(d.controlSocket.startsWith('/x/labs/0e5c/') && d.keyFile.startsWith('/x/labs/0e5c/') && d.dir.startsWith('/x/labs/0e5c/'));
});

test('knot.conf: listens on the lab address only, updates only with the lab key; zone with SOA, NS and the server', () => {
  const d = planLabDns({ tag: '0e5c', subnet: '198.18.92.0/24' }, '/x/labs/0e5c');
  const conf = renderKnotConf(d, 'wgfabric-lab0e5c', 'c2VjcmV0c2VjcmV0c2VjcmV0');
  assert.match(conf, /listen: 198\.18\.92\.53@53\n/);
  assert.match(conf, /acl:\n {2}- id: wgfabric-update\n {4}key: wgfabric-lab0e5c\n {4}action: update/);
  assert.match(conf, /zone:\n {2}- domain: lab\.test\n {4}acl: wgfabric-update/);
  assert.match(conf, /rundir: "\/x\/labs\/0e5c\/knot"/);
  assert.match(renderKnotConf(d, 'k', 's', 27053), /@27053\n/);
  const zone = renderLabZone(d);
  assert.match(zone, /@ SOA ns\.lab\.test\. hostmaster\.lab\.test\. 1 60 60 600 5/);
  assert.match(zone, /ns A 198\.18\.92\.53/);
});
