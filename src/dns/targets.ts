/**
 * What "in service" means for the pool's name, from the control plane's view and the probes.
 * Pure.
 *
 * - Nodes (`--source nodes`, the default): a node's endpoint address is published while its
 *   admin state is active, its agent reported ready recently (report younger than
 *   readyMaxAgeMs; a node whose agent is gone stops reporting), and the updater's own WireGuard
 *   probes (handshake + ICMP echo through the tunnel, as the LB's checker does) pass. These are
 *   exactly the LB's table decisions (src/lb/health.ts), including fail-open on readiness: when
 *   no node's agent is in sync (say the control plane lost its store), the nodes that answer
 *   probes stay published.
 * - LB VIPs (`--source lbs`): a VIP is published while at least one LB instance serving it has
 *   a fresh report (younger than readyMaxAgeMs) with at least one backend in its table.
 */
import type { AdminState, LbReport, Node, NodeStatus } from '../protocol/types.js';
import type { CheckTarget } from '../lb/checker.js';
import { agentReady, type HealthDecision } from '../lb/health.js';
import { canonicalAddress } from './plan.js';

/** "ip:port" or "[v6]:port" of a node endpoint; undefined when it is not an IP literal endpoint. */
export function endpointAddress(endpoint: string | null): { address: string; port: number } | undefined {
  if (!endpoint) return undefined;
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(endpoint) ?? /^([0-9.]+):(\d+)$/.exec(endpoint);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  try {
    return { address: canonicalAddress(m[1]!), port };
  } catch {
    return undefined;
  }
}

/**
 * Probe targets of the nodes with an IP endpoint (either family); nodes without one are listed
 * in `skipped`. Readiness comes from `ready` when given (the readiness stream: a node missing
 * there is not ready), else from each node's last report.
 */
export function nodeTargets(nodes: readonly Pick<Node, 'name' | 'endpoint' | 'adminState' | 'status'>[], wallNowMs: number, readyMaxAgeMs: number, ready?: ReadonlyMap<string, boolean>): { targets: CheckTarget[]; skipped: string[] } {
  const targets: CheckTarget[] = [];
  const skipped: string[] = [];
  for (const n of nodes) {
    const ep = endpointAddress(n.endpoint);
    if (!ep) {
      skipped.push(n.name);
      continue;
    }
    targets.push({ name: n.name, address: ep.address, port: ep.port, weight: 1, adminState: n.adminState as AdminState, ready: ready ? ready.get(n.name) === true : agentReady(n.status as NodeStatus | null, wallNowMs, readyMaxAgeMs) });
  }
  return { targets, skipped };
}

/** The addresses of the targets whose (effective) decision puts them in service, sorted, without duplicates. */
export function inServiceAddresses(targets: readonly Pick<CheckTarget, 'name' | 'address'>[], decisions: ReadonlyMap<string, Pick<HealthDecision, 'inTable'>>): string[] {
  return [...new Set(targets.filter((t) => decisions.get(t.name)?.inTable === true).map((t) => t.address))].sort();
}

/** The VIPs of fresh LB reports with at least one backend in their table, sorted, without duplicates. */
export function lbAddresses(reports: readonly Pick<LbReport, 'vip' | 'reportedAt' | 'backends'>[], wallNowMs: number, maxAgeMs: number): string[] {
  const out = new Set<string>();
  for (const r of reports) {
    const at = Date.parse(r.reportedAt);
    if (!Number.isFinite(at) || wallNowMs - at > maxAgeMs || !r.backends.some((b) => b.inTable)) continue;
    try {
      out.add(canonicalAddress(r.vip));
    } catch {
      // a VIP that is not an address literal cannot be an A/AAAA record
    }
  }
  return [...out].sort();
}
