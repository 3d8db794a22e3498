/**
 * Pure health state machine of one load-balancer backend: a circuit breaker with flap damping,
 * combined with the agent's readiness and the operator's admin state into one decision: is the
 * backend in the Maglev table, and may its established flows stay (conntrack entries kept)?
 *
 * Probe states (the breaker):
 * - `probing` (half-open): new, or recovering after `down`. Out of the table; `rise` (J)
 *   consecutive successful probes make it `up`, one failure sends it back to `down`.
 * - `up` (closed): serving. `fall` (K) consecutive failed probes make it `down`.
 * - `down` (open): out, and its flows are deleted (a dead backend cannot serve them). Probing
 *   goes on at the same interval; the first success starts `probing`.
 * - `suppressed`: healthy again but flap-damped (below), so held out until the penalty decays.
 *
 * Detection time. Probes start every `intervalMs` whatever the previous one is doing (they
 * overlap when timeout > interval), and a probe fails at the latest `timeoutMs` after it
 * started. A backend that dies just after a successful probe is taken out when its K-th failed
 * probe ends, so detection time ≈ K × interval + timeout in the worst case and
 * (K - 1) × interval + timeout at best: 500..700 ms with the defaults (200 ms, 300 ms, K = 2),
 * plus the time to apply the new table. Coming back takes J × interval ≈ 600 ms.
 *
 * Flap damping (the scheme of BGP route flap damping, RFC 2439). Every time probes take out a
 * backend that was serving (`up` or `suppressed` → `down`), its penalty grows by `penalty`
 * (1000); the penalty decays exponentially with `halfLifeMs` (30 s). When it exceeds
 * `suppressAbove` (2000) the backend is suppressed: after it recovers it stays out until the
 * penalty has decayed below `reuseBelow` (750). The penalty is capped so no backend is held out
 * longer than `maxSuppressMs` (5 min) after its last flap: cap = reuse × 2^(maxSuppress / halfLife).
 * Two flaps can never suppress (1000 + less than 1000 < 2000); three flaps each less than
 * ~21 s apart do (1 + x + x² > 2 needs x = 2^(-gap/30 s) > 0.618), and hold the backend out for
 * 30 s × log2(penalty / 750), so about 40..60 s. A backend flapping as fast as the probes allow
 * (one loss a second) saturates near 44k, about 3 min; the 768k cap is a backstop for slower
 * probe settings. Recovery itself adds no penalty: only a loss costs clients their flows.
 *
 * Decision, most significant cause first (`cause` names the row):
 *   disabled (admin)     → out, flows deleted            reason "disabled by admin"
 *   down (probes)        → out, flows deleted            reason "probe failed: <reason>"
 *   draining (admin)     → out, flows kept               reason "draining: no new flows"
 *   agent not ready      → out, flows kept               reason "agent not in sync"
 *     ... unless no backend of the VIP is in the table: then in (fail-open, below)
 *                                                        reason "agent not in sync (kept in: no backend is in sync)"
 *   probing              → out, flows kept               reason "waiting for J consecutive successful probes"
 *   suppressed           → out, flows kept               reason "flapping: ..."
 *   up                   → in the table                  reason "healthy"
 * "Flows kept" only matters when a backend leaves the table: the controller keeps its conntrack
 * entries until they go idle or a drain deadline passes. A backend whose agent is not in sync
 * is alive (probes pass) and still serves its existing sessions, so those are not cut.
 *
 * Fail-open on readiness ("panic mode" for the soft signal). Readiness is second-hand: it comes
 * from the agents' status reports to the control plane, so a control-plane outage makes every
 * report stale at once, although every backend still answers its probes. When no backend of a
 * VIP would be in the table, failOpenOnReadiness() puts back every backend that is out ONLY
 * because its agent is not in sync (state `up`, admin active, not suppressed): serving with a
 * possibly stale peer set beats dropping every client. It works on the decisions of the whole
 * VIP, so the checker applies it where it hands decisions to the controller. Probe failures,
 * admin disable/drain and flap suppression are never overridden, and as soon as one backend is
 * in the table on its own merits the others are out again (flows kept).
 */
import { FabricError } from '../protocol/errors.js';
import type { AdminState, NodeStatus } from '../protocol/types.js';

/** Probe state of the breaker (see the file header). */
export type HealthState = 'probing' | 'up' | 'down' | 'suppressed';

