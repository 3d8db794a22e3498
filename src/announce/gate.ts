/**
 * When a node announces: a pure decision from what the agent knows, evaluated every check.
 *
 * Shared-cause guard (decided rule): causes that every node of the pool would share at once —
 * the control plane unreachable, or the applied revision behind the control plane's (e.g. a
 * control-plane bug that every agent trips over) — only hold back a node that has not announced
 * yet (start-up). They never withdraw an announced node by themselves: a node withdraws for its
 * own evidence (device, probe through its own device, admin state) or because its agent died
 * (watchdog, BFD). So one bad control-plane revision cannot take the whole anycast prefix off
 * the network, and a node that lost the control plane keeps serving (fail-static).
 */
import type { AdminState } from '../protocol/types.js';
import type { AnnounceState } from '../protocol/announce.js';

export interface GateInput {
  /** Addresses the pool says to announce; none: nothing to announce. */
  readonly addresses: readonly string[];
  readonly adminState: AdminState | null;
  /** The device answers and holds the pool key. */
  readonly deviceUp: boolean;
  /** Applied revision caught up with the control plane's (the agent's readiness). */
  readonly caughtUp: boolean;
  readonly appliedRevision: number;
  readonly controlPlaneRevision: number;
  /** Last probe through our own device on the anycast address: ok, or why not. */
  readonly probe: { readonly ok: boolean; readonly reason: string } | null;
  /** Whether we announce now (announced or draining). */
  readonly announcing: boolean;
  /** When the admin state turned draining (ms), null when not draining. */
  readonly drainStartedMs: number | null;
  readonly drainSeconds: number;
  readonly nowMs: number;
}

export interface GateDecision {
  readonly state: AnnounceState;
  readonly reason: string;
}

export function decideAnnouncement(i: GateInput): GateDecision {
  if (i.addresses.length === 0) return { state: 'withdrawn', reason: 'no anycast address on the pool' };
  if (i.adminState === 'disabled') return { state: 'withdrawn', reason: 'admin state disabled' };
  if (!i.deviceUp) return { state: 'withdrawn', reason: 'device down or without the pool key' };
  if (i.probe === null) return { state: 'withdrawn', reason: 'not probed yet' };
  if (!i.probe.ok) return { state: 'withdrawn', reason: `probe failed: ${i.probe.reason}` };
  if (!i.caughtUp && !i.announcing) return { state: 'withdrawn', reason: `not in sync yet (applied ${i.appliedRevision} of ${i.controlPlaneRevision})` };
  if (i.adminState === 'draining') {
    const end = (i.drainStartedMs ?? i.nowMs) + i.drainSeconds * 1000;
    return i.nowMs < end ? { state: 'draining', reason: 'admin state draining' } : { state: 'withdrawn', reason: 'drained' };
  }
  if (!i.caughtUp) return { state: 'announced', reason: `behind the control plane (applied ${i.appliedRevision} of ${i.controlPlaneRevision}); a shared cause does not withdraw` };
  return { state: 'announced', reason: 'healthy' };
}

/** One VIP of an LB instance as the LB gate sees it. */
export interface LbGateVip {
  /** The VIP address (announced as /32 or /128). */
  readonly vip: string;
  /** Its service runs (started, not stopped). */
  readonly running: boolean;
  /** A table is loaded in the data path (at least one successful apply). */
  readonly tableLoaded: boolean;
  /** Backends in that table (in service). */
  readonly inService: number;
}

export interface LbGateInput {
  readonly vips: readonly LbGateVip[];
  readonly draining: boolean;
  readonly drainStartedMs: number | null;
  readonly drainSeconds: number;
  readonly nowMs: number;
}

export interface LbGateDecision extends GateDecision {
  /** The VIPs to offer (those that serve), sorted; empty when withdrawn. */
  readonly addresses: readonly string[];
  /** Why each VIP held back is held back (VIP -> reason). */
  readonly held: ReadonlyMap<string, string>;
}

/**
 * When an LB instance announces: each VIP while its service runs, its table is loaded and at
 * least one backend is in it; the instance's drain announces with GRACEFUL_SHUTDOWN for
 * drainSeconds, then withdraws. The LB's own evidence (its probes of the backends) decides;
 * control-plane trouble does not (the LB keeps its last known backends, and readiness fails
 * open when no agent is in sync: see lb/health.ts), which is the shared-cause guard for LBs.
 */
export function decideLbAnnouncement(i: LbGateInput): LbGateDecision {
  const held = new Map<string, string>();
  const serving: string[] = [];
  for (const v of i.vips) {
    if (!v.running) held.set(v.vip, 'not running');
    else if (!v.tableLoaded) held.set(v.vip, 'table not loaded yet');
    else if (v.inService === 0) held.set(v.vip, 'no backend in service');
    else serving.push(v.vip);
  }
  serving.sort();
  const heldText = [...held].map(([v, r]) => `${v}: ${r}`).join('; ');
  if (serving.length === 0) return { state: 'withdrawn', reason: heldText || 'no VIP', addresses: [], held };
  if (i.draining) {
    const end = (i.drainStartedMs ?? i.nowMs) + i.drainSeconds * 1000;
    if (i.nowMs >= end) return { state: 'withdrawn', reason: 'drained', addresses: [], held };
    return { state: 'draining', reason: 'instance draining', addresses: serving, held };
  }
  return { state: 'announced', reason: held.size === 0 ? 'healthy' : `healthy; held back ${heldText}`, addresses: serving, held };
}
