/**
 * The health-check scheduler of one VIP: probes every backend every `intervalMs` with a
 * `timeoutMs` budget through an injected Prober, feeds the results into each backend's
 * BackendHealth, and pushes the decisions to a sink (the LbController) whenever one changes,
 * plus every `resyncMs` so drain deadlines fire and failed applies or deletes are retried.
 * What it hands on (and shows in decisions() and status()) is the effective decision: the
 * per-backend ones after fail-open on readiness (failOpenOnReadiness in health.ts), which needs
 * the whole VIP's view and so lives here, not in BackendHealth.
 *
 * Probes start at a fixed cadence and overlap when timeout > interval; that is what keeps the
 * worst-case detection time at K × interval + timeout (see health.ts). A result older than one
 * already fed (a slow probe ending after a newer one) is dropped: newer evidence wins.
 * Detection time, reported through onDetection, runs from the start of the first failed probe
 * of the streak to the decision that takes the backend out (applying the table comes after).
 *
 * Clock and timers are injected (Timers; FakeTimers in tests), as is the prober; the real one,
 * wireguardProber(), does a WireGuard handshake (and optionally an ICMP echo through the tunnel)
 * with src/probe/probe.ts.
 */
import { FabricError } from '../protocol/errors.js';
import type { AdminState } from '../protocol/types.js';
import { probe as wgProbe, type ProbeOptions, type ProbeResult } from '../probe/probe.js';
import type { Key } from '../wg/keys.js';
import type { LbBackend } from './controller.js';
import { systemTimers, type TimerHandle, type Timers } from '../sys/timers.js';
import {
  BackendHealth, DEFAULT_HEALTH_CONFIG, decisionChanged, failOpenOnReadiness, type HealthConfig, type HealthDecision, type HealthSnapshot,
} from './health.js';

/** One probe's result: alive with its round trip, or failed with a reason for people. */
export type ProbeReport = { readonly ok: true; readonly rttMs: number } | { readonly ok: false; readonly reason: string };

/**
 * Probes one backend once. Must stop (and may reject) when `signal` aborts; the checker counts
 * a probe that has not resolved within timeoutMs as failed whatever it does.
 */
export type Prober = (backend: LbBackend, signal: AbortSignal) => Promise<ProbeReport>;

/** A backend to check, with the control plane's view of it. */
export interface CheckTarget extends LbBackend {
  readonly adminState: AdminState;
  /** The node's agent is in sync (see agentReady in health.ts). */
  readonly ready: boolean;
}

/** Where decisions go; LbController implements it. */
export interface DecisionSink {
  update(backends: readonly LbBackend[], decisions: ReadonlyMap<string, HealthDecision>): Promise<unknown>;
}

export interface CheckerOptions {
  readonly prober: Prober;
  readonly sink: DecisionSink;
  /** Default DEFAULT_HEALTH_CONFIG (use healthConfig() to build a validated one). */
  readonly health?: HealthConfig;
  /** Default systemTimers. */
  readonly timers?: Timers;
  /** Push the decisions to the sink at least this often (default 1000 ms). */
  readonly resyncMs?: number;
  /** A backend was taken out by probes `ms` after its first failed probe started. */
  readonly onDetection?: (backend: string, ms: number) => void;
  /** Every probe result that was fed to health, with how long the probe took. */
  readonly onProbe?: (backend: string, report: ProbeReport, durationMs: number) => void;
  /** A sink update failed (it is retried at the next change or resync). */
  readonly onError?: (error: unknown) => void;
}

/** What the checker knows about one backend. */
export interface CheckStatus extends HealthSnapshot {
  readonly name: string;
  readonly probes: number;
  readonly lastRttMs: number | null;
  /** Detection time of the last removal by probes; null if none yet. */
  readonly lastDetectionMs: number | null;
}

interface Slot {
  target: CheckTarget;
  health: BackendHealth;
  timer: TimerHandle | undefined;
  nextAt: number;
  seq: number;
  fedSeq: number;
  readonly inflight: Set<AbortController>;
  failStreakStart: number | null;
  probes: number;
  lastRttMs: number | null;
  lastDetectionMs: number | null;
}

const reasonOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Schedules probes for a changing set of backends and keeps the sink up to date. */
export class HealthChecker {
  private readonly config: HealthConfig;
  private readonly timers: Timers;
  private readonly slots = new Map<string, Slot>();
  private started = false;
  private stopped = false;
  private resyncTimer: TimerHandle | undefined;
  private pushing: Promise<void> | undefined;
  private dirty = false;
  /** The last effective decisions (see decisions()); keeps `since` of fail-open overrides. */
  private effective = new Map<string, HealthDecision>();

