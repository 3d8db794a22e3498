import type { LbReport, Node, Role } from '../protocol/types.js';

/** What a role may do in the dashboard (the API decides again on every call). Pure. */
export function abilities(role: Role): { readonly operate: boolean; readonly admin: boolean } {
  return { operate: role === 'operator' || role === 'admin', admin: role === 'admin' };
}

/** "42s", "5m", "3h", "2d" since `iso` (or "-" for null). Pure. */
export function age(iso: string | null | undefined, nowMs: number): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/**
 * The audit `afterId` that lists entries from `timeMs` on: audit ids start with the 13-digit
 * millisecond time of the entry (control/context.ts), so this id sorts just before the first
 * entry of that millisecond. Pure.
 */
export function auditAfterIdFor(timeMs: number): string {
  return `${String(Math.max(0, Math.floor(timeMs) - 1)).padStart(13, '0')}-999999-ffffff`;
}

/** An LB report older than this is shown as stale (3 heartbeats of the default 10 s). */
export const LB_STALE_MS = 30_000;

/** How one LB instance sees one backend: a cell of the fleet view. Pure. */
export interface LbCell {
  readonly instance: string;
  readonly text: string;
  readonly tone: 'ok' | 'bad' | 'warn' | 'muted';
  readonly title: string;
}

export function lbCells(node: string, reports: readonly LbReport[], nowMs: number): LbCell[] {
  return reports.map((r) => {
    const b = r.backends.find((x) => x.name === node);
    const stale = nowMs - Date.parse(r.reportedAt) > LB_STALE_MS;
    if (!b) return { instance: r.instance, text: 'not a backend', tone: 'muted', title: '' };
    // Out while up: an admin reason (draining, disabled, not ready); otherwise the probe state says why.
    const flows = b.flows === undefined ? '' : `, ${b.flows} flow${b.flows === 1 ? '' : 's'}`;
    const text = b.inTable ? `in, ${b.slots} slots${flows}` : `out: ${b.state === 'up' ? b.reason : b.state}${flows}`;
    const tone = stale ? 'warn' : b.inTable ? (b.state === 'up' ? 'ok' : 'warn') : 'bad';
    return { instance: r.instance, text: stale ? `${text} (stale ${age(r.reportedAt, nowMs)})` : text, tone, title: b.reason };
  });
}

/** The node's readiness as a word and tone. Pure. */
export function readiness(n: Node): { text: string; tone: 'ok' | 'bad' | 'muted' } {
  if (!n.status) return { text: 'no report', tone: 'muted' };
  return n.status.ready ? { text: 'ready', tone: 'ok' } : { text: 'not ready', tone: 'bad' };
}

/** The node actions a state offers: drain/undrain, disable/enable. Pure. */
export function nodeActions(n: Pick<Node, 'adminState'>): { label: string; to: Node['adminState'] }[] {
  switch (n.adminState) {
    case 'active': return [{ label: 'Drain', to: 'draining' }, { label: 'Disable', to: 'disabled' }];
    case 'draining': return [{ label: 'Undrain', to: 'active' }, { label: 'Disable', to: 'disabled' }];
    case 'disabled': return [{ label: 'Enable', to: 'active' }];
  }
}

/** Total slots the LB instances still give a node: new flows it can receive (0 = drained on every LB). Pure. */
export function slotsOn(node: string, reports: readonly LbReport[]): number {
  let n = 0;
  for (const r of reports) for (const b of r.backends) if (b.name === node && b.inTable) n += b.slots;
  return n;
}

/**
 * Flows the LB instances still carry to a node (conntrack or flow-table entries, summed over the
 * instances that count them); null when no instance reports a count. What a drain waits for. Pure.
 */
export function flowsOn(node: string, reports: readonly LbReport[]): number | null {
  let n: number | null = null;
  for (const r of reports) for (const b of r.backends) if (b.name === node && b.flows !== undefined) n = (n ?? 0) + b.flows;
  return n;
}

/** A datetime-local value ("2026-12-04T17:30") as an RFC 3339 UTC time, or undefined. Pure apart from the time zone. */
export function localToIso(v: string): string | undefined {
  if (!v) return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
