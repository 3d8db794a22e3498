import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import type { Node, Page, Pool } from '../protocol/types.js';
import { healthConfig } from '../lb/health.js';
import type { Prober } from '../lb/checker.js';
import type { DnsApi } from './updater.js';
import { DnsUpdater } from './updater.js';
import type { RecordSet, UpdatePlan } from './plan.js';
import { DnsAnnouncer } from '../announce/dns.js';
import { at, FakeStreams } from '../follow/testing/fake-streams.js';
import { until as waitUntil } from '../sys/testing/until.js';

const status = (ready = true) => ({ reportedAt: new Date().toISOString(), appliedRevision: 1, peersDesired: 1, peersApplied: 1, lastReconcileAt: null, driftRepairs: 0, ready, message: '' });
const node = (name: string, address: string, over: Partial<Node> = {}): Node => ({
  pool: 'p', name, endpoint: `${address}:51820`, adminState: 'active', weight: 1, labels: {}, status: status(), revision: 1, createdAt: '', updatedAt: '', ...over,
});

/** A fake zone: records() reads it, update() applies the plan to it. */
class FakeZone {
  addresses = new Set<string>();
  updates: UpdatePlan[] = [];
  down = false;
  async records(): Promise<RecordSet> {
    if (this.down) throw new FabricError('WGF_ERR_DNS_TIMEOUT', 'no answer');
    return { addresses: [...this.addresses].sort(), ttl: this.addresses.size ? 5 : null };
  }
  async update(_zone: string, _name: string, plan: UpdatePlan): Promise<void> {
    this.updates.push(plan);
    for (const a of plan.remove) this.addresses.delete(a);
    for (const a of plan.add) this.addresses.add(a);
  }
}

function setup(nodes: Node[]) {
  const zone = new FakeZone();
  const dead = new Set<string>();
  let cpDown = false;
  const api = {
    getPool: async () => ({ name: 'p' }) as Pool,
    listNodes: async (): Promise<Page<Node>> => {
      if (cpDown) throw new FabricError('WGF_ERR_UNAVAILABLE', 'control plane away');
      return { items: nodes, next: null, revision: 1 };
    },
  } as unknown as DnsApi;
  const prober: Prober = async (b) => (dead.has(b.name) ? { ok: false, reason: 'timeout' } : { ok: true, rttMs: 1 });
  const logs: string[] = [];
  const updater = new DnsUpdater({
    api, announcer: new DnsAnnouncer({ client: zone, zone: 'example.net', name: 'vpn.example.net', ttl: 5 }), pool: 'p', source: 'nodes', probe: true, instance: 't', prober,
    health: healthConfig({ intervalMs: 20, timeoutMs: 30, fall: 2, rise: 1 }), readyMaxAgeMs: 15_000, follow: 'poll', pollMs: 30, resyncMs: 200,
    log: (_l, msg) => logs.push(msg),
  });
  return { zone, dead, updater, logs, setCpDown: (v: boolean) => { cpDown = v; } };
}

const until = (what: string, cond: () => boolean, limitMs = 3_000): Promise<void> => waitUntil(what, cond, limitMs, 10);

test('follow poll: the name follows the probes, admin state and readiness; a dead node leaves also with the control plane away', async () => {
  const nodes = [node('a', '198.18.0.10'), node('b', '198.18.0.11'), node('c', '198.18.0.12', { adminState: 'draining' }), node('d', '198.18.0.13', { status: status(false) })];
  const { zone, dead, updater, setCpDown } = setup(nodes);
  await updater.start();
  try {
    await until('a and b published', () => [...zone.addresses].sort().join() === '198.18.0.10,198.18.0.11');
    setCpDown(true);
    dead.add('b');
    await until('b removed', () => [...zone.addresses].join() === '198.18.0.10');
    assert.deepEqual(zone.updates.at(-1), { add: [], remove: ['198.18.0.11'], retimed: false, kept: [] });
    setCpDown(false);
    dead.delete('b');
    await until('b back', () => zone.addresses.has('198.18.0.11'));
  } finally {
    await updater.stop();
  }
});

