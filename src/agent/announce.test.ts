import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeAnnouncer } from '../announce/fake.js';
import type { NodeAnnouncePolicy } from '../protocol/announce.js';
import type { AdminState, Pool } from '../protocol/types.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import type { Agent } from './agent.js';
import { AgentAnnounce } from './announce.js';

/** The part of an Agent AgentAnnounce reads, with a healthy device that holds the probe peer. */
function agentStub(probePub: string) {
  const s = {
    admin: 'active' as AdminState, policy: undefined as NodeAnnouncePolicy | undefined,
    pool: { name: 'p', publicKey: toBase64(generateKeyPair().publicKey), listenPort: 51820, ipv4Prefix: '10.7.0.0/16', ipv6Prefix: null,
      anycast: { addresses: ['198.18.9.1', '2001:db8::9'], drainSeconds: 5, communities: ['65001:1'], med: 10, prepend: 1 } } as unknown as Pool,
  };
  const agent = {
    get poolInfo() { return s.pool; }, get nodeAdminState() { return s.admin; }, get nodeAnnouncePolicy() { return s.policy; },
    stats: { deviceUp: true, appliedRevision: 5, controlPlaneRevision: 5 }, ready: true,
    peerStates: new Map([[probePub, { allowedIps: ['10.7.0.9/32'] }]]),
  };
  return { s, agent: agent as unknown as Agent };
}

test('AgentAnnounce: offers IPv4 /32 and IPv6 /128 with the pool\'s attributes, the node\'s own policy over them', async () => {
  const probe = generateKeyPair();
  const { s, agent } = agentStub(toBase64(probe.publicKey));
  const fake = new FakeAnnouncer();
  const a = new AgentAnnounce({ agent, announcer: fake, probeKey: probe.privateKey, probe: async () => ({}) as never });
  await a.check();
  let st = await fake.status();
  assert.deepEqual(st.addresses, ['198.18.9.1', '2001:db8::9']);
  assert.deepEqual(st.attributes, { gracefulShutdown: false, communities: ['65001:1'], med: 10, prepend: 1, localPref: null });
  s.policy = { communities: ['64512:7'], med: null, localPref: 300 };
  await a.check();
  st = await fake.status();
  assert.deepEqual(st.attributes, { gracefulShutdown: false, communities: ['64512:7'], med: null, prepend: 1, localPref: 300 }, 'node policy overrides field by field');
  s.admin = 'draining';
  await a.check();
  st = await fake.status();
  assert.equal(st.state, 'draining');
  assert.deepEqual(st.attributes?.communities, ['64512:7'], 'drain keeps the node policy; GRACEFUL_SHUTDOWN is added by the driver');
  assert.equal(a.report().state, 'draining');
  assert.equal(a.stats.checks, 3);
});
