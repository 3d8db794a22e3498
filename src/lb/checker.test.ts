import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError, isFabricError } from '../protocol/errors.js';
import type { ProbeOptions, ProbeResult } from '../probe/probe.js';
import { HealthChecker, wireguardProber, type CheckTarget, type DecisionSink } from './checker.js';
import { LbController, type LbBackend } from './controller.js';
import { DEFAULT_HEALTH_CONFIG, detectionTimeMs, FAIL_OPEN_NOTE, healthConfig, type HealthConfig, type HealthDecision } from './health.js';
import { FakeApplier } from './testing/fake-applier.js';
import { FakeConntrack } from './testing/fake-conntrack.js';
import { FakeProber } from './testing/fake-prober.js';
import { FakeTimers } from './testing/fake-timers.js';

const A: LbBackend = { name: 'be-a', address: '198.18.1.2', port: 51820, weight: 1 };
const B: LbBackend = { name: 'be-b', address: '198.18.2.2', port: 51820, weight: 1 };
const C: LbBackend = { name: 'be-c', address: '198.18.3.2', port: 51820, weight: 1 };

function target(b: LbBackend, extra: Partial<CheckTarget> = {}): CheckTarget {
  return { ...b, adminState: 'active', ready: true, ...extra };
}

/** Records every sink update with the fake time it arrived at. */
class RecordingSink implements DecisionSink {
  readonly calls: { at: number; backends: LbBackend[]; decisions: Map<string, HealthDecision> }[] = [];
  failures = 0;
  constructor(private readonly timers: FakeTimers) {}
  async update(backends: readonly LbBackend[], decisions: ReadonlyMap<string, HealthDecision>): Promise<void> {
    this.calls.push({ at: this.timers.now(), backends: [...backends], decisions: new Map(decisions) });
    if (this.failures > 0) {
      this.failures--;
      throw new Error('apply failed');
    }
  }
  last(name: string): HealthDecision | undefined {
    return this.calls.at(-1)?.decisions.get(name);
  }
  /** Time of the first update after `after` in which `name` is out of the table. */
  outAt(name: string, after: number): number | undefined {
    return this.calls.find((c) => c.at >= after && c.decisions.get(name)?.inTable === false)?.at;
  }
}

function rig(o: { resyncMs?: number; health?: HealthConfig } = {}) {
  const timers = new FakeTimers(0);
  const prober = new FakeProber(timers);
  const sink = new RecordingSink(timers);
  const detections: [string, number][] = [];
  const errors: unknown[] = [];
  const checker = new HealthChecker({
    prober: prober.probe, sink, timers, resyncMs: o.resyncMs ?? 1e9, ...(o.health ? { health: o.health } : {}),
    onDetection: (b, ms) => detections.push([b, ms]), onError: (e) => errors.push(e),
  });
  return { timers, prober, sink, detections, errors, checker };
}

test('checker: probes each backend every interval, first probes spread over one interval', async () => {
  const { timers, prober, checker } = rig();
  checker.setTargets([target(A), target(B)]);
  checker.start();
  await timers.advance(1000);
  assert.deepEqual(prober.calls.filter((c) => c.backend === 'be-a').map((c) => c.at), [0, 200, 400, 600, 800, 1000]);
  assert.deepEqual(prober.calls.filter((c) => c.backend === 'be-b').map((c) => c.at), [100, 300, 500, 700, 900]);
  await checker.stop();
});

test('checker: a new backend goes into the table after J probes and the sink hears it once', async () => {
  const { timers, sink, checker } = rig();
  checker.setTargets([target(A)]);
  checker.start();
  await timers.advance(1000);
  assert.deepEqual(sink.calls.map((c) => [c.at, c.decisions.get('be-a')!.state, c.decisions.get('be-a')!.inTable]), [
    [0, 'probing', false],
    [400, 'up', true],
  ]);
  await checker.stop();
});