test('follow poll: nothing in service keeps the last records; a hand edit of the zone is repaired at the next resync; a DNS outage is retried', async () => {
  const { zone, dead, updater, logs } = setup([node('a', '198.18.0.10'), node('b', '198.18.0.11')]);
  await updater.start();
  try {
    await until('both published', () => zone.addresses.size === 2);
    dead.add('a');
    await until('a removed', () => zone.addresses.size === 1);
    dead.add('b');
    await until('the kept warning', () => logs.includes('nothing is in service; keeping the published records rather than leaving the name empty'));
    assert.deepEqual([...zone.addresses], ['198.18.0.11']);
    dead.clear();
    await until('both back', () => zone.addresses.size === 2);
    zone.down = true;
    zone.addresses.add('203.0.113.9'); // someone edits the zone by hand while the server is "away"
    await until('the error is logged', () => logs.includes('dns sync failed; retrying'));
    zone.down = false;
    await until('the hand edit is repaired', () => !zone.addresses.has('203.0.113.9'));
    assert.equal(updater.status().lastError, null);
  } finally {
    await updater.stop();
  }
});

test('follow stream: a readiness flip and a drain reach the records from the streams, without a poll (poll and zone resync 1 h)', async () => {
  const api = new FakeStreams();
  const zone = new FakeZone();
  const logs: string[] = [];
  const updater = new DnsUpdater({
    api: api as unknown as DnsApi, announcer: new DnsAnnouncer({ client: zone, zone: 'example.net', name: 'vpn.example.net', ttl: 5 }), pool: 'p', source: 'nodes',
    probe: true, instance: 't', prober: async () => ({ ok: true, rttMs: 1 }), health: healthConfig({ intervalMs: 20, timeoutMs: 30, fall: 2, rise: 1 }),
    readyMaxAgeMs: 15_000, pollMs: 3_600_000, resyncMs: 3_600_000, followResyncMs: 0, log: (_l, msg) => logs.push(msg),
  });
  await updater.start();
  try {
    await until('a and b published', () => [...zone.addresses].sort().join() === '198.18.0.10,198.18.0.11');
    await until('both streams open', () => api.watch !== undefined && api.readiness !== undefined);
    assert.deepEqual(api.watch!.o.kinds, ['pool', 'node']);
    api.readiness!.push({ full: true, nodes: { a: true, b: true } });
    api.readiness!.push({ full: false, nodes: { b: false } }); // b's agent reports not ready
    await until('b removed by the readiness stream', () => [...zone.addresses].join() === '198.18.0.10');
    api.readiness!.push({ full: false, nodes: { b: true } });
    await until('b back', () => zone.addresses.size === 2);
    api.watch!.push([{ type: 'node.put', revision: 11, node: at(api.nodes[0]!, 11, { adminState: 'draining' }) }]);
    await until('a removed by the change stream', () => [...zone.addresses].join() === '198.18.0.11');
    assert.equal(api.reads, 1, 'one read at start, no polling');
    assert.ok(logs.includes('dns updater started'));
  } finally {
    await updater.stop();
  }
});

test('follow stream: the control plane gone keeps the last nodes and their probes; back, the streams resume', async () => {
  const api = new FakeStreams();
  const zone = new FakeZone();
  const dead = new Set<string>();
  const updater = new DnsUpdater({
    api: api as unknown as DnsApi, announcer: new DnsAnnouncer({ client: zone, zone: 'example.net', name: 'vpn.example.net', ttl: 5 }), pool: 'p', source: 'nodes',
    probe: true, instance: 't', prober: async (b) => (dead.has(b.name) ? { ok: false, reason: 'timeout' } : { ok: true, rttMs: 1 }),
    health: healthConfig({ intervalMs: 20, timeoutMs: 30, fall: 2, rise: 1 }), readyMaxAgeMs: 15_000, pollMs: 3_600_000, resyncMs: 200, followResyncMs: 0,
  });
  await updater.start();
  try {
    await until('both streams open', () => api.watch !== undefined && api.readiness !== undefined);
    api.down = true;
    api.cut();
    dead.add('a');
    await until('a removed while the control plane is gone', () => [...zone.addresses].join() === '198.18.0.11');
    api.down = false;
    await until('streams back', () => api.watch !== undefined && api.readiness !== undefined);
    dead.delete('a');
    await until('a back', () => zone.addresses.size === 2);
  } finally {
    await updater.stop();
  }
});
