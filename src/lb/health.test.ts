import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import type { NodeStatus } from '../protocol/types.js';
import {
  agentReady, BackendHealth, decisionChanged, DEFAULT_HEALTH_CONFIG, detectionTimeMs, failOpenInEffect, failOpenOnReadiness, FAIL_OPEN_NOTE, healthConfig,
  type DecisionCause, type HealthConfigInput, type HealthDecision,
} from './health.js';

/**
 * A step of a scripted sequence. Probe steps ('ok', 'fail:<reason>') advance the clock by one
 * probe interval first; 'wait:<ms>' advances the clock and ticks; the rest change an input now.
 */
type Step = 'ok' | `fail:${string}` | 'ready' | 'unready' | 'active' | 'draining' | 'disabled' | `wait:${number}`;

/** A decision in short form: state/in|out/keep|drop. */
function short(d: HealthDecision): string {
  return `${d.state}/${d.inTable ? 'in' : 'out'}/${d.keepFlows ? 'keep' : 'drop'}`;
}

function play(steps: readonly Step[], input: HealthConfigInput = {}): { h: BackendHealth; trace: string[]; reasons: string[]; causes: DecisionCause[]; now: number } {
  const config = healthConfig(input);
  let now = 0;
  const h = new BackendHealth(config, now);
  const trace: string[] = [];
  const reasons: string[] = [];
  const causes: DecisionCause[] = [];
  for (const s of steps) {
    let d: HealthDecision;
    if (s === 'ok') d = h.observe({ ok: true }, (now += config.intervalMs));
    else if (s.startsWith('fail:')) d = h.observe({ ok: false, reason: s.slice(5) }, (now += config.intervalMs));
    else if (s.startsWith('wait:')) d = h.tick((now += Number(s.slice(5))));
    else if (s === 'ready' || s === 'unready') d = h.setReady(s === 'ready', now);
    else d = h.setAdmin(s as 'active' | 'draining' | 'disabled', now);
    trace.push(short(d));
    reasons.push(d.reason);
    causes.push(d.cause);
  }
  return { h, trace, reasons, causes, now };
}

const UP: Step[] = ['ok', 'ok', 'ok'];
const FLAP: Step[] = ['fail:timeout', 'fail:timeout', 'ok', 'ok', 'ok'];