// The backend dies `offset` ms after a probe started (and was answered); probes then hang.
for (const offset of [0, 1, 100, 199]) {
  test(`checker: detection of a silent death ${offset} ms into an interval: out after 700 - ${offset} ms`, async () => {
    const { timers, prober, sink, detections, checker } = rig();
    checker.setTargets([target(A)]);
    checker.start();
    await timers.advance(1000 + offset);
    prober.answers.set('be-a', 'hang');
    const died = timers.now();
    await timers.advance(2000);
    const out = sink.outAt('be-a', died);
    assert.ok(out !== undefined, 'taken out');
    assert.equal(out - died, 700 - offset);
    assert.ok(out - died <= detectionTimeMs(DEFAULT_HEALTH_CONFIG).maxMs);
    assert.deepEqual(detections, [['be-a', 500]], 'first failed probe start -> out = (K - 1) x interval + timeout');
    assert.equal(sink.last('be-a')!.reason, 'probe failed: timeout after 300 ms');
    assert.equal(checker.status()[0]!.lastDetectionMs, 500);
    await checker.stop();
  });
}

test('checker: a probe that fails at once (refused) is detected within (K - 1) x interval', async () => {
  const { timers, prober, detections, checker } = rig();
  checker.setTargets([target(A)]);
  checker.start();
  await timers.advance(1000);
  prober.answers.set('be-a', new FabricError('WGF_ERR_PROBE_TIMEOUT', 'port unreachable'));
  await timers.advance(1000);
  assert.deepEqual(detections, [['be-a', 200]]);
  assert.equal(checker.decisions().get('be-a')!.reason, 'probe failed: port unreachable');
  await checker.stop();
});

test('checker: hung probes are aborted at their timeout, so at most ceil(timeout / interval) run at once', async () => {
  const { timers, prober, checker } = rig();
  checker.setTargets([target(A)]);
  prober.answers.set('be-a', 'hang');
  checker.start();
  await timers.advance(1050);
  // Probes at 0..1000 (6); the ones at 0..600 timed out by 1050 (at 300..900), 800 and 1000 run.
  assert.equal(prober.count('be-a'), 6);
  assert.equal(prober.aborted, 4);
  await checker.stop();
  assert.equal(prober.aborted, 6, 'stop aborts the probes in flight');
});

test('checker: a slow result older than one already fed is dropped (newer evidence wins)', async () => {
  const { timers, prober, checker } = rig();
  checker.setTargets([target(A)]);
  // Probe 3 (t = 600) fails late, at t = 880; probe 4 (t = 800) succeeds at once.
  prober.answers.set('be-a', (n) => (n === 3 ? { delayMs: 280, report: { ok: false, reason: 'late' } } : { ok: true, rttMs: 2 }));
  checker.start();
  await timers.advance(900);
  const s = checker.status()[0]!;
  assert.equal(s.consecutiveFailures, 0, 'the late failure of probe 3 was not counted after probe 4');
  assert.equal(s.decision.state, 'up');
  assert.equal(s.lastRttMs, 2);
  await checker.stop();
});

test('checker: recovery after death: back in the table after J successful probes', async () => {
  const { timers, prober, sink, checker } = rig();
  checker.setTargets([target(A)]);
  checker.start();
  await timers.advance(1000);
  prober.answers.set('be-a', { ok: false, reason: 'refused' });
  await timers.advance(1000);
  assert.equal(sink.last('be-a')!.state, 'down');
  prober.answers.delete('be-a');
  const back = timers.now();
  await timers.advance(1000);
  const inAt = sink.calls.find((c) => c.at > back && c.decisions.get('be-a')!.inTable)?.at;
  assert.equal(inAt !== undefined && inAt - back <= 3 * 200, true, `back within J x interval (at ${inAt})`);
  await checker.stop();
});

const controlChanges: { name: string; change: Partial<CheckTarget>; reason: string; keepFlows: boolean }[] = [
  { name: 'draining', change: { adminState: 'draining' }, reason: 'draining: no new flows', keepFlows: true },
  { name: 'disabled', change: { adminState: 'disabled' }, reason: 'disabled by admin', keepFlows: false },
  { name: 'agent not in sync', change: { ready: false }, reason: 'agent not in sync', keepFlows: true },
];
for (const c of controlChanges) {
  test(`checker: ${c.name} reaches the sink at once, without waiting for a probe`, async () => {
    const { timers, sink, checker } = rig();
    checker.setTargets([target(A), target(B)]);
    checker.start();
    await timers.advance(1000);
    const calls = sink.calls.length;
    checker.setTargets([target(A), target(B, c.change)]);
    await checker.idle();
    assert.equal(sink.calls.length, calls + 1);
    const d = sink.last('be-b')!;
    assert.deepEqual([d.inTable, d.keepFlows, d.reason], [false, c.keepFlows, c.reason]);
    assert.equal(sink.last('be-a')!.inTable, true);
    await checker.stop();
  });
}

