import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { LbController, defaultNftTable, type LbBackend, type LbControllerOptions } from './controller.js';
import type { HealthDecision } from './health.js';
import { buildMaglevTable } from './maglev.js';
import { renderRuleset, renderSlotDelta, type NftVip } from './nft.js';
import { FakeApplier } from './testing/fake-applier.js';
import { FakeConntrack } from './testing/fake-conntrack.js';

const VIP = '198.18.0.1';
const PORT = 51820;
const M = 13;
const DRAIN = 60_000;
const A: LbBackend = { name: 'be-a', address: '198.18.1.2', port: PORT, weight: 1 };
const B: LbBackend = { name: 'be-b', address: '198.18.2.2', port: PORT, weight: 1 };
const C: LbBackend = { name: 'be-c', address: '198.18.3.2', port: PORT, weight: 1 };

const up: HealthDecision = { state: 'up', cause: 'healthy', inTable: true, keepFlows: true, reason: 'healthy', since: 0 };
const dead: HealthDecision = { state: 'down', cause: 'down', inTable: false, keepFlows: false, reason: 'probe failed: timeout', since: 0 };
const draining: HealthDecision = { state: 'up', cause: 'draining', inTable: false, keepFlows: true, reason: 'draining: no new flows', since: 0 };
const disabled: HealthDecision = { state: 'up', cause: 'disabled', inTable: false, keepFlows: false, reason: 'disabled by admin', since: 0 };

function rig(extra: Partial<LbControllerOptions> = {}) {
  const clock = { t: 1000 };
  const applier = new FakeApplier();
  const conntrack = new FakeConntrack();
  const ctl = new LbController({ vip: VIP, port: PORT, tableSize: M, drainTimeoutMs: DRAIN, applier, conntrack, now: () => clock.t, ...extra });
  return { clock, applier, conntrack, ctl };
}

function decisions(entries: Record<string, HealthDecision>): Map<string, HealthDecision> {
  return new Map(Object.entries(entries));
}

/** The VIP the controller should put in the kernel for these in-table backends. */
function expectedVip(inTable: LbBackend[]): NftVip {
  return { vip: VIP, port: PORT, affinity: 'src-ip-port', backends: inTable, table: buildMaglevTable(inTable, M) };
}

/** The script the controller should apply for these in-table backends. */
function expectedScript(inTable: LbBackend[]): string {
  return renderRuleset({ table: defaultNftTable(VIP, PORT), vips: [expectedVip(inTable)] });
}

test('controller: the first update applies the table of the in-table backends, in one transaction', async () => {
  const { applier, ctl } = rig();
  const r = await ctl.update([C, A, B], decisions({ 'be-a': up, 'be-b': up, 'be-c': up }));
  assert.equal(r.applied, true);
  assert.equal(r.generation, 1);
  assert.equal(applier.calls.length, 1);
  assert.equal(applier.current, expectedScript([A, B, C]));
});

test('controller: repeating the same inputs is a no-op (no nft, no conntrack)', async () => {
  const { applier, conntrack, ctl } = rig();
  const d = decisions({ 'be-a': up, 'be-b': up });
  await ctl.update([A, B], d);
  for (let i = 0; i < 3; i++) {
    const r = await ctl.update([B, A], decisions({ 'be-b': { ...up, since: 99 }, 'be-a': up }));
    assert.equal(r.applied, false);
    assert.equal(r.generation, 1);
  }
  assert.equal(applier.calls.length, 1);
  assert.equal(conntrack.calls.length, 0);
});

const changes: { name: string; before: LbBackend[]; after: LbBackend[]; applies: boolean }[] = [
  { name: 'a weight change', before: [A, B], after: [A, { ...B, weight: 3 }], applies: true },
  { name: 'a new backend', before: [A, B], after: [A, B, C], applies: true },
  { name: 'an address change', before: [A, B], after: [A, { ...B, address: '198.18.2.9' }], applies: true },
  { name: 'the same set in another order', before: [A, B], after: [B, A], applies: false },
  { name: 'an equal copy of the same set', before: [A], after: [{ ...A }], applies: false },
];
for (const c of changes) {
  test(`controller: ${c.name} ${c.applies ? 'applies once' : 'does not apply'}`, async () => {
    const { applier, ctl } = rig();
    const all = decisions({ 'be-a': up, 'be-b': up, 'be-c': up });
    await ctl.update(c.before, all);
    const r = await ctl.update(c.after, all);
    assert.equal(r.applied, c.applies);
    assert.equal(applier.calls.length, c.applies ? 2 : 1);
    if (c.applies) assert.equal(applier.current, expectedScript(c.after));
  });
}