  constructor(private readonly o: CheckerOptions) {
    this.config = o.health ?? DEFAULT_HEALTH_CONFIG;
    this.timers = o.timers ?? systemTimers;
  }

  /**
   * Sets the backends to check. New ones start `probing` (first probes spread over one
   * interval), removed ones stop, a changed address or port starts over, and admin state and
   * readiness go straight into health. Pushes to the sink. Throws WGF_ERR_VALIDATION for
   * duplicate names.
   */
  setTargets(targets: readonly CheckTarget[]): void {
    const names = new Set(targets.map((t) => t.name));
    if (names.size !== targets.length) throw new FabricError('WGF_ERR_VALIDATION', 'duplicate backend names', { field: 'targets' });
    const now = this.timers.now();
    for (const [name, slot] of this.slots) if (!names.has(name)) this.drop(slot);
    const fresh: Slot[] = [];
    for (const t of targets) {
      const old = this.slots.get(t.name);
      if (old && old.target.address === t.address && old.target.port === t.port) {
        old.target = t;
        old.health.setAdmin(t.adminState, now);
        old.health.setReady(t.ready, now);
        continue;
      }
      if (old) this.drop(old);
      const slot: Slot = {
        target: t, health: new BackendHealth(this.config, now, { admin: t.adminState, ready: t.ready }), timer: undefined,
        nextAt: now, seq: 0, fedSeq: 0, inflight: new Set(), failStreakStart: null, probes: 0, lastRttMs: null, lastDetectionMs: null,
      };
      this.slots.set(t.name, slot);
      fresh.push(slot);
    }
    fresh.forEach((slot, i) => {
      slot.nextAt = now + Math.floor((i * this.config.intervalMs) / fresh.length);
      if (this.started) this.schedule(slot);
    });
    if (this.started) this.push();
  }

  /** Starts probing and the periodic resync; pushes the current decisions at once. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    for (const slot of this.slots.values()) this.schedule(slot);
    this.scheduleResync();
    this.push();
  }

  /** Stops every timer, aborts probes in flight and waits for a sink update in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer !== undefined) this.timers.clearTimeout(this.resyncTimer);
    for (const slot of this.slots.values()) this.drop(slot);
    await this.pushing;
  }

  /** Resolves when no sink update is in progress. */
  async idle(): Promise<void> {
    while (this.pushing) await this.pushing;
  }

  /**
   * The current effective decision of every backend: its health decision after fail-open on
   * readiness. This is what the sink gets.
   */
  decisions(): Map<string, HealthDecision> {
    const raw = new Map([...this.slots].map(([name, s]) => [name, s.health.decision]));
    this.effective = failOpenOnReadiness(raw, this.timers.now(), this.effective);
    return new Map(this.effective);
  }

  /** The backends as the sink sees them. */
  backends(): LbBackend[] {
    return [...this.slots.values()].map(({ target: t }) => ({ name: t.name, address: t.address, port: t.port, weight: t.weight }));
  }

  /** Per-backend effective decision, counters, damping state and detection time. */
  status(): CheckStatus[] {
    const now = this.timers.now();
    const effective = this.decisions();
    return [...this.slots.values()].map((s) => ({
      ...s.health.snapshot(now), decision: effective.get(s.target.name) ?? s.health.decision,
      name: s.target.name, probes: s.probes, lastRttMs: s.lastRttMs, lastDetectionMs: s.lastDetectionMs,
    }));
  }

  private drop(slot: Slot): void {
    if (slot.timer !== undefined) this.timers.clearTimeout(slot.timer);
    slot.timer = undefined;
    for (const ac of slot.inflight) ac.abort(new FabricError('WGF_ERR_UNAVAILABLE', 'health checking of this backend stopped'));
    slot.inflight.clear();
    if (this.slots.get(slot.target.name) === slot) this.slots.delete(slot.target.name);
    this.effective.delete(slot.target.name); // a backend re-made under this name starts afresh
  }

  private schedule(slot: Slot): void {
    slot.timer = this.timers.setTimeout(() => this.fire(slot), Math.max(0, slot.nextAt - this.timers.now()));
  }

  private scheduleResync(): void {
    this.resyncTimer = this.timers.setTimeout(() => {
      if (this.stopped) return;
      const now = this.timers.now();
      for (const s of this.slots.values()) s.health.tick(now);
      this.push();
      this.scheduleResync();
    }, this.o.resyncMs ?? 1000);
  }