const KEPT_IN = `agent not in sync${FAIL_OPEN_NOTE}`;

/** [name, inTable, reason] of every backend in the last sink update. */
function lastSeen(sink: RecordingSink): [string, boolean, string][] {
  return [...sink.calls.at(-1)!.decisions].map(([n, d]) => [n, d.inTable, d.reason]);
}

test('checker fail-open: when no agent is in sync, every backend that passes its probes is kept in', async () => {
  const { timers, sink, checker } = rig();
  checker.setTargets([target(A, { ready: false }), target(B, { ready: false })]);
  checker.start();
  await timers.advance(1000);
  assert.deepEqual(lastSeen(sink), [['be-a', true, KEPT_IN], ['be-b', true, KEPT_IN]]);
  const d = sink.last('be-a')!;
  assert.deepEqual([d.state, d.cause, d.keepFlows], ['up', 'not-ready', true]);
  assert.deepEqual([...checker.decisions()].map(([n, x]) => [n, x.inTable, x.reason]), lastSeen(sink), 'decisions() is what the sink got');
  assert.deepEqual(checker.status().map((x) => [x.name, x.decision.inTable, x.decision.reason]), lastSeen(sink), 'status shows the effective decision');
  await checker.stop();
});

test('checker fail-open: one backend in sync: only it is in', async () => {
  const { timers, sink, checker } = rig();
  checker.setTargets([target(A), target(B, { ready: false }), target(C, { ready: false })]);
  checker.start();
  await timers.advance(1000);
  assert.deepEqual(lastSeen(sink), [['be-a', true, 'healthy'], ['be-b', false, 'agent not in sync'], ['be-c', false, 'agent not in sync']]);
  await checker.stop();
});

test('checker fail-open: a draining, disabled or dead backend is never put back; losing the last one kept in is a detection', async () => {
  const { timers, prober, sink, detections, checker } = rig();
  const D: LbBackend = { name: 'be-d', address: '198.18.4.2', port: 51820, weight: 1 };
  checker.setTargets([
    target(A, { ready: false }), target(B, { ready: false, adminState: 'draining' }), target(C, { ready: false }), target(D, { ready: false, adminState: 'disabled' }),
  ]);
  prober.answers.set('be-c', { ok: false, reason: 'refused' });
  checker.start();
  await timers.advance(1000);
  assert.deepEqual(lastSeen(sink), [
    ['be-a', true, KEPT_IN], ['be-b', false, 'draining: no new flows'], ['be-c', false, 'probe failed: refused'], ['be-d', false, 'disabled by admin'],
  ]);
  prober.answers.set('be-a', { ok: false, reason: 'refused' });
  await timers.advance(1000);
  assert.deepEqual(lastSeen(sink).map(([n, inTable]) => [n, inTable]), [['be-a', false], ['be-b', false], ['be-c', false], ['be-d', false]]);
  assert.equal(sink.last('be-a')!.reason, 'probe failed: refused');
  assert.deepEqual(detections.map(([n]) => n), ['be-a'], 'be-a was in the table (kept in) when probes took it out');
  await checker.stop();
});

test('checker fail-open: readiness returning clears the override in one update; the others keep their flows', async () => {
  const { timers, sink, checker } = rig();
  checker.setTargets([target(A, { ready: false }), target(B, { ready: false })]);
  checker.start();
  await timers.advance(1000);
  assert.deepEqual(lastSeen(sink), [['be-a', true, KEPT_IN], ['be-b', true, KEPT_IN]]);
  const keptSince = sink.last('be-a')!.since;
  const calls = sink.calls.length;
  await timers.advance(500);
  checker.setTargets([target(A), target(B, { ready: false })]);
  await checker.idle();
  assert.equal(sink.calls.length, calls + 1);
  assert.deepEqual(lastSeen(sink), [['be-a', true, 'healthy'], ['be-b', false, 'agent not in sync']]);
  assert.equal(sink.last('be-b')!.keepFlows, true);
  assert.equal(sink.last('be-a')!.since, keptSince, 'be-a has been in the table since the override began');
  assert.equal(sink.last('be-b')!.since, 1500, 'be-b is out since the override ended');
  checker.setTargets([target(A, { ready: false }), target(B, { ready: false })]);
  await checker.idle();
  assert.deepEqual(lastSeen(sink), [['be-a', true, KEPT_IN], ['be-b', true, KEPT_IN]], 'and it comes back when no agent is in sync again');
  await checker.stop();
});