/** Flap damping parameters (see the file header for the meaning of each number). */
export interface DampingConfig {
  /** Added on every loss of a serving backend. */
  readonly penalty: number;
  /** Suppress when the penalty exceeds this. */
  readonly suppressAbove: number;
  /** A suppressed backend may serve again once the penalty is below this (< suppressAbove). */
  readonly reuseBelow: number;
  /** Half-life of the penalty's exponential decay. */
  readonly halfLifeMs: number;
  /** Longest suppression after the last flap (caps the penalty). */
  readonly maxSuppressMs: number;
}

/** Probe timing and thresholds of one backend's breaker. */
export interface HealthConfig {
  /** A probe starts this often, per backend. */
  readonly intervalMs: number;
  /** A probe that has not succeeded this long after its start has failed. */
  readonly timeoutMs: number;
  /** K: consecutive failures that take a serving backend out. */
  readonly fall: number;
  /** J: consecutive successes that bring a backend back. */
  readonly rise: number;
  readonly damping: DampingConfig;
}

/** Defaults for a sub-second detection target (see the file header). */
export const DEFAULT_HEALTH_CONFIG: HealthConfig = Object.freeze({
  intervalMs: 200,
  timeoutMs: 300,
  fall: 2,
  rise: 3,
  damping: Object.freeze({ penalty: 1000, suppressAbove: 2000, reuseBelow: 750, halfLifeMs: 30_000, maxSuppressMs: 300_000 }),
});

/** Partial overrides of DEFAULT_HEALTH_CONFIG, as read from flags or a config file. */
export interface HealthConfigInput extends Partial<Omit<HealthConfig, 'damping'>> {
  readonly damping?: Partial<DampingConfig>;
}

function invalid(field: string, value: unknown, message: string): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', `${field} ${message}`, { field, value });
}

/**
 * DEFAULT_HEALTH_CONFIG with `input` merged in, validated. Throws WGF_ERR_VALIDATION when a
 * time or threshold is not a positive number (counts: positive integers) or when reuseBelow is
 * not below suppressAbove.
 */
export function healthConfig(input: HealthConfigInput = {}): HealthConfig {
  const d = { ...DEFAULT_HEALTH_CONFIG.damping, ...input.damping };
  const c: HealthConfig = { ...DEFAULT_HEALTH_CONFIG, ...input, damping: d };
  for (const f of ['intervalMs', 'timeoutMs'] as const) {
    if (!(Number.isFinite(c[f]) && c[f] > 0)) throw invalid(f, c[f], 'must be a positive number of milliseconds');
  }
  for (const f of ['fall', 'rise'] as const) {
    if (!(Number.isInteger(c[f]) && c[f] >= 1)) throw invalid(f, c[f], 'must be a positive integer');
  }
  for (const f of ['penalty', 'suppressAbove', 'reuseBelow', 'halfLifeMs', 'maxSuppressMs'] as const) {
    if (!(Number.isFinite(d[f]) && d[f] > 0)) throw invalid(`damping.${f}`, d[f], 'must be a positive number');
  }
  if (d.reuseBelow >= d.suppressAbove) throw invalid('damping.reuseBelow', d.reuseBelow, 'must be below damping.suppressAbove');
  return c;
}

/**
 * Time from a backend's death to its K-th failed probe, for this config: worst case
 * K × interval + timeout, best case (K - 1) × interval + timeout (refused probes fail sooner).
 * Does not include applying the new table.
 */
export function detectionTimeMs(c: HealthConfig): { readonly minMs: number; readonly maxMs: number } {
  return { minMs: (c.fall - 1) * c.intervalMs + c.timeoutMs, maxMs: c.fall * c.intervalMs + c.timeoutMs };
}

/** One probe's outcome as health sees it. */
export type ProbeOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * The most significant reason behind a decision, one per row of the decision table (see the
 * file header): 'healthy' only when nothing holds the backend back.
 */
export type DecisionCause = 'disabled' | 'down' | 'draining' | 'not-ready' | 'probing' | 'suppressed' | 'healthy';

/** What the load balancer should do with one backend. */
export interface HealthDecision {
  readonly state: HealthState;
  /**
   * The row of the decision table that decided. 'not-ready' ranks above probing and suppressed,
   * so "out only because the agent is not in sync" is cause 'not-ready' with state 'up'.
   */
  readonly cause: DecisionCause;
  /** In the Maglev table: receives new flows. */
  readonly inTable: boolean;
  /** When out of the table: its established flows (conntrack entries) may stay. */
  readonly keepFlows: boolean;
  /** One line for people, e.g. "probe failed: timeout after 300 ms", "agent not in sync". */
  readonly reason: string;
  /** Clock time (ms) since which state, inTable and keepFlows have held. */
  readonly since: number;
}

