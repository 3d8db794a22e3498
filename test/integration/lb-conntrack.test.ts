/**
 * The LB controller against the real kernel (needs root): nftables DNAT with Maglev, and the
 * conntrack deletes that make failover immediate for established flows.
 *
 *   client ns 198.18.0.2 ── 198.18.0.1 (VIP) LB ns 198.18.1.1 ── 198.18.1.2 backend be-a
 *                                                 198.18.2.1 ── 198.18.2.2 backend be-b
 *
 * Each backend runs a UDP responder that answers with its name; backends route back via the LB
 * (return path 'via-lb'), so answers reach the client from VIP:51820. The controller uses the
 * real nft applier and the real conntrack port in the LB namespace, a 65537-slot table, health
 * decisions from BackendHealth, and a manual clock for the drain deadline. The last test starts
 * a second controller on the same kernel state, as an LB process restart would.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { LbController, type LbBackend } from '../../src/lb/controller.js';
import { conntrackPort, parseFlows } from '../../src/lb/conntrack.js';
import { BackendHealth, DEFAULT_HEALTH_CONFIG, type HealthDecision } from '../../src/lb/health.js';
import { buildMaglevTable, flowHash, lookup, sortByName } from '../../src/lb/maglev.js';
import { nftApplier } from '../../src/lb/nft-apply.js';
import { run } from '../../src/sys/exec.js';
import { Sandbox, stopProcess } from '../../src/sys/netns.js';

const TSX = import.meta.resolve('tsx');
const FIXTURE = fileURLToPath(new URL('./fixtures/udp-flows.ts', import.meta.url));
const VIP = '198.18.0.1';
const CLIENT = '198.18.0.2';
const PORT = 51820;
const M = 65537;
const DRAIN_MS = 60_000;
const A: LbBackend = { name: 'be-a', address: '198.18.1.2', port: PORT, weight: 1 };
const B: LbBackend = { name: 'be-b', address: '198.18.2.2', port: PORT, weight: 1 };
const ports = (from: number) => Array.from({ length: 24 }, (_, i) => from + i);

const sb = new Sandbox('wgk');
/** Durations of the last nft apply and conntrack delete, for the diagnostics. */
const lastMs = { apply: 0, deleteFlowsTo: 0 };
async function timed<R>(what: keyof typeof lastMs, fn: () => Promise<R>): Promise<R> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    lastMs[what] = performance.now() - t0;
  }
}
const clock = { t: 0 };
let clientNs = '';
let lbNs = '';
let ctl: LbController;
const health = new Map<string, BackendHealth>();

function decisions(): Map<string, HealthDecision> {
  return new Map([...health].map(([name, h]) => [name, h.decision]));
}

/** Feeds `n` probe results to a backend's health, one probe interval apart. */
function probes(name: string, n: number, ok: boolean): void {
  for (let i = 0; i < n; i++) {
    clock.t += DEFAULT_HEALTH_CONFIG.intervalMs;
    health.get(name)!.observe(ok ? { ok: true } : { ok: false, reason: 'test: backend declared dead' }, clock.t);
  }
}

/** The backend name Maglev picks for each source port, given the backends in the table. */
function predicted(inTable: LbBackend[], sports: number[]): Map<number, string> {
  const table = buildMaglevTable(inTable, M);
  const sorted = sortByName(inTable);
  return new Map(sports.map((p) => [p, sorted[lookup(table, flowHash(CLIENT, p))]!.name]));
}

/** Sends one datagram per source port from the client; which backend answered each. */
async function send(sports: number[]): Promise<Map<number, string | null>> {
  const r = await run(process.execPath, ['--import', TSX, FIXTURE, 'send', VIP, String(PORT), CLIENT, '1500', ...sports.map(String)], { netns: clientNs });
  const rows = JSON.parse(r.stdout) as { sport: number; backend: string | null; from: string | null }[];
  for (const row of rows) assert.equal(row.from, `${VIP}:${PORT}`, `the answer to sport ${row.sport} comes back from the VIP`);
  return new Map(rows.map((row) => [row.sport, row.backend]));
}