/** A checker driving a real LbController over the fake applier and conntrack (M = 13). */
function controllerRig() {
  const timers = new FakeTimers();
  const prober = new FakeProber(timers);
  const applier = new FakeApplier();
  const conntrack = new FakeConntrack();
  const ctl = new LbController({ vip: '198.18.0.1', port: 51820, tableSize: 13, applier, conntrack, now: () => timers.now() });
  const checker = new HealthChecker({ prober: prober.probe, sink: ctl, timers, resyncMs: 1000 });
  return { timers, prober, applier, conntrack, ctl, checker };
}

test('checker + controller fail-open: the table keeps every live backend; readiness returning drains the others without cutting flows', async () => {
  const { timers, prober, applier, conntrack, ctl, checker } = controllerRig();
  checker.setTargets([target(A, { ready: false }), target(B, { ready: false })]);
  checker.start();
  await timers.advance(1000);
  assert.deepEqual(ctl.status().backends.map((b) => [b.name, b.inTable, b.reason]), [['be-a', true, KEPT_IN], ['be-b', true, KEPT_IN]]);
  assert.doesNotMatch(applier.current!, /no backends/);
  checker.setTargets([target(A), target(B, { ready: false })]);
  await timers.advance(1000);
  assert.deepEqual(ctl.status().backends.map((b) => [b.name, b.inTable, b.reason]), [['be-a', true, 'healthy'], ['be-b', false, 'agent not in sync']]);
  assert.deepEqual(conntrack.calls, [], 'be-b still serves its sessions');
  assert.notEqual(ctl.status().backends[1]!.flowsKeptUntil, null);
  await checker.stop();
});

test('checker: a removed backend stops being probed; a moved one starts over', async () => {
  const { timers, prober, sink, checker } = rig();
  checker.setTargets([target(A), target(B)]);
  checker.start();
  await timers.advance(1000);
  checker.setTargets([target({ ...A, address: '198.18.1.9' })]);
  const probesOfB = prober.count('be-b');
  await timers.advance(0);
  assert.deepEqual(sink.calls.at(-1)!.backends.map((b) => b.name), ['be-a']);
  assert.equal(sink.last('be-a')!.state, 'probing', 'a new address is a new backend');
  await timers.advance(1000);
  assert.equal(prober.count('be-b'), probesOfB);
  assert.equal(sink.last('be-a')!.state, 'up');
  await checker.stop();
});

test('checker: resync pushes unchanged decisions periodically and retries a failed sink update', async () => {
  const { timers, sink, errors, checker } = rig({ resyncMs: 1000 });
  checker.setTargets([target(A)]);
  sink.failures = 1;
  checker.start();
  await timers.advance(3000);
  assert.equal(errors.length, 1);
  assert.deepEqual(sink.calls.map((c) => c.at), [0, 400, 1000, 2000, 3000]);
  await checker.stop();
});

test('checker: stop leaves no timers and ignores late results', async () => {
  const { timers, prober, sink, checker } = rig({ resyncMs: 1000 });
  checker.setTargets([target(A), target(B)]);
  prober.answers.set('be-b', { delayMs: 50, report: { ok: true, rttMs: 50 } });
  checker.start();
  await timers.advance(120);
  await checker.stop();
  assert.equal(timers.pending, 0);
  const calls = sink.calls.length;
  const probes = prober.calls.length;
  await timers.advance(5000);
  assert.equal(prober.calls.length, probes);
  assert.equal(sink.calls.length, calls);
});

test('checker: a prober that throws synchronously counts as a failed probe', async () => {
  const timers = new FakeTimers();
  const sink = new RecordingSink(timers);
  const checker = new HealthChecker({ prober: () => { throw new Error('boom'); }, sink, timers, health: healthConfig({ fall: 1 }), resyncMs: 1e9 });
  checker.setTargets([target(A)]);
  checker.start();
  await timers.advance(0);
  assert.equal(checker.decisions().get('be-a')!.reason, 'probe failed: boom');
  await checker.stop();
});

