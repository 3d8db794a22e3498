import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Agent } from './agent.js';
import type { DevicePeerState, DeviceState, WireGuardDevice } from './device.js';
import { agentMetrics, summarizePeers, TrafficTotals } from './http.js';

function peer(key: string, rx: number, tx: number, handshakeAgoS: number | null, now = Date.now()): [string, DevicePeerState] {
  return [key, { publicKey: key, allowedIps: [], rxBytes: rx, txBytes: tx, lastHandshakeMs: handshakeAgoS === null ? null : now - handshakeAgoS * 1000, endpoint: null }];
}

test('byte totals only go up: growth per peer, a peer that left keeps its share, a reset counter starts from 0', () => {
  const t = new TrafficTotals();
  t.update(new Map([peer('a', 100, 10, 1), peer('b', 50, 5, 1)]));
  assert.deepEqual([t.rx, t.tx], [150, 15]);
  t.update(new Map([peer('a', 300, 30, 1)])); // b removed
  assert.deepEqual([t.rx, t.tx], [350, 35]);
  t.update(new Map([peer('a', 20, 2, 1)])); // device restarted: a counts from 0 again
  assert.deepEqual([t.rx, t.tx], [370, 37]);
});

test('ages: sessions younger than 180 s, cumulative buckets, never-handshaked peers apart', () => {
  const now = Date.now();
  const s = summarizePeers(new Map([peer('a', 0, 0, 3, now), peer('b', 0, 0, 100, now), peer('c', 0, 0, 4000, now), peer('d', 0, 0, null, now)]), now, new TrafficTotals());
  assert.equal(s.never, 1);
  assert.equal(s.withSession, 2);
  // buckets 5, 15, 30, 60, 120, 180, 300, 900, 3600, +Inf
  assert.deepEqual(s.ageBuckets, [1, 1, 1, 1, 2, 2, 2, 2, 2, 3]);
});

/** Parses one metric's samples from an exposition: labels text -> value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? '', Number(m[2]));
  }
  return out;
}

test('scraped twice across a peer removal: byte counters never fall, no histogram is rebuilt, per-peer series only when asked', async () => {
  let peers = new Map([peer('a', 1000, 100, 10), peer('b', 500, 50, 200)]);
  const device = { state: async (): Promise<DeviceState> => ({ publicKey: 'k', listenPort: 0, peers }) } as unknown as WireGuardDevice;
  const agent = { stats: { peersDesired: 2, peersApplied: 2, appliedRevision: 1, controlPlaneRevision: 1, lastReconcileAt: null, driftRepairs: 0, reconciles: 0, deviceReconfigures: 0, incrementalOps: 0, setOperations: 0, snapshots: 0, watchResumes: 0, lastResumeGapMs: null, connected: true }, ready: true, peerNames: () => new Map([['a', 'alice']]) } as unknown as Agent;
  const reg = agentMetrics(agent, device, { pool: 'p', node: 'n' });
  const first = await reg.metrics();
  assert.equal(samples(first, 'wgfabric_agent_received_bytes_total').get('{pool="p",node="n"}'), 1500);
  assert.match(first, /# TYPE wgfabric_agent_received_bytes_total counter/);
  assert.equal(samples(first, 'wgfabric_agent_peers_with_session').get('{pool="p",node="n"}'), 1);
  assert.equal(samples(first, 'wgfabric_agent_peers_by_handshake_age').get('{le="15",pool="p",node="n"}'), 1);
  assert.ok(!/# TYPE \S+ histogram/.test(first), 'no histogram rebuilt per scrape');
  assert.ok(!first.includes('wireguard_sent_bytes_total'), 'per-peer series are off by default');
  await new Promise((r) => setTimeout(r, 600)); // past the per-scrape device read cache
  peers = new Map([peer('a', 1200, 150, 10)]);
  const second = await reg.metrics();
  assert.equal(samples(second, 'wgfabric_agent_received_bytes_total').get('{pool="p",node="n"}'), 1700, 'b left; the total did not fall');
  assert.equal(samples(second, 'wgfabric_agent_sent_bytes_total').get('{pool="p",node="n"}'), 200);

  const withPeers = agentMetrics(agent, device, { pool: 'p', node: 'n' }, { peerMetrics: true, iface: 'wg0', peerNames: () => new Map([['a', 'alice']]) });
  const text = await withPeers.metrics();
  assert.equal(samples(text, 'wireguard_sent_bytes_total').get('{interface="wg0",public_key="a",friendly_name="alice",pool="p",node="n"}'), 150);
  assert.equal(samples(text, 'wireguard_received_bytes_total').get('{interface="wg0",public_key="a",friendly_name="alice",pool="p",node="n"}'), 1200);
  assert.ok((samples(text, 'wireguard_latest_handshake_seconds').get('{interface="wg0",public_key="a",friendly_name="alice",pool="p",node="n"}') ?? 0) > 1e9);
});