test('controller: a weight change moves slots; status reports slot counts that add up to M', async () => {
  const { ctl } = rig();
  const all = decisions({ 'be-a': up, 'be-b': up });
  await ctl.update([A, B], all);
  const even = ctl.status().backends.map((b) => b.slots);
  assert.equal(even[0]! + even[1]!, M);
  await ctl.update([A, { ...B, weight: 4 }], all);
  const skewed = ctl.status().backends.map((b) => b.slots);
  assert.equal(skewed[0]! + skewed[1]!, M);
  assert.ok(skewed[1]! > even[1]!, `be-b has more slots with weight 4 (${even} -> ${skewed})`);
});

test('controller: a dead backend is applied out first, then its flows are deleted', async () => {
  const { applier, conntrack, ctl } = rig();
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  conntrack.flows.set(`${B.address}:${B.port}`, 7);
  let scriptAtDelete: string | undefined;
  const del = conntrack.deleteFlowsTo.bind(conntrack);
  conntrack.deleteFlowsTo = (...args) => ((scriptAtDelete = applier.current), del(...args));
  const r = await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': dead }));
  assert.equal(r.applied, true);
  assert.deepEqual(conntrack.calls, [{ vip: VIP, port: PORT, address: B.address, backendPort: B.port }]);
  assert.deepEqual([...r.flowsDeleted], [['be-b', 7]]);
  assert.equal(scriptAtDelete, expectedScript([A]), 'the kernel no longer sends new flows to be-b when its flows are cut');
});

const leavers: { name: string; second: (LbBackend[] | Map<string, HealthDecision>)[]; deleted: string[] }[] = [
  { name: 'disabled: flows deleted', second: [[A, B], decisions({ 'be-a': up, 'be-b': disabled })], deleted: ['198.18.2.2:51820'] },
  { name: 'removed from the set: flows deleted', second: [[A], decisions({ 'be-a': up, 'be-b': up })], deleted: ['198.18.2.2:51820'] },
  { name: 'no decision any more: out; flows deleted', second: [[A, B], decisions({ 'be-a': up })], deleted: ['198.18.2.2:51820'] },
  { name: 'draining: flows kept', second: [[A, B], decisions({ 'be-a': up, 'be-b': draining })], deleted: [] },
  {
    name: 'address changed: flows to the old address deleted',
    second: [[A, { ...B, address: '198.18.2.9' }], decisions({ 'be-a': up, 'be-b': up })], deleted: ['198.18.2.2:51820'],
  },
];
for (const c of leavers) {
  test(`controller: a backend leaving the table, ${c.name}`, async () => {
    const { conntrack, ctl } = rig();
    await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
    await ctl.update(c.second[0] as LbBackend[], c.second[1] as Map<string, HealthDecision>);
    assert.deepEqual(conntrack.targets(), c.deleted);
  });
}

test('controller: drain deadline: flows kept until drainTimeoutMs after leaving, then deleted once', async () => {
  const { clock, conntrack, ctl } = rig();
  const set = [A, B];
  await ctl.update(set, decisions({ 'be-a': up, 'be-b': up }));
  clock.t = 5000;
  await ctl.update(set, decisions({ 'be-a': up, 'be-b': draining }));
  assert.equal(ctl.nextDeadline(), 5000 + DRAIN);
  assert.equal(ctl.status().backends[1]!.flowsKeptUntil, 5000 + DRAIN);
  clock.t = 5000 + DRAIN - 1;
  await ctl.update(set, decisions({ 'be-a': up, 'be-b': draining }));
  assert.equal(conntrack.calls.length, 0, 'not before the deadline');
  clock.t = 5000 + DRAIN;
  conntrack.flows.set('198.18.2.2:51820', 3);
  const r = await ctl.update(set, decisions({ 'be-a': up, 'be-b': draining }));
  assert.equal(r.applied, false, 'the deadline needs no nft change');
  assert.deepEqual([...r.flowsDeleted], [['be-b', 3]]);
  assert.equal(ctl.nextDeadline(), null);
  assert.equal(ctl.status().backends[1]!.flowsKeptUntil, null);
  clock.t += DRAIN;
  await ctl.update(set, decisions({ 'be-a': up, 'be-b': draining }));
  assert.equal(conntrack.calls.length, 1, 'deleted once');
});