const sequences: { name: string; steps: Step[]; input?: HealthConfigInput; trace?: string[]; last: string; reason?: string | RegExp; cause?: DecisionCause }[] = [
  {
    name: 'a new backend is out until J = 3 probes succeed',
    steps: UP, trace: ['probing/out/keep', 'probing/out/keep', 'up/in/keep'], last: 'up/in/keep', reason: 'healthy', cause: 'healthy',
  },
  {
    name: 'probing: cause and reason',
    steps: ['ok'], last: 'probing/out/keep', reason: 'waiting for 3 consecutive successful probes', cause: 'probing',
  },
  {
    name: 'one failure does not take a serving backend out; K = 2 consecutive ones do, and drop its flows',
    steps: [...UP, 'fail:timeout', 'fail:timeout after 300 ms'],
    trace: ['probing/out/keep', 'probing/out/keep', 'up/in/keep', 'up/in/keep', 'down/out/drop'],
    last: 'down/out/drop', reason: 'probe failed: timeout after 300 ms', cause: 'down',
  },
  {
    name: 'failures that are not consecutive never take it out',
    steps: [...UP, 'fail:x', 'ok', 'fail:x', 'ok', 'fail:x'], last: 'up/in/keep',
  },
  {
    name: 'recovery: a down backend needs J consecutive successes again',
    steps: [...UP, 'fail:refused', 'fail:refused', 'ok', 'ok', 'ok'],
    trace: ['probing/out/keep', 'probing/out/keep', 'up/in/keep', 'up/in/keep', 'down/out/drop', 'probing/out/keep', 'probing/out/keep', 'up/in/keep'],
    last: 'up/in/keep',
  },
  {
    name: 'half-open: one failure while recovering sends it back down at once',
    steps: [...UP, 'fail:a', 'fail:a', 'ok', 'ok', 'fail:b'], last: 'down/out/drop', reason: 'probe failed: b',
  },
  {
    name: 'a new backend that fails its first probe is down',
    steps: ['fail:refused'], last: 'down/out/drop', reason: 'probe failed: refused',
  },
  {
    name: 'K and J are configurable (K = 1, J = 1)',
    input: { fall: 1, rise: 1 }, steps: ['ok', 'fail:x', 'ok'], trace: ['up/in/keep', 'down/out/drop', 'up/in/keep'], last: 'up/in/keep',
  },
  {
    name: 'agent not in sync: out, flows kept; back in as soon as it is in sync',
    steps: [...UP, 'unready', 'ok', 'ready'], trace: ['probing/out/keep', 'probing/out/keep', 'up/in/keep', 'up/out/keep', 'up/out/keep', 'up/in/keep'],
    last: 'up/in/keep',
  },
  {
    name: 'not in sync and dead: the dead backend loses its flows',
    steps: [...UP, 'unready', 'fail:x', 'fail:x'], last: 'down/out/drop', reason: 'probe failed: x', cause: 'down',
  },
  {
    name: 'a new backend whose agent is not in sync stays out after its probes pass',
    steps: ['unready', ...UP], last: 'up/out/keep', reason: 'agent not in sync', cause: 'not-ready',
  },
  {
    name: 'not in sync ranks above probing (the cause alone does not say the probes pass; the state does)',
    steps: ['unready', 'ok'], last: 'probing/out/keep', reason: 'agent not in sync', cause: 'not-ready',
  },
  {
    name: 'drain: out of the table, flows kept; undrain puts it back',
    steps: [...UP, 'draining', 'ok', 'active'], trace: ['probing/out/keep', 'probing/out/keep', 'up/in/keep', 'up/out/keep', 'up/out/keep', 'up/in/keep'],
    last: 'up/in/keep',
  },
  {
    name: 'draining reason',
    steps: [...UP, 'draining'], last: 'up/out/keep', reason: 'draining: no new flows', cause: 'draining',
  },
  {
    name: 'draining ranks above not in sync',
    steps: [...UP, 'unready', 'draining'], last: 'up/out/keep', reason: 'draining: no new flows', cause: 'draining',
  },
  {
    name: 'a draining backend that dies loses its flows',
    steps: [...UP, 'draining', 'fail:x', 'fail:x'], last: 'down/out/drop', reason: 'probe failed: x',
  },
  {
    name: 'disable: out and flows dropped although healthy',
    steps: [...UP, 'disabled'], last: 'up/out/drop', reason: 'disabled by admin', cause: 'disabled',
  },
  {
    name: 'disabled wins over down and draining',
    steps: [...UP, 'draining', 'fail:x', 'fail:x', 'disabled'], last: 'down/out/drop', reason: 'disabled by admin',
  },
  {
    name: 're-enabled after disable: back in at once if probes kept passing',
    steps: [...UP, 'disabled', 'ok', 'active'], last: 'up/in/keep',
  },
  {
    name: 'two quick flaps never suppress',
    steps: [...UP, ...FLAP, ...FLAP.slice(0, 2), ...FLAP.slice(2)], last: 'up/in/keep',
  },
  {
    name: 'three quick flaps suppress: healthy but held out, flows kept',
    steps: [...UP, ...FLAP, ...FLAP, ...FLAP], last: 'suppressed/out/keep',
    reason: 'flapping: held out until the damping penalty decays below 750', cause: 'suppressed',
  },
  {
    name: 'a suppressed backend whose agent is not in sync: cause not-ready, state suppressed',
    steps: [...UP, ...FLAP, ...FLAP, ...FLAP, 'unready'], last: 'suppressed/out/keep', reason: 'agent not in sync', cause: 'not-ready',
  },
  {
    name: 'three flaps 30 s apart do not suppress (the penalty decays in between)',
    steps: [...UP, ...FLAP, 'wait:30000', ...FLAP, 'wait:30000', ...FLAP], last: 'up/in/keep',
  },
  {
    name: 'a suppressed backend comes back once the penalty decays (about 59 s after the last flap)',
    steps: [...UP, ...FLAP, ...FLAP, ...FLAP, 'wait:50000', 'ok', 'wait:10000'],
    trace: [...Array(18).fill(''), 'suppressed/out/keep', 'suppressed/out/keep', 'up/in/keep'], last: 'up/in/keep',
  },
  {
    name: 'a suppressed backend that dies is down and loses its flows',
    steps: [...UP, ...FLAP, ...FLAP, ...FLAP, 'fail:x', 'fail:x'], last: 'down/out/drop',
  },
];