  private fire(slot: Slot): void {
    slot.timer = undefined;
    if (this.stopped || this.slots.get(slot.target.name) !== slot) return;
    const start = this.timers.now();
    const seq = ++slot.seq;
    slot.probes++;
    const ac = new AbortController();
    slot.inflight.add(ac);
    let done = false;
    const finish = (report: ProbeReport): void => {
      if (done) return;
      done = true;
      this.timers.clearTimeout(timeout);
      slot.inflight.delete(ac);
      this.feed(slot, seq, start, report);
    };
    const timeoutMs = this.config.timeoutMs;
    const timeout = this.timers.setTimeout(() => {
      ac.abort(new FabricError('WGF_ERR_PROBE_TIMEOUT', `probe timed out after ${timeoutMs} ms`));
      finish({ ok: false, reason: `timeout after ${timeoutMs} ms` });
    }, timeoutMs);
    let pending: Promise<ProbeReport>;
    try {
      pending = this.o.prober(slot.target, ac.signal);
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(finish, (e: unknown) => finish({ ok: false, reason: reasonOf(e) }));
    // Fixed cadence: the next start does not wait for this probe; skip missed starts.
    slot.nextAt += this.config.intervalMs;
    if (slot.nextAt <= start) slot.nextAt = start + this.config.intervalMs;
    this.schedule(slot);
  }

  private feed(slot: Slot, seq: number, start: number, report: ProbeReport): void {
    if (this.stopped || this.slots.get(slot.target.name) !== slot || seq < slot.fedSeq) return;
    slot.fedSeq = seq;
    const now = this.timers.now();
    const before = slot.health.decision;
    // In the table before this probe: by its own decision, or by fail-open as last handed out
    // (then losing it is a detection too). O(1): the effective map is not recomputed per probe.
    const wasIn = before.inTable || this.effective.get(slot.target.name)?.inTable === true;
    if (report.ok) {
      slot.failStreakStart = null;
      slot.lastRttMs = report.rttMs;
    } else if (slot.failStreakStart === null) {
      slot.failStreakStart = start;
    }
    const after = slot.health.observe(report.ok ? { ok: true } : { ok: false, reason: report.reason }, now);
    this.o.onProbe?.(slot.target.name, report, now - start);
    if (wasIn && !after.inTable && after.state === 'down' && slot.failStreakStart !== null) {
      slot.lastDetectionMs = now - slot.failStreakStart;
      this.o.onDetection?.(slot.target.name, slot.lastDetectionMs);
    }
    if (decisionChanged(before, after)) this.push();
  }

  /** Sends the current state to the sink; coalesces pushes requested while one runs. */
  private push(): void {
    this.dirty = true;
    if (this.pushing || this.stopped) return;
    this.pushing = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        try {
          await this.o.sink.update(this.backends(), this.decisions());
        } catch (e) {
          this.o.onError?.(e);
        }
      }
    })().finally(() => {
      this.pushing = undefined;
    });
  }
}

/** Options of the WireGuard prober (one probe key per LB instance, known to every backend). */
export interface WireguardProberOptions {
  /** The pool's server public key (every backend of a pool shares it). */
  readonly serverPublicKey: Key;
  /** This LB instance's probe key; its public key must be a peer on every backend. */
  readonly privateKey: Key;
  readonly presharedKey?: Key;
  /** Also ping `target` from `source` through the tunnel (proves the data path, not just the handshake). */
  readonly ping?: { readonly target: string; readonly source: string };
  /** Budget of one probe; keep it equal to the checker's timeoutMs (default 300). */
  readonly timeoutMs?: number;
  /** The probe implementation (default probe() of src/probe/probe.ts); injectable for tests. */
  readonly probe?: (o: ProbeOptions) => Promise<ProbeResult>;
}

/**
 * A Prober that does a real WireGuard handshake with the backend's address:port (not the VIP),
 * plus an ICMP echo through the tunnel when `ping` is set. rttMs is the handshake round trip.
 * Failures (timeout, bad reply, no echo) become { ok: false, reason: the probe's message }.
 */
export function wireguardProber(opts: WireguardProberOptions): Prober {
  const run = opts.probe ?? wgProbe;
  // One local port per backend, re-used probe after probe: the LB then keeps one conntrack
  // entry per backend for its probes, not one per probe (5 probes/s × 3 backends × up to 120 s).
  const ports = new Map<string, number>();
  return async (backend, signal) => {
    const key = `${backend.address}|${backend.port}`;
    try {
      const r = await run({
        host: backend.address,
        port: backend.port,
        localPort: ports.get(key) ?? 0,
        onLocalPort: (p) => ports.set(key, p),
        serverPublicKey: opts.serverPublicKey,
        privateKey: opts.privateKey,
        ...(opts.presharedKey ? { presharedKey: opts.presharedKey } : {}),
        ...(opts.ping ? { ping: opts.ping } : {}),
        timeoutMs: opts.timeoutMs ?? DEFAULT_HEALTH_CONFIG.timeoutMs,
        signal,
      });
      return { ok: true, rttMs: r.handshakeMs };
    } catch (e) {
      return { ok: false, reason: reasonOf(e) };
    }
  };
}