test('controller: undrain before the deadline keeps the flows for good', async () => {
  const { clock, conntrack, ctl } = rig();
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': draining }));
  clock.t += 10;
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  clock.t += 2 * DRAIN;
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  assert.equal(conntrack.calls.length, 0);
  assert.equal(ctl.nextDeadline(), null);
});

const afterDrain: { name: string; next: () => [LbBackend[], Map<string, HealthDecision>] }[] = [
  { name: 'dies', next: () => [[A, B], decisions({ 'be-a': up, 'be-b': dead })] },
  { name: 'is disabled', next: () => [[A, B], decisions({ 'be-a': up, 'be-b': disabled })] },
  { name: 'is removed from the set', next: () => [[A], decisions({ 'be-a': up })] },
];
for (const c of afterDrain) {
  test(`controller: a draining backend that ${c.name} loses its kept flows at once`, async () => {
    const { conntrack, ctl } = rig();
    await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
    await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': draining }));
    assert.equal(conntrack.calls.length, 0);
    const r = await ctl.update(...c.next());
    assert.equal(r.applied, false, 'be-b was already out of the table');
    assert.deepEqual(conntrack.targets(), ['198.18.2.2:51820']);
    assert.equal(ctl.nextDeadline(), null);
  });
}

test('controller: no backend in the table renders the counting drop rule', async () => {
  const { applier, ctl } = rig();
  await ctl.update([], new Map());
  assert.match(applier.current!, /ip daddr 198\.18\.0\.1 udp dport 51820 counter drop comment "no backends"/);
  assert.doesNotMatch(applier.current!, /dnat/);
  await ctl.update([A], decisions({ 'be-a': up }));
  await ctl.update([A], decisions({ 'be-a': dead }));
  assert.equal(applier.calls.length, 3);
  assert.equal(applier.current, applier.calls[0], 'all backends dead is the same drop rule');
});

test('controller: status lists every backend with state, reason, membership and slots', async () => {
  const { ctl } = rig();
  assert.equal(ctl.status().generation, 0);
  await ctl.update([C, A, B], decisions({ 'be-a': { ...up, since: 7 }, 'be-b': dead }));
  const s = ctl.status();
  assert.equal(s.generation, 1);
  assert.equal(s.appliedAt, 1000);
  assert.equal(s.lastError, null);
  assert.deepEqual(s.backends.map((b) => [b.name, b.state, b.reason, b.inTable, b.slots, b.since]), [
    ['be-a', 'up', 'healthy', true, M, 7],
    ['be-b', 'down', 'probe failed: timeout', false, 0, 0],
    ['be-c', 'unknown', 'no health decision yet', false, 0, null],
  ]);
});

test('controller: a failed apply throws WGF_ERR_NFT, cuts no flows, and the next update retries', async () => {
  const { applier, conntrack, ctl } = rig();
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  applier.failNext = 'Error: Could not process rule';
  applier.failTimes = 2; // the slot update, then the whole table it falls back to
  const gone = decisions({ 'be-a': up, 'be-b': dead });
  await assert.rejects(ctl.update([A, B], gone), (e: unknown) => isFabricError(e, 'WGF_ERR_NFT'));
  assert.equal(conntrack.calls.length, 0, 'be-b is still in the kernel table: cutting its flows would pin them again');
  assert.equal(ctl.status().generation, 1);
  assert.match(ctl.status().lastError!, /apply failed/);
  assert.equal(ctl.status().backends[1]!.inTable, true, 'status shows what the kernel holds');
  const r = await ctl.update([A, B], gone);
  assert.equal(r.applied, true);
  assert.equal(conntrack.calls.length, 1);
  assert.equal(ctl.status().lastError, null);
});

