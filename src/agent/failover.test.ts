import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../client/api-client.js';
import { pubkey } from '../control/testing/fixtures.js';
import { buildServer } from '../server/app.js';
import { harness } from '../server/testing/harness.js';
import { Agent } from './agent.js';
import { FakeDevice } from './device-fake.js';
import { HttpSource } from './source-http.js';

async function until(what: string, cond: () => boolean, limitMs = 10_000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > limitMs) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

// Two replicas of one control plane: two HTTP servers over one store (what etcd gives real
// replicas: one revision sequence, so a revision from one replica is valid on the other).
test('an agent whose replica dies resumes its watch on the next one from its last revision, without a snapshot', { timeout: 30_000 }, async () => {
  const h = await harness({ heartbeatMs: 50 });
  const b = await buildServer({ control: h.cp, heartbeatMs: 50 });
  const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
  let agent: Agent | undefined;
  try {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    await b.listen({ host: '127.0.0.1', port: 0 });
    const urlA = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    const urlB = `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
    const api = new ApiClient({ baseUrl: `${urlA},${urlB}`, token: h.tokens.node, failover: { backoffMinMs: 10, backoffMaxMs: 50 } });
    const device = new FakeDevice();
    agent = new Agent({
      pool: 'p1', node: 'n1', source: new HttpSource(api), device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 100,
      backoffMinMs: 10, backoffMaxMs: 50, log: (_l, msg, fields) => logs.push({ msg, ...(fields ? { fields } : {}) }),
    });
    await h.cp.createPeer('p1', { name: 'before', publicKey: pubkey() }, { actor: 'test' });
    agent.start();
    await until('synced through replica A', () => device.peerStates.size === 1 && agent!.stats.server === urlA);
    assert.equal(agent.stats.snapshots, 1);
    const opsBefore = device.setOperations;

    // Replica A dies as under SIGKILL: its connections are cut, nothing is flushed.
    h.app.server.closeAllConnections();
    await h.app.close();
    await h.cp.createPeer('p1', { name: 'after', publicKey: pubkey() }, { actor: 'test' });
    await until('the peer created while A was gone is on the device', () => device.peerStates.size === 2);
    await until('following replica B', () => agent!.stats.server === urlB);

    assert.equal(agent.stats.snapshots, 1, 'no second snapshot');
    assert.equal(agent.stats.watchResumes, 1);
    assert.equal(device.setOperations, opsBefore + 1, 'one set operation: the new peer only');
    const resumed = logs.find((l) => l.msg === 'watch resumed');
    assert.ok(resumed, 'logged');
    assert.equal(resumed.fields?.['server'], urlB);
    assert.equal(resumed.fields?.['previousServer'], urlA);
    assert.equal(typeof resumed.fields?.['gapMs'], 'number');
    console.log(`resumed on replica B ${agent.stats.lastResumeGapMs} ms after replica A's stream broke`);
    // Its reports go to B as well: the node's status is fresh there.
    const reportedBefore = (await h.cp.getNode('p1', 'n1')).status?.reportedAt;
    await sleep(300);
    assert.notEqual((await h.cp.getNode('p1', 'n1')).status?.reportedAt, reportedBefore);
  } finally {
    await agent?.stop();
    await b.close();
    await h.close();
  }
});