/** True when two decisions differ in anything but `since`: worth telling the controller. */
export function decisionChanged(a: HealthDecision | undefined, b: HealthDecision): boolean {
  return a === undefined || a.state !== b.state || a.cause !== b.cause || a.inTable !== b.inTable || a.keepFlows !== b.keepFlows || a.reason !== b.reason;
}

/** Appended to the reason of a backend that failOpenOnReadiness() put back into the table. */
export const FAIL_OPEN_NOTE = ' (kept in: no backend is in sync)';

/** Out of the table only because its agent is not in sync: probes pass, admin active, not damped. */
function outOnlyForReadiness(d: HealthDecision): boolean {
  return !d.inTable && d.cause === 'not-ready' && d.state === 'up';
}

/** In the table by failOpenOnReadiness(). */
function keptInByFailOpen(d: HealthDecision): boolean {
  return d.inTable && d.cause === 'not-ready';
}

/**
 * True when fail-open on readiness is in effect in these (effective) decisions, i.e. the
 * result of failOpenOnReadiness() holds at least one backend in the table whose agent is not
 * in sync. Pure; for status pages and the wgfabric_lb_fail_open gauge.
 */
export function failOpenInEffect(decisions: Iterable<HealthDecision>): boolean {
  for (const d of decisions) if (keptInByFailOpen(d)) return true;
  return false;
}

const sameOutcome = (a: HealthDecision, b: HealthDecision): boolean => a.state === b.state && a.inTable === b.inTable && a.keepFlows === b.keepFlows;

/**
 * Fail-open on readiness over the decisions of one VIP's backends (see the file header): when
 * none is in the table, every backend that is out only because its agent is not in sync
 * (cause 'not-ready', state 'up') is put in, flows kept, cause unchanged, reason + FAIL_OPEN_NOTE.
 * Otherwise, or when no backend qualifies, the decisions are returned as they are.
 *
 * `since` of the result keeps its contract (since when state, inTable and keepFlows have held)
 * across the override: pass the previous result as `previous` and the caller's clock as `now`.
 * A backend whose outcome is the same as in `previous` keeps previous.since; one put in, or taken
 * out because the override ended, gets `now`; any other change keeps the decision's own `since`.
 * Pure; idempotent (a result passed in again, with itself or nothing as `previous`, comes out
 * unchanged).
 */
export function failOpenOnReadiness(
  decisions: ReadonlyMap<string, HealthDecision>,
  now: number,
  previous?: ReadonlyMap<string, HealthDecision>,
): Map<string, HealthDecision> {
  const open = ![...decisions.values()].some((d) => d.inTable);
  const out = new Map<string, HealthDecision>();
  for (const [name, d] of decisions) {
    const kept = open && outOnlyForReadiness(d);
    const e: HealthDecision = kept ? { ...d, inTable: true, reason: d.reason + FAIL_OPEN_NOTE } : d;
    const p = previous?.get(name);
    const since = p !== undefined && sameOutcome(p, e) ? p.since : kept || (p !== undefined && keptInByFailOpen(p)) ? now : e.since;
    out.set(name, since === e.since ? e : { ...e, since });
  }
  return out;
}

/**
 * Readiness of a node's agent from its last status report: ready, and reported at most
 * `maxAgeMs` before `wallNowMs` (Unix ms). A node that never reported, or whose report is stale
 * or unparsable, is not ready.
 */
export function agentReady(status: NodeStatus | null, wallNowMs: number, maxAgeMs: number): boolean {
  if (status === null || !status.ready) return false;
  const at = Date.parse(status.reportedAt);
  return Number.isFinite(at) && wallNowMs - at <= maxAgeMs;
}

/** Counters and damping state of one backend, for status pages and metrics. */
export interface HealthSnapshot {
  readonly decision: HealthDecision;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  /** Current (decayed) damping penalty. */
  readonly penalty: number;
  /** Losses of a serving backend so far. */
  readonly flaps: number;
  /** When suppressed: the clock time the penalty falls below reuseBelow. */
  readonly suppressedUntil: number | null;
}

/**
 * The health machine of one backend. Every input carries the caller's clock (monotonic ms,
 * never decreasing across calls) and returns the resulting decision; nothing reads a clock or
 * sets a timer. Call tick(now) now and then (each probe does it implicitly) so a suppressed
 * backend is released when its penalty has decayed.
 */