for (const c of sequences) {
  test(`health: ${c.name}`, () => {
    const { trace, reasons, causes } = play(c.steps, c.input);
    assert.equal(trace.at(-1), c.last);
    if (c.trace) {
      c.trace.forEach((want, i) => {
        if (want !== '') assert.equal(trace[i], want, `after step ${i} (${c.steps[i]})`);
      });
    }
    if (typeof c.reason === 'string') assert.equal(reasons.at(-1), c.reason);
    if (c.cause) assert.equal(causes.at(-1), c.cause);
  });
}

/** The decision BackendHealth makes after `steps` (so fail-open is tested on real decisions). */
const after = (steps: Step[]): HealthDecision => play(steps).h.decision;
const D = {
  healthy: after(UP),
  notReady: after([...UP, 'unready']),
  notReadyDown: after([...UP, 'unready', 'fail:x', 'fail:x']),
  notReadyDraining: after([...UP, 'unready', 'draining']),
  notReadyDisabled: after([...UP, 'unready', 'disabled']),
  notReadyProbing: after(['unready', 'ok']),
  notReadySuppressed: after([...UP, ...FLAP, ...FLAP, ...FLAP, 'unready']),
  down: after([...UP, 'fail:x', 'fail:x']),
};
const failOpenCases: { name: string; decisions: Record<string, HealthDecision>; keptIn: string[] }[] = [
  { name: 'every backend out only for readiness: all put back', decisions: { a: D.notReady, b: D.notReady, c: D.notReady }, keptIn: ['a', 'b', 'c'] },
  { name: 'one backend in sync: only it is in, the others stay out', decisions: { a: D.healthy, b: D.notReady, c: D.notReady }, keptIn: [] },
  {
    name: 'down, draining, disabled, probing and suppressed backends are never put back',
    decisions: {
      a: D.notReady, b: D.notReadyDown, c: D.notReadyDraining, d: D.notReadyDisabled, e: D.notReadyProbing, f: D.notReadySuppressed, g: D.down,
    },
    keptIn: ['a'],
  },
  { name: 'nobody qualifies: everything stays out', decisions: { b: D.notReadyDown, c: D.notReadyDraining, e: D.notReadyProbing }, keptIn: [] },
  { name: 'no backends', decisions: {}, keptIn: [] },
];
for (const c of failOpenCases) {
  test(`failOpenOnReadiness: ${c.name}`, () => {
    const input = new Map(Object.entries(c.decisions));
    const out = failOpenOnReadiness(input, 5000);
    assert.deepEqual([...out.keys()], [...input.keys()]);
    for (const [name, d] of input) {
      const e = out.get(name)!;
      if (c.keptIn.includes(name)) {
        assert.deepEqual(e, { ...d, inTable: true, reason: `agent not in sync${FAIL_OPEN_NOTE}`, since: 5000 }, name);
        assert.equal(e.reason, 'agent not in sync (kept in: no backend is in sync)');
        assert.deepEqual([e.state, e.cause, e.keepFlows], ['up', 'not-ready', true]);
      } else {
        assert.equal(e, d, `${name} is untouched`);
      }
    }
    assert.equal([...out.values()].filter((e) => e.inTable).length, c.keptIn.length + [...input.values()].filter((d) => d.inTable).length);
    assert.equal(failOpenInEffect(out.values()), c.keptIn.length > 0, 'failOpenInEffect sees the override');
    assert.equal(failOpenInEffect(input.values()), false, 'raw decisions never show it');
  });
}

