import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import type { NodeStatus } from '../protocol/types.js';
import {
  agentReady, BackendHealth, decisionChanged, DEFAULT_HEALTH_CONFIG, detectionTimeMs, healthConfig,
  type HealthConfigInput, type HealthDecision,
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

function play(steps: readonly Step[], input: HealthConfigInput = {}): { h: BackendHealth; trace: string[]; reasons: string[]; now: number } {
  const config = healthConfig(input);
  let now = 0;
  const h = new BackendHealth(config, now);
  const trace: string[] = [];
  const reasons: string[] = [];
  for (const s of steps) {
    let d: HealthDecision;
    if (s === 'ok') d = h.observe({ ok: true }, (now += config.intervalMs));
    else if (s.startsWith('fail:')) d = h.observe({ ok: false, reason: s.slice(5) }, (now += config.intervalMs));
    else if (s.startsWith('wait:')) d = h.tick((now += Number(s.slice(5))));
    else if (s === 'ready' || s === 'unready') d = h.setReady(s === 'ready', now);
    else d = h.setAdmin(s as 'active' | 'draining' | 'disabled', now);
    trace.push(short(d));
    reasons.push(d.reason);
  }
  return { h, trace, reasons, now };
}

const UP: Step[] = ['ok', 'ok', 'ok'];
const FLAP: Step[] = ['fail:timeout', 'fail:timeout', 'ok', 'ok', 'ok'];

const sequences: { name: string; steps: Step[]; input?: HealthConfigInput; trace?: string[]; last: string; reason?: string | RegExp }[] = [
  {
    name: 'a new backend is out until J = 3 probes succeed',
    steps: UP, trace: ['probing/out/keep', 'probing/out/keep', 'up/in/keep'], last: 'up/in/keep', reason: 'healthy',
  },
  {
    name: 'one failure does not take a serving backend out; K = 2 consecutive ones do, and drop its flows',
    steps: [...UP, 'fail:timeout', 'fail:timeout after 300 ms'],
    trace: ['probing/out/keep', 'probing/out/keep', 'up/in/keep', 'up/in/keep', 'down/out/drop'],
    last: 'down/out/drop', reason: 'probe failed: timeout after 300 ms',
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
    steps: [...UP, 'unready', 'fail:x', 'fail:x'], last: 'down/out/drop', reason: 'probe failed: x',
  },
  {
    name: 'a new backend whose agent is not in sync stays out after its probes pass',
    steps: ['unready', ...UP], last: 'up/out/keep', reason: 'agent not in sync',
  },
  {
    name: 'drain: out of the table, flows kept; undrain puts it back',
    steps: [...UP, 'draining', 'ok', 'active'], trace: ['probing/out/keep', 'probing/out/keep', 'up/in/keep', 'up/out/keep', 'up/out/keep', 'up/in/keep'],
    last: 'up/in/keep',
  },
  {
    name: 'draining reason',
    steps: [...UP, 'draining'], last: 'up/out/keep', reason: 'draining: no new flows',
  },
  {
    name: 'a draining backend that dies loses its flows',
    steps: [...UP, 'draining', 'fail:x', 'fail:x'], last: 'down/out/drop', reason: 'probe failed: x',
  },
  {
    name: 'disable: out and flows dropped although healthy',
    steps: [...UP, 'disabled'], last: 'up/out/drop', reason: 'disabled by admin',
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
    reason: 'flapping: held out until the damping penalty decays below 750',
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
    const { trace, reasons } = play(c.steps, c.input);
    assert.equal(trace.at(-1), c.last);
    if (c.trace) {
      c.trace.forEach((want, i) => {
        if (want !== '') assert.equal(trace[i], want, `after step ${i} (${c.steps[i]})`);
      });
    }
    if (typeof c.reason === 'string') assert.equal(reasons.at(-1), c.reason);
  });
}

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
  assert.deepEqual(h.decision, { state: 'probing', inTable: false, keepFlows: false, reason: 'disabled by admin', since: 5 });
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
