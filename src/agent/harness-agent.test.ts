import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../client/api-client.js';
import { pubkey } from '../control/testing/fixtures.js';
import { harness, type Harness } from '../server/testing/harness.js';
import { Agent } from './agent.js';
import { FakeDevice } from './device-fake.js';
import { HttpSource } from './source-http.js';

/** The real server (harness), the real HTTP source and agent engine, a fake device. */
let h: Harness;
let agent: Agent;
let device: FakeDevice;
let lines: { level: string; msg: string }[];
beforeEach(async () => {
  h = await harness({ heartbeatMs: 50 });
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  for (let i = 0; i < 4; i++) await h.cp.createPeer('p1', { name: `c${i}`, publicKey: pubkey() }, { actor: 't' });
  device = new FakeDevice();
  lines = [];
  agent = new Agent({
    pool: 'p1', node: 'n1', source: new HttpSource(new ApiClient({ baseUrl: url, token: h.tokens.node })), device,
    reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000, backoffMinMs: 10, backoffMaxMs: 100, log: (level, msg) => void lines.push({ level, msg }),
  });
  agent.start();
  await until('synced', () => device.peerStates.size === 4 && agent.ready);
  await until('stream open', () => agent.stats.server !== '');
  await sleep(120); // a heartbeat or two: the stream is established on the server
});
afterEach(async () => {
  await agent.stop();
  await h.close();
});

async function until(what: string, cond: () => boolean, limitMs = 10_000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > limitMs) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

test('harness: a forced pool delete (one revision, 4 peer deletes) leaves 0 peers on the device; not ready, one error line', async () => {
  const res = await h.app.inject({ method: 'DELETE', url: '/v1/pools/p1?force=true', headers: h.bearer(h.tokens.admin) });
  assert.equal(res.statusCode, 204);
  await until('device emptied', () => device.peerStates.size === 0);
  assert.equal(agent.ready, false);
  assert.match(agent.status().message, /pool p1 was deleted/);
  await until('a few refused retries', () => agent.stats.failures >= 3);
  assert.equal(lines.filter((l) => l.level === 'error').length, 1);
});

test('harness: node rm removes the peers at once; a peer created afterwards never reaches the removed node', async () => {
  assert.equal((await h.app.inject({ method: 'DELETE', url: '/v1/pools/p1/nodes/n1', headers: h.bearer(h.tokens.admin) })).statusCode, 204);
  await until('device emptied', () => device.peerStates.size === 0);
  const late = await h.cp.createPeer('p1', { name: 'late', publicKey: pubkey() }, { actor: 't' });
  await until('a few refused retries', () => agent.stats.failures >= 3);
  assert.ok(!device.peerStates.has(late.publicKey));
  assert.equal(device.peerStates.size, 0);
  assert.match(agent.status().message, /node n1 was removed from pool p1/);
});

test('harness: a multi-peer transaction (peer deletes and puts of one revision, straight in the store) reaches the device whole', async () => {
  const snap = await h.cp.poolSnapshot('p1');
  // Delete two peers with all their claim keys in ONE store txn, as a batch or an etcd txn would.
  const keys = (await h.store.range('pools/p1/')).kvs.map((kv) => kv.key);
  const victims = snap.peers.slice(0, 2);
  const ops = keys.filter((k) => victims.some((v) => k.endsWith(`/peers/${v.name}`))).map((key) => ({ type: 'delete' as const, key }));
  assert.equal(ops.length, 2);
  const txn = await h.store.txn([], ops);
  assert.ok(txn.succeeded);
  await until('applied', () => agent.stats.appliedRevision >= txn.revision);
  assert.equal(device.peerStates.size, 2);
  for (const v of victims) assert.ok(!device.peerStates.has(v.publicKey), `${v.name} left the device`);
  assert.ok(agent.ready);
});