test('failOpenOnReadiness: readiness returning clears the override; `since` follows the effective outcome', () => {
  const notReady = (since: number): HealthDecision => ({ ...D.notReady, since });
  const raw1 = new Map([['a', notReady(2)], ['b', notReady(3)]]);
  const e1 = failOpenOnReadiness(raw1, 100);
  assert.deepEqual([...e1.values()].map((d) => [d.inTable, d.since]), [[true, 100], [true, 100]], 'in since the override began');
  const e2 = failOpenOnReadiness(raw1, 200, e1);
  assert.deepEqual(e2, e1, 'unchanged while it lasts');
  assert.deepEqual(failOpenOnReadiness(e2, 250), e2, 'idempotent');
  assert.deepEqual(failOpenOnReadiness(e2, 250, e2), e2, 'idempotent with itself as previous');

  // be-a's agent catches up: a is in on its own merit, the override ends for b.
  const raw2 = new Map([['a', { ...D.healthy, since: 250 }], ['b', notReady(3)]]);
  const e3 = failOpenOnReadiness(raw2, 300, e2);
  assert.deepEqual([...e3].map(([n, d]) => [n, d.inTable, d.keepFlows, d.reason, d.since]), [
    ['a', true, true, 'healthy', 100],
    ['b', false, true, 'agent not in sync', 300],
  ]);
  const e4 = failOpenOnReadiness(raw2, 400, e3);
  assert.deepEqual(e4, e3, 'since stays put after the override ended');

  // a dies: nobody is in again, so b is put back.
  const raw3 = new Map([['a', { ...D.down, since: 500 }], ['b', notReady(3)]]);
  const e5 = failOpenOnReadiness(raw3, 500, e4);
  assert.deepEqual([...e5].map(([n, d]) => [n, d.inTable, d.since]), [['a', false, 500], ['b', true, 500]]);
});

test('failOpenOnReadiness: `decisionChanged` sees the override begin and end (the controller is told)', () => {
  const raw = new Map([['a', D.notReady]]);
  const e = failOpenOnReadiness(raw, 1);
  assert.ok(decisionChanged(D.notReady, e.get('a')!));
  assert.ok(!decisionChanged(e.get('a')!, failOpenOnReadiness(raw, 2, e).get('a')!));
});

test('health: a backend held out by flap damping is released at suppressedUntil, not before', () => {
  const { h, now } = play([...UP, ...FLAP, ...FLAP, ...FLAP]);
  const until = h.snapshot(now).suppressedUntil;
  assert.ok(until !== null && until > now, 'suppressed with a release time in the future');
  assert.equal(h.snapshot(now).flaps, 3);
  assert.equal(h.tick(Math.floor(until) - 1).state, 'suppressed');
  assert.equal(h.tick(Math.ceil(until) + 1).state, 'up');
  assert.equal(h.snapshot(Math.ceil(until) + 1).suppressedUntil, null);
});

test('health: the penalty cap bounds suppression to maxSuppressMs after the last flap', () => {
  const steps: Step[] = [...UP];
  for (let i = 0; i < 60; i++) steps.push(...FLAP);
  // With the defaults a flap a second saturates near 44k, below the 768k cap; a 60 s cap
  // (penalty 3000) is reached.
  const maxSuppressMs = 60_000;
  const { h, now } = play(steps, { damping: { maxSuppressMs } });
  const snap = h.snapshot(now);
  assert.equal(snap.flaps, 60);
  assert.ok(snap.suppressedUntil !== null);
  // The last flap was 3 probe steps (600 ms) before `now`.
  const held = snap.suppressedUntil - (now - 600);
  assert.ok(held <= maxSuppressMs + 1e-6, `held ${held} ms`);
  assert.ok(held > maxSuppressMs - 1000, `the cap is reached (held ${held} ms)`);
});