/** Client source ports of the conntrack entries the LB holds towards a backend. */
async function flowsTo(b: LbBackend): Promise<number[]> {
  const r = await run('conntrack', ['-L', '-p', 'udp', '--reply-src', b.address], { netns: lbNs, allowFailure: true });
  return parseFlows(r.stdout).flows.map((f) => f.original.sport).sort((x, y) => x - y);
}

function only(m: Map<number, string>, name: string): number[] {
  return [...m].filter(([, n]) => n === name).map(([p]) => p);
}

async function startResponder(ns: string, name: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', TSX, FIXTURE, 'serve', name, String(PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  sb.defer(() => stopProcess(child));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready')) resolve();
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('exit', (code) => reject(new Error(`responder ${name} exited (${code}): ${err}`)));
  });
}

before(async () => {
  clientNs = await sb.addNetns('c');
  lbNs = await sb.addNetns('l');
  const aNs = await sb.addNetns('a');
  const bNs = await sb.addNetns('b');
  await sb.veth({ ns: lbNs, addr: `${VIP}/24` }, { ns: clientNs, addr: `${CLIENT}/24` }, 'c');
  await sb.veth({ ns: lbNs, addr: '198.18.1.1/24' }, { ns: aNs, addr: `${A.address}/24` }, 'a');
  await sb.veth({ ns: lbNs, addr: '198.18.2.1/24' }, { ns: bNs, addr: `${B.address}/24` }, 'b');
  await run('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: lbNs });
  await run('ip', ['route', 'add', 'default', 'via', '198.18.1.1'], { netns: aNs });
  await run('ip', ['route', 'add', 'default', 'via', '198.18.2.1'], { netns: bNs });
  await startResponder(aNs, A.name);
  await startResponder(bNs, B.name);
  const nft = nftApplier({ netns: lbNs });
  const ct = conntrackPort({ netns: lbNs });
  ctl = new LbController({
    vip: VIP, port: PORT, tableSize: M, drainTimeoutMs: DRAIN_MS, now: () => clock.t,
    applier: { apply: (script) => timed('apply', () => nft.apply(script)) },
    conntrack: { deleteFlowsTo: (...args) => timed('deleteFlowsTo', () => ct.deleteFlowsTo(...args)), listFlowTargets: (...args) => ct.listFlowTargets(...args) },
  });
  for (const b of [A, B]) health.set(b.name, new BackendHealth(DEFAULT_HEALTH_CONFIG, clock.t));
});

after(async () => {
  await sb.cleanup();
});

const first = ports(41001);
const second = ports(42001);

test('each flow lands on the backend Maglev predicts', async (t) => {
  probes('be-a', 3, true);
  probes('be-b', 3, true);
  const t0 = performance.now();
  const r = await ctl.update([A, B], decisions());
  t.diagnostic(`update with 2 backends, M=${M}: ${(performance.now() - t0).toFixed(0)} ms`);
  assert.equal(r.applied, true);
  const want = predicted([A, B], first);
  assert.ok(only(want, 'be-a').length > 0 && only(want, 'be-b').length > 0, 'the ports spread over both backends, so the test can fail');
  assert.deepEqual(await send(first), want);
  assert.deepEqual(await flowsTo(B), only(want, 'be-b'), 'one conntrack entry per flow');
});

test("a dead backend's flows re-hash to the survivor on their next datagram; the survivor's flows are untouched", async (t) => {
  const want = predicted([A, B], first);
  const survivorFlows = await flowsTo(A);
  assert.deepEqual(survivorFlows, only(want, 'be-a'));
  probes('be-b', 2, false);
  const t0 = performance.now();
  const r = await ctl.update([A, B], decisions());
  t.diagnostic(`failover update: ${(performance.now() - t0).toFixed(0)} ms (nft apply ${lastMs.apply.toFixed(0)} ms, conntrack -D ${lastMs.deleteFlowsTo.toFixed(0)} ms)`);
  assert.equal(r.applied, true);
  assert.deepEqual([...r.flowsDeleted], [['be-b', only(want, 'be-b').length]]);
  assert.deepEqual(await flowsTo(B), [], 'no flow is pinned to be-b any more');
  assert.deepEqual(await flowsTo(A), survivorFlows, "be-a's conntrack entries were not touched");
  const again = await send(first);
  assert.deepEqual([...again.values()].filter((n) => n !== 'be-a'), [], 'every flow is answered by be-a at once');
  assert.deepEqual(ctl.status().backends.map((b) => [b.name, b.inTable, b.reason]), [
    ['be-a', true, 'healthy'],
    ['be-b', false, 'probe failed: test: backend declared dead'],
  ]);
});

test('a draining backend keeps its established flows but gets no new ones', async () => {
  probes('be-b', 3, true);
  assert.equal((await ctl.update([A, B], decisions())).applied, true, 'be-b is back');
  const want = predicted([A, B], second);
  assert.deepEqual(await send(second), want);
  const kept = only(want, 'be-b');
  assert.ok(kept.length > 0);

  health.get('be-b')!.setAdmin('draining', clock.t);
  const r = await ctl.update([A, B], decisions());
  assert.equal(r.applied, true);
  assert.deepEqual([...r.flowsDeleted], [], 'draining cuts no flows');
  assert.deepEqual(await flowsTo(B), kept);
  assert.deepEqual(await send(second), want, "be-b's established flows stay on be-b");
  const fresh = await send(ports(43001));
  assert.deepEqual([...fresh.values()].filter((n) => n !== 'be-a'), [], 'new flows all go to be-a');
  assert.equal(ctl.status().backends[1]!.flowsKeptUntil, clock.t + DRAIN_MS);
});

test('at the drain deadline the kept flows are deleted and move on their next datagram', async () => {
  const kept = only(predicted([A, B], second), 'be-b');
  clock.t += DRAIN_MS - 1;
  assert.deepEqual([...(await ctl.update([A, B], decisions())).flowsDeleted], [], 'not before the deadline');
  clock.t += 1;
  const r = await ctl.update([A, B], decisions());
  assert.equal(r.applied, false, 'the deadline needs no new table');
  assert.deepEqual([...r.flowsDeleted], [['be-b', kept.length]]);
  const moved = await send(second);
  assert.deepEqual([...moved.values()].filter((n) => n !== 'be-a'), []);
});

test('a restarted LB cuts the entries the old ruleset left to a backend not in its table, and only those', async () => {
  health.get('be-b')!.setAdmin('active', clock.t);
  assert.equal((await ctl.update([A, B], decisions())).applied, true, 'be-b is back');
  const third = ports(44001);
  const want = predicted([A, B], third);
  assert.ok(only(want, 'be-a').length > 0 && only(want, 'be-b').length > 0, 'flows on both backends, so the test can fail');
  assert.deepEqual(await send(third), want);
  const onB = only(want, 'be-b');
  assert.deepEqual(await flowsTo(B), onB, 'the old ruleset pinned these flows to be-b');
  // Only this test's ports: entries of earlier tests may expire (UDP timeout 30 s) between two reads.
  const thirdOnA = async (): Promise<number[]> => (await flowsTo(A)).filter((p) => third.includes(p));
  const onA = await thirdOnA();
  assert.deepEqual(only(want, 'be-a').filter((p) => !onA.includes(p)), [], 'and the others to be-a');

  // The LB process restarts while be-b is removed from the pool: the new controller knows
  // nothing of be-b, but the kernel still holds entries to it.
  const restarted = new LbController({
    vip: VIP, port: PORT, tableSize: M, drainTimeoutMs: DRAIN_MS, now: () => clock.t,
    applier: nftApplier({ netns: lbNs }), conntrack: conntrackPort({ netns: lbNs }),
  });
  const r = await restarted.update([A], new Map([['be-a', health.get('be-a')!.decision]]));
  assert.equal(r.applied, true);
  assert.deepEqual(r.errors, []);
  assert.deepEqual([...r.flowsDeleted], [[`${B.address}:${B.port}`, onB.length]]);
  assert.equal(restarted.status().lastError, null);
  assert.deepEqual(await flowsTo(B), [], 'no flow is pinned to be-b any more');
  assert.deepEqual(await thirdOnA(), onA, "be-a's entries were not touched");
  const moved = await send(third);
  assert.deepEqual([...moved.values()].filter((n) => n !== 'be-a'), [], 'the flows of be-b are answered by be-a at once');
});
