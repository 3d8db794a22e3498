/**
 * `node drain --wait`: the flows the LB instances still hold to a draining node, from their
 * reports (each instance counts its data path's flows per backend every 2 s), and the wait
 * until none are left. Pure except waitForDrain's polling.
 */
import type { LbReport } from '../protocol/types.js';
import { FabricError } from '../protocol/errors.js';
import { LB_REPORT_STALE_MS } from './lb-reports.js';
import { renderTable } from './output.js';

/** One LB instance's view of the node. */
export interface DrainRow {
  readonly instance: string;
  readonly vip: string;
  /** Flows left to the node; null when the instance does not count flows. */
  readonly flows: number | null;
  readonly inTable: boolean;
  /** The report is older than the stale limit: that instance stopped reporting (not waited for). */
  readonly stale: boolean;
}

/** The rows of `node` in the pool's LB reports (instances that do not report it are left out). */
export function drainRows(node: string, reports: readonly LbReport[], nowMs: number, staleMs = LB_REPORT_STALE_MS): DrainRow[] {
  return reports.flatMap((r) => r.backends.filter((b) => b.name === node).map((b) => ({
    instance: r.instance, vip: r.vip.includes(':') ? `[${r.vip}]:${r.port}` : `${r.vip}:${r.port}`,
    flows: b.flows ?? null, inTable: b.inTable, stale: nowMs - Date.parse(r.reportedAt) > staleMs,
  })));
}

/** Flows left on the node over the live instances; null when one of them does not count. */
export function flowsLeft(rows: readonly DrainRow[]): number | null {
  let sum = 0;
  for (const r of rows.filter((x) => !x.stale)) {
    if (r.flows === null) return null;
    sum += r.flows;
  }
  return sum;
}

/** Drained: no live instance has the node in its table or any flow to it. */
export function isDrained(rows: readonly DrainRow[]): boolean {
  return flowsLeft(rows) === 0 && rows.every((r) => r.stale || !r.inTable);
}

/** One progress line: `12.0s  3 flows left: lb-1 2, lb-2 1`. */
export function drainLine(elapsedS: number, rows: readonly DrainRow[]): string {
  const left = flowsLeft(rows);
  const per = rows.map((r) => `${r.instance} ${r.stale ? 'stale' : r.flows ?? '?'}${r.inTable && !r.stale ? ' (still in its table)' : ''}`).join(', ');
  const head = rows.length === 0 ? 'no LB instance reports this node' : left === null ? 'flows unknown (an LB does not count them)' : `${left} flow${left === 1 ? '' : 's'} left`;
  return `${elapsedS.toFixed(1)}s  ${head}${per ? `: ${per}` : ''}\n`;
}

/** The final table of `node drain --wait`. */
export function renderDrainRows(rows: readonly DrainRow[]): string {
  return renderTable(rows, [
    { header: 'LB INSTANCE', get: (r) => r.instance }, { header: 'VIP', get: (r) => r.vip },
    { header: 'FLOWS LEFT', get: (r) => (r.flows === null ? '?' : r.flows) }, { header: 'IN TABLE', get: (r) => (r.inTable ? 'yes' : 'no') },
    { header: 'REPORT', get: (r) => (r.stale ? 'stale (not waited for)' : 'fresh') },
  ]);
}

export interface DrainWaitOptions {
  readonly node: string;
  readonly timeoutMs: number;
  readonly reports: () => Promise<readonly LbReport[]>;
  /** Called with each new line of progress (when the counts change). */
  readonly progress: (line: string) => void;
  readonly pollMs?: number;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface DrainResult {
  readonly node: string;
  readonly drained: boolean;
  readonly waitedS: number;
  readonly flowsLeft: number | null;
  readonly instances: readonly DrainRow[];
}

/**
 * Polls the LB reports until the node is drained (see isDrained) or timeoutMs passed; prints a
 * progress line whenever the counts change. Resolves with the result either way (the caller
 * turns a timeout into WGF_ERR_DRAIN_TIMEOUT).
 */
export async function waitForDrain(o: DrainWaitOptions): Promise<DrainResult> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const t0 = now();
  let last = '';
  for (;;) {
    const rows = drainRows(o.node, await o.reports(), now());
    const elapsed = (now() - t0) / 1000;
    const key = JSON.stringify(rows);
    if (key !== last) o.progress(drainLine(elapsed, rows));
    last = key;
    const drained = isDrained(rows);
    if (drained || now() - t0 >= o.timeoutMs) return { node: o.node, drained, waitedS: Math.round(elapsed * 10) / 10, flowsLeft: flowsLeft(rows), instances: rows };
    await sleep(Math.min(o.pollMs ?? 1000, Math.max(0, o.timeoutMs - (now() - t0))));
  }
}

/** WGF_ERR_DRAIN_TIMEOUT for a wait that ended with flows left. */
export function drainTimeout(r: DrainResult): FabricError {
  return new FabricError('WGF_ERR_DRAIN_TIMEOUT', `node ${r.node}: ${r.flowsLeft ?? 'an unknown number of'} flows still left after ${r.waitedS}s`, {
    node: r.node, flowsLeft: r.flowsLeft, instances: r.instances.map((i) => ({ instance: i.instance, flows: i.flows, inTable: i.inTable, stale: i.stale })),
  });
}