test('controller: a failed conntrack delete is reported and retried on the next update', async () => {
  const { applier, conntrack, ctl } = rig();
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  conntrack.failNext = 'Operation not permitted';
  const gone = decisions({ 'be-a': up, 'be-b': dead });
  const r1 = await ctl.update([A, B], gone);
  assert.equal(r1.errors.length, 1);
  assert.match(ctl.status().lastError!, /be-b/);
  const r2 = await ctl.update([A, B], gone);
  assert.equal(r2.applied, false);
  assert.deepEqual(r2.errors, []);
  assert.deepEqual(conntrack.targets(), ['198.18.2.2:51820', '198.18.2.2:51820']);
  assert.equal(applier.calls.length, 2);
  assert.equal(ctl.status().lastError, null);
});

test('controller: a pending delete is dropped when the backend serves again', async () => {
  const { conntrack, ctl } = rig();
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  conntrack.failNext = 'busy';
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': dead }));
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  assert.equal(conntrack.calls.length, 1, 'only the failed attempt');
});

test('controller: updates issued together are serialized and coalesced to the latest', async () => {
  const { applier, ctl } = rig();
  const all = [A, B, C];
  const rs = await Promise.all([
    ctl.update(all, decisions({ 'be-a': up })),
    ctl.update(all, decisions({ 'be-a': up, 'be-b': up })),
    ctl.update(all, decisions({ 'be-a': up, 'be-b': up, 'be-c': up })),
  ]);
  assert.equal(applier.calls.length, 1, 'one transaction for the burst');
  assert.equal(applier.current, expectedScript(all));
  assert.deepEqual(rs.map((r) => r.generation), [1, 1, 1]);
});

const invalidInputs: { name: string; backends: LbBackend[]; field: string }[] = [
  { name: 'duplicate names', backends: [A, { ...B, name: 'be-a' }], field: 'backends[1].name' },
  { name: 'an empty name', backends: [{ ...A, name: '' }], field: 'backends[0].name' },
  { name: 'an IPv6 backend for an IPv4 VIP', backends: [{ ...A, address: '2001:db8::2' }], field: 'backends[0].address' },
  { name: 'a hostname', backends: [{ ...A, address: 'be-a.example' }], field: 'backends[0].address' },
  { name: 'port 0', backends: [{ ...A, port: 0 }], field: 'backends[0].port' },
  { name: 'weight 0', backends: [{ ...A, weight: 0 }], field: 'backends[0].weight' },
];
for (const c of invalidInputs) {
  test(`controller: rejects ${c.name} and changes nothing`, async () => {
    const { applier, ctl } = rig();
    await assert.rejects(ctl.update(c.backends, decisions({ 'be-a': up })), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === c.field);
    assert.equal(applier.calls.length, 0);
  });
}

const badOptions: { name: string; o: Partial<LbControllerOptions>; field: string }[] = [
  { name: 'a table size that is not prime', o: { tableSize: 100 }, field: 'tableSize' },
  { name: 'a VIP that is not an IP', o: { vip: 'vip.example' }, field: 'vip' },
  { name: 'a negative drain timeout', o: { drainTimeoutMs: -1 }, field: 'drainTimeoutMs' },
];
for (const c of badOptions) {
  test(`controller: the constructor rejects ${c.name}`, () => {
    assert.throws(() => rig(c.o), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === c.field);
  });
}

test('controller: options reach the ruleset (table name, affinity, seed, return path) and IPv6 works', async () => {
  const { applier, ctl } = rig({ vip: '2001:db8::1', nftTable: 'lb6', affinity: 'src-ip', seed: 7, returnPath: 'snat' });
  const v6: LbBackend = { name: 'be-6', address: '2001:db8:1::2', port: PORT, weight: 1 };
  await ctl.update([v6], decisions({ 'be-6': up }));
  assert.equal(applier.current, renderRuleset({
    table: 'lb6', seed: 7, returnPath: 'snat',
    vips: [{ vip: '2001:db8::1', port: PORT, affinity: 'src-ip', backends: [v6], table: buildMaglevTable([v6], M) }],
  }));
  assert.equal(defaultNftTable('2001:db8::1', 443), 'wgflb_2001_db8__1_443');
});