export class BackendHealth {
  private state: HealthState = 'probing';
  private failures = 0;
  private successes = 0;
  private lastFailure = '';
  private admin: AdminState;
  private ready: boolean;
  private damped = false;
  private penaltyValue = 0;
  private penaltyAt = 0;
  private flapCount = 0;
  private current: HealthDecision;
  private readonly maxPenalty: number;

  /**
   * A backend starts `probing` (out of the table until J probes succeed). `admin` defaults to
   * 'active' and `ready` to true (for LBs without a control plane).
   */
  constructor(readonly config: HealthConfig = DEFAULT_HEALTH_CONFIG, now = 0, initial: { admin?: AdminState; ready?: boolean } = {}) {
    this.admin = initial.admin ?? 'active';
    this.ready = initial.ready ?? true;
    const d = config.damping;
    this.maxPenalty = d.reuseBelow * 2 ** (d.maxSuppressMs / d.halfLifeMs);
    this.current = this.evaluate(now, undefined);
  }

  /** The last decision. */
  get decision(): HealthDecision {
    return this.current;
  }

  /** Feeds one probe result (in probe start order; drop results older than the last fed). */
  observe(outcome: ProbeOutcome, now: number): HealthDecision {
    const { fall, rise } = this.config;
    if (outcome.ok) {
      this.failures = 0;
      this.successes++;
      if (this.state === 'down') this.state = 'probing';
      if (this.state === 'probing' && this.successes >= rise) this.state = 'up';
    } else {
      this.successes = 0;
      this.failures++;
      this.lastFailure = outcome.reason;
      if (this.state === 'probing') this.state = 'down';
      if ((this.state === 'up' || this.state === 'suppressed') && this.failures >= fall) {
        this.state = 'down';
        this.addPenalty(now);
      }
    }
    return this.tick(now);
  }

  /** Sets the agent's readiness (in sync with its desired state or not). */
  setReady(ready: boolean, now: number): HealthDecision {
    this.ready = ready;
    return this.tick(now);
  }

  /** Sets the operator's admin state. */
  setAdmin(admin: AdminState, now: number): HealthDecision {
    this.admin = admin;
    return this.tick(now);
  }

  /** Re-evaluates time-dependent state (damping release) at `now`. */
  tick(now: number): HealthDecision {
    if (this.damped && this.penaltyNow(now) < this.config.damping.reuseBelow) this.damped = false;
    if (this.state === 'up' && this.damped) this.state = 'suppressed';
    if (this.state === 'suppressed' && !this.damped) this.state = 'up';
    this.current = this.evaluate(now, this.current);
    return this.current;
  }

  /** Counters and damping state at `now` (read-only; does not change the decision). */
  snapshot(now: number): HealthSnapshot {
    const d = this.config.damping;
    const penalty = this.penaltyNow(now);
    return {
      decision: this.current,
      consecutiveFailures: this.failures,
      consecutiveSuccesses: this.successes,
      penalty,
      flaps: this.flapCount,
      suppressedUntil: this.damped ? this.penaltyAt + d.halfLifeMs * Math.log2(this.penaltyValue / d.reuseBelow) : null,
    };
  }

  private penaltyNow(now: number): number {
    return this.penaltyValue * 2 ** (-(now - this.penaltyAt) / this.config.damping.halfLifeMs);
  }

  private addPenalty(now: number): void {
    const d = this.config.damping;
    this.flapCount++;
    this.penaltyValue = Math.min(this.penaltyNow(now) + d.penalty, this.maxPenalty);
    this.penaltyAt = now;
    if (this.penaltyValue > d.suppressAbove) this.damped = true;
  }

  private evaluate(now: number, prev: HealthDecision | undefined): HealthDecision {
    const s = this.state;
    const [cause, inTable, keepFlows, reason] = ((): [DecisionCause, boolean, boolean, string] => {
      if (this.admin === 'disabled') return ['disabled', false, false, 'disabled by admin'];
      if (s === 'down') return ['down', false, false, `probe failed: ${this.lastFailure}`];
      if (this.admin === 'draining') return ['draining', false, true, 'draining: no new flows'];
      if (!this.ready) return ['not-ready', false, true, 'agent not in sync'];
      if (s === 'probing') return ['probing', false, true, `waiting for ${this.config.rise} consecutive successful probes`];
      if (s === 'suppressed') return ['suppressed', false, true, `flapping: held out until the damping penalty decays below ${this.config.damping.reuseBelow}`];
      return ['healthy', true, true, 'healthy'];
    })();
    const same = prev !== undefined && prev.state === s && prev.inTable === inTable && prev.keepFlows === keepFlows;
    return { state: s, cause, inTable, keepFlows, reason, since: same ? prev.since : now };
  }
}
