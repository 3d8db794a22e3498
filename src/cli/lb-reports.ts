/**
 * LB reports as the CLI shows them: `wgfabric lb list` (one row per instance and backend) and
 * the LB column of `node list` / `status` (one summary per node). Pure except allLbReports().
 */
import { ApiClient } from '../client/api-client.js';
import type { LbReport } from '../protocol/types.js';
import { renderTable } from './output.js';
import { announcedText } from './node.js';

/**
 * A report older than this is stale: its LB instance stopped reporting (gone, or cut off from
 * the control plane). Three heartbeats of the default 2 s, rounded up.
 */
export const LB_REPORT_STALE_MS = 10_000;

/** One backend as one LB instance reported it (backend null: the instance reported none). */
export interface LbReportRow {
  pool: string;
  instance: string;
  vip: string;
  /** The instance's table: size and flow hash key (the pool's LB settings as it applied them). */
  tableSize: number;
  affinity: string;
  backend: string | null;
  state: string | null;
  inTable: boolean | null;
  slots: number | null;
  reason: string | null;
  /** Seconds since the report (0 when the clocks disagree the other way). */
  ageS: number;
  stale: boolean;
  failOpen: boolean;
  lastError: string | null;
  /** The instance's BGP announcement of this VIP (node.ts announcedText), '-' when it announces nothing. */
  announced: string;
  /** How replies reach clients (lb run --return-path); null from an LB that does not report it. */
  returnPath: string | null;
}

const ageMs = (r: LbReport, nowMs: number): number => Math.max(0, nowMs - Date.parse(r.reportedAt));

/** Rows of `lb list`: instances in the given order, backends in report order. */
export function lbReportRows(reports: readonly LbReport[], nowMs: number, staleMs = LB_REPORT_STALE_MS): LbReportRow[] {
  return reports.flatMap((r): LbReportRow[] => {
    const age = ageMs(r, nowMs);
    const base = {
      pool: r.pool, instance: r.instance, vip: r.vip.includes(':') ? `[${r.vip}]:${r.port}` : `${r.vip}:${r.port}`, tableSize: r.tableSize, affinity: r.affinity,
      ageS: Math.round(age / 1000), stale: age > staleMs, failOpen: r.failOpen, lastError: r.lastError, announced: announcedText(r.announce),
      returnPath: r.returnPath ?? null,
    };
    if (r.backends.length === 0) return [{ ...base, backend: null, state: null, inTable: null, slots: null, reason: null }];
    return r.backends.map((b) => ({ ...base, backend: b.name, state: b.state, inTable: b.inTable, slots: b.slots, reason: b.reason }));
  });
}

/**
 * The `lb list` table, then one line per instance with an error or fail-open in effect, and one
 * when the instances of a VIP hold tables of different settings (they would hash a flow to
 * different backends: a settings change still on its way, or an instance that does not follow it).
 */
export function renderLbReportRows(rows: readonly LbReportRow[]): string {
  if (rows.length === 0) return 'no LB reports in this pool\n';
  const table = renderTable(rows, [
    { header: 'INSTANCE', get: (r) => r.instance }, { header: 'VIP', get: (r) => r.vip }, { header: 'TABLE', get: (r) => `${r.tableSize} ${r.affinity}` },
    // Only when an instance reports it (LBs that predate the field do not).
    ...(rows.some((r) => r.returnPath !== null) ? [{ header: 'RETURN', get: (r: LbReportRow) => r.returnPath }] : []),
    // Only when an instance announces (lb run --announce bgp).
    ...(rows.some((r) => r.announced !== '-') ? [{ header: 'ANNOUNCED', get: (r: LbReportRow) => r.announced }] : []),
    { header: 'BACKEND', get: (r) => r.backend },
    { header: 'STATE', get: (r) => r.state }, { header: 'IN TABLE', get: (r) => (r.inTable === null ? null : r.inTable ? 'yes' : 'no') },
    { header: 'SLOTS', get: (r) => r.slots }, { header: 'REPORTED', get: (r) => `${r.ageS}s ago${r.stale ? ' (stale)' : ''}` },
    { header: 'REASON', get: (r) => r.reason },
  ]);
  const notes: string[] = [];
  const instances = rows.filter((x, i) => rows.findIndex((y) => y.instance === x.instance) === i);
  for (const r of instances) {
    if (r.failOpen) notes.push(`${r.instance}: fail-open on readiness in effect (no backend's agent is in sync)`);
    if (r.lastError) notes.push(`${r.instance}: last error: ${r.lastError}`);
  }
  for (const vip of new Set(instances.map((r) => r.vip))) {
    const of = instances.filter((r) => r.vip === vip);
    if (new Set(of.map((r) => `${r.tableSize} ${r.affinity}`)).size > 1) {
      notes.push(`${vip}: the instances hold different tables (${of.map((r) => `${r.instance} ${r.tableSize} ${r.affinity}`).join(', ')}); they agree once every one applied the pool's settings`);
    }
  }
  return table + notes.map((n) => `${n}\n`).join('');
}

/** Longest reason shown in a summary. */
const SUMMARY_REASON = 32;

/**
 * One node's LB column: how the LB instances that report it see it.
 * - `-`: no LB reports this backend;
 * - `in 2/2`: every reporting instance has it in its table;
 * - `out 1/2: probe failed: timeout…`: out on that many instances, with the freshest reason;
 * plus ` (fail-open)` when an instance holds it in by fail-open on readiness, and
 * ` (stale 42s)` with the oldest age when a report is older than `staleMs`. Pure.
 */
export function lbSummary(backend: string, reports: readonly LbReport[], nowMs: number, staleMs = LB_REPORT_STALE_MS): string {
  const seen = reports
    .flatMap((r) => r.backends.filter((b) => b.name === backend).map((b) => ({ b, r, age: ageMs(r, nowMs) })))
    .sort((x, y) => x.age - y.age);
  if (seen.length === 0) return '-';
  const out = seen.filter((s) => !s.b.inTable);
  let text = out.length === 0 ? `in ${seen.length}/${seen.length}` : `out ${out.length}/${seen.length}: ${clip(out[0]!.b.reason, SUMMARY_REASON)}`;
  if (seen.some((s) => s.b.inTable && s.r.failOpen)) text += ' (fail-open)';
  const stale = seen.filter((s) => s.age > staleMs);
  if (stale.length > 0) text += ` (stale ${Math.round(stale[stale.length - 1]!.age / 1000)}s)`;
  return text;
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Every LB report of a pool (all pages). */
export async function allLbReports(api: Pick<ApiClient, 'listLbStatus'>, pool: string): Promise<LbReport[]> {
  const out: LbReport[] = [];
  for await (const r of ApiClient.all((c) => api.listLbStatus(pool, { limit: 1000, ...(c ? { cursor: c } : {}) }))) out.push(r);
  return out;
}