// Restart sweep: the kernel holds entries left by a previous LB process (conntrack.flows set
// before the first update); the new controller cuts or holds those whose target is not in its table.
const notReady: HealthDecision = { state: 'up', cause: 'not-ready', inTable: false, keepFlows: true, reason: 'agent not in sync', since: 0 };
const restarts: {
  name: string; backends: LbBackend[]; decisions: Record<string, HealthDecision>; left: Record<string, number>;
  deleted: [string, number][]; kept: string[];
}[] = [
  {
    name: 'flows to a backend that died meanwhile are cut at once',
    backends: [A, B], decisions: { 'be-a': up, 'be-b': dead }, left: { '198.18.1.2:51820': 4, '198.18.2.2:51820': 5 },
    deleted: [['be-b', 5]], kept: [],
  },
  {
    name: 'flows to a disabled backend are cut at once',
    backends: [A, B], decisions: { 'be-a': up, 'be-b': disabled }, left: { '198.18.2.2:51820': 2 },
    deleted: [['be-b', 2]], kept: [],
  },
  {
    name: 'flows to a backend removed from the set are cut, named by their target',
    backends: [A], decisions: { 'be-a': up }, left: { '198.18.1.2:51820': 1, '198.18.9.9:51820': 3 },
    deleted: [['198.18.9.9:51820', 3]], kept: [],
  },
  {
    name: 'flows to a backend without a decision are cut',
    backends: [A, B], decisions: { 'be-a': up }, left: { '198.18.2.2:51820': 1 },
    deleted: [['be-b', 1]], kept: [],
  },
  {
    name: 'entries that were never NATed (reply source = the VIP) are cut',
    backends: [A], decisions: { 'be-a': up }, left: { [`${VIP}:${PORT}`]: 2 },
    deleted: [[`${VIP}:${PORT}`, 2]], kept: [],
  },
  {
    name: 'flows to a backend on another port than listed are cut (another target)',
    backends: [A, { ...B, port: 51821 }], decisions: { 'be-a': up, 'be-b': draining }, left: { '198.18.2.2:51820': 2 },
    deleted: [['198.18.2.2:51820', 2]], kept: [],
  },
  {
    name: 'flows to a draining backend are held until the drain deadline',
    backends: [A, B], decisions: { 'be-a': up, 'be-b': draining }, left: { '198.18.2.2:51820': 6 },
    deleted: [], kept: ['be-b'],
  },
  {
    name: 'flows to a backend whose agent is not in sync are held',
    backends: [A, B, C], decisions: { 'be-a': up, 'be-b': notReady, 'be-c': dead }, left: { '198.18.2.2:51820': 1, '198.18.3.2:51820': 1 },
    deleted: [['be-c', 1]], kept: ['be-b'],
  },
  {
    name: 'flows to backends in the new table are left alone',
    backends: [A, B], decisions: { 'be-a': up, 'be-b': up }, left: { '198.18.1.2:51820': 3, '198.18.2.2:51820': 3 },
    deleted: [], kept: [],
  },
];
for (const c of restarts) {
  test(`controller restart sweep: ${c.name}`, async () => {
    const { conntrack, ctl } = rig();
    for (const [k, n] of Object.entries(c.left)) conntrack.flows.set(k, n);
    const r = await ctl.update(c.backends, decisions(c.decisions));
    assert.equal(r.applied, true);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(conntrack.lists, [`${VIP}:${PORT}`]);
    assert.deepEqual([...r.flowsDeleted].sort(), c.deleted.sort());
    const keptNow = ctl.status().backends.filter((b) => b.flowsKeptUntil !== null);
    assert.deepEqual(keptNow.map((b) => [b.name, b.flowsKeptUntil]), c.kept.map((n) => [n, 1000 + DRAIN]));
    assert.equal(ctl.status().lastError, null);
  });
}