test('checker: duplicate names are rejected', () => {
  const { checker } = rig();
  assert.throws(() => checker.setTargets([target(A), target(A)]), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'));
});

test('checker + controller: a dead backend is applied out once and its flows are cut', async () => {
  const { timers, prober, applier, conntrack, ctl, checker } = controllerRig();
  checker.setTargets([target(A), target(B)]);
  checker.start();
  await timers.advance(1000);
  assert.deepEqual(ctl.status().backends.map((b) => b.inTable), [true, true]);
  const applies = applier.calls.length;
  prober.answers.set('be-b', 'hang');
  await timers.advance(3000);
  assert.equal(applier.calls.length, applies + 1, 'one transaction for the removal; reason changes and resyncs apply nothing');
  assert.deepEqual(ctl.status().backends.map((b) => [b.name, b.inTable, b.slots]), [['be-a', true, 13], ['be-b', false, 0]]);
  assert.deepEqual(conntrack.targets(), ['198.18.2.2:51820']);
  await checker.stop();
});

test('wireguardProber: probes the backend address (not the VIP) with the keys, timeout and signal', async () => {
  const seen: ProbeOptions[] = [];
  const key = (b: number) => new Uint8Array(32).fill(b);
  const ok: ProbeResult = { endpoint: '198.18.1.2:51820', handshakeMs: 1.5, echoMs: 0.5, serverIndex: 1, clientIndex: 2, attempts: 1, cookieUsed: false };
  const prober = wireguardProber({
    serverPublicKey: key(1), privateKey: key(2), ping: { target: '10.77.0.1', source: '10.77.255.1' },
    probe: async (o) => (seen.push(o), ok),
  });
  const ac = new AbortController();
  assert.deepEqual(await prober(A, ac.signal), { ok: true, rttMs: 1.5 });
  assert.equal(seen[0]!.host, '198.18.1.2');
  assert.equal(seen[0]!.port, 51820);
  assert.deepEqual(seen[0]!.serverPublicKey, key(1));
  assert.deepEqual(seen[0]!.ping, { target: '10.77.0.1', source: '10.77.255.1' });
  assert.equal(seen[0]!.timeoutMs, 300);
  assert.equal(seen[0]!.signal, ac.signal);
});

test('wireguardProber: each backend keeps the local port its first probe got; other backends start fresh', async () => {
  const seen: Array<{ host: string; localPort: number | undefined }> = [];
  let next = 40100;
  const ok: ProbeResult = { endpoint: '', handshakeMs: 1, serverIndex: 1, clientIndex: 2, attempts: 1, cookieUsed: false };
  const prober = wireguardProber({
    serverPublicKey: new Uint8Array(32), privateKey: new Uint8Array(32),
    probe: async (o) => {
      seen.push({ host: o.host, localPort: o.localPort });
      o.onLocalPort?.(o.localPort ? o.localPort : next++); // as probe() does: the port it bound
      if (o.host === B.address) throw new FabricError('WGF_ERR_PROBE_TIMEOUT', 'down');
      return ok;
    },
  });
  const signal = new AbortController().signal;
  await prober(A, signal);
  await prober(B, signal);
  await prober(A, signal);
  await prober(B, signal);
  assert.deepEqual(seen, [
    { host: A.address, localPort: 0 }, { host: B.address, localPort: 0 },
    { host: A.address, localPort: 40100 }, { host: B.address, localPort: 40101 },
  ], 'a failed probe keeps its port too');
});

test('wireguardProber: a failed probe becomes { ok: false } with the probe message', async () => {
  const prober = wireguardProber({
    serverPublicKey: new Uint8Array(32), privateKey: new Uint8Array(32), timeoutMs: 250,
    probe: async () => { throw new FabricError('WGF_ERR_PROBE_TIMEOUT', 'no handshake response from 198.18.1.2:51820 within 250 ms'); },
  });
  assert.deepEqual(await prober(A, new AbortController().signal), { ok: false, reason: 'no handshake response from 198.18.1.2:51820 within 250 ms' });
});