test('health: `since` moves on a change of state or membership, not on a new failure reason', () => {
  const h = new BackendHealth(DEFAULT_HEALTH_CONFIG, 0);
  for (const t of [200, 400, 600]) h.observe({ ok: true }, t);
  assert.equal(h.decision.since, 600);
  h.observe({ ok: false, reason: 'a' }, 800);
  assert.equal(h.decision.since, 600, 'one failure changes nothing');
  h.observe({ ok: false, reason: 'a' }, 1000);
  assert.equal(h.decision.since, 1000);
  const before = h.decision;
  const after = h.observe({ ok: false, reason: 'b' }, 1200);
  assert.equal(after.since, 1000);
  assert.equal(after.reason, 'probe failed: b');
  assert.ok(decisionChanged(before, after), 'a new reason is a change worth reporting');
  assert.ok(!decisionChanged(after, h.observe({ ok: false, reason: 'b' }, 1400)));
});

test('health: counters in the snapshot', () => {
  const { h, now } = play([...UP, 'fail:x']);
  const s = h.snapshot(now);
  assert.equal(s.consecutiveFailures, 1);
  assert.equal(s.consecutiveSuccesses, 0);
  assert.equal(s.penalty, 0);
  assert.equal(s.suppressedUntil, null);
});

test('health: initial admin state and readiness are honoured', () => {
  const h = new BackendHealth(DEFAULT_HEALTH_CONFIG, 5, { admin: 'disabled', ready: false });
  assert.deepEqual(h.decision, { state: 'probing', cause: 'disabled', inTable: false, keepFlows: false, reason: 'disabled by admin', since: 5 });
});

test('health: detection time ≈ K × interval + timeout (worst), (K - 1) × interval + timeout (best)', () => {
  assert.deepEqual(detectionTimeMs(DEFAULT_HEALTH_CONFIG), { minMs: 500, maxMs: 700 });
  assert.deepEqual(detectionTimeMs(healthConfig({ intervalMs: 100, timeoutMs: 250, fall: 3 })), { minMs: 450, maxMs: 550 });
});

const badConfigs: { name: string; input: HealthConfigInput; field: string }[] = [
  { name: 'zero interval', input: { intervalMs: 0 }, field: 'intervalMs' },
  { name: 'NaN timeout', input: { timeoutMs: Number.NaN }, field: 'timeoutMs' },
  { name: 'fractional K', input: { fall: 1.5 }, field: 'fall' },
  { name: 'zero J', input: { rise: 0 }, field: 'rise' },
  { name: 'negative half-life', input: { damping: { halfLifeMs: -1 } }, field: 'damping.halfLifeMs' },
  { name: 'reuse not below suppress', input: { damping: { reuseBelow: 2000 } }, field: 'damping.reuseBelow' },
];

for (const c of badConfigs) {
  test(`health config rejects ${c.name}`, () => {
    assert.throws(() => healthConfig(c.input), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === c.field);
  });
}

test('health config merges overrides over the defaults', () => {
  const c = healthConfig({ fall: 3, damping: { halfLifeMs: 10_000 } });
  assert.equal(c.fall, 3);
  assert.equal(c.rise, DEFAULT_HEALTH_CONFIG.rise);
  assert.equal(c.damping.halfLifeMs, 10_000);
  assert.equal(c.damping.reuseBelow, DEFAULT_HEALTH_CONFIG.damping.reuseBelow);
});

const NOW = Date.parse('2025-01-01T00:00:30Z');
function status(ready: boolean, reportedAt: string): NodeStatus {
  return { reportedAt, appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready, message: '' };
}
const readiness: { name: string; status: NodeStatus | null; want: boolean }[] = [
  { name: 'fresh and ready', status: status(true, '2025-01-01T00:00:20Z'), want: true },
  { name: 'fresh, not ready', status: status(false, '2025-01-01T00:00:20Z'), want: false },
  { name: 'ready but stale', status: status(true, '2025-01-01T00:00:00Z'), want: false },
  { name: 'never reported', status: null, want: false },
  { name: 'unparsable time', status: status(true, 'yesterday'), want: false },
];
for (const c of readiness) {
  test(`agentReady: ${c.name}`, () => {
    assert.equal(agentReady(c.status, NOW, 15_000), c.want);
  });
}