test('controller restart sweep: lists once, after the first table is in the kernel, never again', async () => {
  const { clock, applier, conntrack, ctl } = rig();
  let scriptAtList: string | undefined;
  const list = conntrack.listFlowTargets.bind(conntrack);
  conntrack.listFlowTargets = (...args) => ((scriptAtList = applier.current), list(...args));
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  assert.equal(scriptAtList, expectedScript([A, B]), 'entries are listed after the new table is applied');
  conntrack.flows.set('198.18.2.2:51820', 3); // flows of this life
  clock.t += 10;
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': draining }));
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': draining }));
  assert.deepEqual(conntrack.lists, [`${VIP}:${PORT}`], 'one listing in the life of the controller');
  assert.equal(conntrack.calls.length, 0);
});

test('controller restart sweep: held stale flows are cut at the drain deadline, or at once when the backend dies', async () => {
  const { clock, conntrack, ctl } = rig();
  conntrack.flows.set('198.18.2.2:51820', 2);
  conntrack.flows.set('198.18.3.2:51820', 4);
  const set = [A, B, C];
  await ctl.update(set, decisions({ 'be-a': up, 'be-b': draining, 'be-c': draining }));
  assert.equal(ctl.nextDeadline(), 1000 + DRAIN);
  clock.t = 2000;
  const dies = await ctl.update(set, decisions({ 'be-a': up, 'be-b': draining, 'be-c': dead }));
  assert.deepEqual([...dies.flowsDeleted], [['be-c', 4]]);
  clock.t = 1000 + DRAIN - 1;
  assert.deepEqual([...(await ctl.update(set, decisions({ 'be-a': up, 'be-b': draining, 'be-c': dead }))).flowsDeleted], []);
  clock.t = 1000 + DRAIN;
  const r = await ctl.update(set, decisions({ 'be-a': up, 'be-b': draining, 'be-c': dead }));
  assert.deepEqual([...r.flowsDeleted], [['be-b', 2]]);
  assert.equal(ctl.nextDeadline(), null);
});

test('controller restart sweep: a failed listing does not block the apply and is retried on the next update', async () => {
  const { applier, conntrack, ctl } = rig();
  conntrack.flows.set('198.18.2.2:51820', 5);
  conntrack.failNextList = 'Operation not permitted';
  const d = decisions({ 'be-a': up, 'be-b': dead });
  const r1 = await ctl.update([A, B], d);
  assert.equal(r1.applied, true, 'the table is applied');
  assert.equal(applier.current, expectedScript([A]));
  assert.equal(r1.errors.length, 1);
  assert.match(r1.errors[0]!, /listing the flows of 198\.18\.0\.1:51820 failed/);
  assert.match(ctl.status().lastError!, /listing/);
  assert.equal(conntrack.calls.length, 0);
  const r2 = await ctl.update([A, B], d);
  assert.equal(r2.applied, false, 'the retry needs no nft change');
  assert.deepEqual(r2.errors, []);
  assert.deepEqual([...r2.flowsDeleted], [['be-b', 5]]);
  assert.equal(conntrack.lists.length, 2);
  assert.equal(ctl.status().lastError, null);
  await ctl.update([A, B], d);
  assert.equal(conntrack.lists.length, 2, 'no listing after one succeeded');
});

test('controller restart sweep: no listing before an apply succeeded (the old ruleset would pin the flows again)', async () => {
  const { applier, conntrack, ctl } = rig();
  conntrack.flows.set('198.18.2.2:51820', 5);
  applier.failNext = 'Error: Could not process rule';
  const d = decisions({ 'be-a': up, 'be-b': dead });
  await assert.rejects(ctl.update([A, B], d), (e: unknown) => isFabricError(e, 'WGF_ERR_NFT'));
  assert.deepEqual(conntrack.lists, []);
  assert.equal(conntrack.calls.length, 0);
  const r = await ctl.update([A, B], d);
  assert.deepEqual([...r.flowsDeleted], [['be-b', 5]]);
});

test('controller restart sweep: a retried listing keeps the deadline of a backend that left the table meanwhile', async () => {
  const { clock, conntrack, ctl } = rig();
  conntrack.failNextList = 'busy';
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  clock.t = 2000;
  conntrack.flows.set('198.18.2.2:51820', 3);
  const r = await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': draining }));
  assert.deepEqual(r.errors, []);
  assert.equal(conntrack.lists.length, 2, 'the retry happened in the second update');
  assert.equal(ctl.nextDeadline(), 2000 + DRAIN, 'held since it left the table, not reset by the listing');
  assert.equal(conntrack.calls.length, 0);
});

test('controller restart sweep: IPv6 targets', async () => {
  const { conntrack, ctl } = rig({ vip: '2001:db8::1' });
  const a6: LbBackend = { name: 'be-a', address: '2001:db8:1::2', port: PORT, weight: 1 };
  const b6: LbBackend = { name: 'be-b', address: '2001:db8:2::2', port: PORT, weight: 1 };
  conntrack.flows.set('2001:db8:1::2:51820', 1);
  conntrack.flows.set('2001:db8:2::2:51820', 2);
  conntrack.flows.set('2001:db8:9::2:51820', 3);
  const r = await ctl.update([a6, b6], decisions({ 'be-a': up, 'be-b': dead }));
  assert.deepEqual(conntrack.lists, ['2001:db8::1:51820']);
  assert.deepEqual([...r.flowsDeleted].sort(), [['[2001:db8:9::2]:51820', 3], ['be-b', 2]]);
  assert.deepEqual(conntrack.targets().sort(), ['2001:db8:2::2:51820', '2001:db8:9::2:51820']);
});

test('controller: a change after the first apply rewrites only the changed slots, and the kernel ends up with the whole new table', async () => {
  const { applier, ctl } = rig();
  await ctl.update([A, B, C], decisions({ 'be-a': up, 'be-b': up, 'be-c': up }));
  const r = await ctl.update([A, B, C], decisions({ 'be-a': up, 'be-b': dead, 'be-c': up }));
  assert.equal(r.write.mode, 'delta');
  const slotsOfB = ctl.status().tableSize - ctl.status().backends.filter((b) => b.inTable).reduce((n, b) => n + b.slots, 0);
  assert.equal(slotsOfB, 0, 'every slot is owned by a backend in the table');
  assert.ok(r.write.slots > 0 && r.write.slots < ctl.status().tableSize / 2, `${r.write.slots} slots written, not the whole table`);
  const delta = renderSlotDelta(defaultNftTable(VIP, PORT), expectedVip([A, B, C]), expectedVip([A, C]))!;
  assert.equal(applier.calls[1], delta.script, 'exactly the slot delta from the old table to the new one');
  assert.equal(r.write.slots, delta.slots);
  assert.ok(Buffer.byteLength(applier.calls[1]!) < Buffer.byteLength(applier.calls[0]!) / 2, 'the delta script is much smaller');
  assert.equal(applier.current, expectedScript([A, C]), 'the kernel holds exactly the table of the new state');
  const back = await ctl.update([A, B, C], decisions({ 'be-a': up, 'be-b': up, 'be-c': up }));
  assert.equal(back.write.mode, 'delta');
  assert.equal(applier.current, expectedScript([A, B, C]));
  // Losing every backend changes the rule itself: the whole ruleset.
  const none = await ctl.update([A, B, C], decisions({ 'be-a': dead, 'be-b': dead, 'be-c': dead }));
  assert.equal(none.write.mode, 'full');
  assert.equal(none.write.slots, ctl.status().tableSize);
});

test('controller: a failed slot update falls back to the whole table in the same update (one more transaction)', async () => {
  const { applier, conntrack, ctl } = rig();
  await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': up }));
  applier.current = undefined; // someone deleted our table behind our back
  const r = await ctl.update([A, B], decisions({ 'be-a': up, 'be-b': dead }));
  assert.equal(r.write.mode, 'full');
  assert.equal(applier.calls.length, 3, 'first apply, the refused delta, the whole table');
  assert.equal(applier.current, expectedScript([A]));
  assert.equal(conntrack.calls.length, 1, "be-b's flows are cut after the table without it is in");
  assert.equal(ctl.status().lastError, null, 'a successful fallback leaves no error');
});

test('controller: incremental false always replaces the whole table', async () => {
  const { applier, ctl } = rig({ incremental: false });
  await ctl.update([A, B, C], decisions({ 'be-a': up, 'be-b': up, 'be-c': up }));
  const r = await ctl.update([A, B, C], decisions({ 'be-a': up, 'be-b': dead, 'be-c': up }));
  assert.equal(r.write.mode, 'full');
  assert.equal(applier.calls[1], expectedScript([A, C]));
});
