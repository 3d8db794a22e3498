/**
 * Lab bring-up: `labUp` of 1 backend against 10 backends (no clients, SQLite control plane,
 * TLS on, as `wgfabric lab up` does), alternating, each torn down before the next. Prints
 * the wall time of each, their ratio (target: 10 nodes < 3x one node) and where the time of
 * the last 10-node run went (from labUp's own log lines). Needs root.
 *
 * Run: node --import tsx bench/lab.ts   (WGF_BENCH_LAB_ROUNDS=1 for one pair)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { labUp, waitForConvergence } from '../src/lab/lab.js';
import { loadStates, teardown } from '../src/lab/state.js';
import { stat } from './stats.js';

type Report = (line: string) => void;

/** One bring-up: wall ms, and the ms at which each log line came. */
async function bringUp(base: string, backends: number): Promise<{ ms: number; steps: { at: number; line: string }[] }> {
  const steps: { at: number; line: string }[] = [];
  const t0 = performance.now();
  const lab = await labUp({ backends, clients: 0, base, log: (line) => steps.push({ at: performance.now() - t0, line }) });
  const ms = performance.now() - t0;
  await waitForConvergence(lab, 60_000); // already converged: a check, untimed
  for (const state of loadStates(base)) await teardown(state);
  return { ms, steps };
}

export async function benchLab(report: Report): Promise<void> {
  const rounds = Number(process.env.WGF_BENCH_LAB_ROUNDS) || 2;
  const base = mkdtempSync(join(tmpdir(), 'wgfabric-bench-labup-'));
  const one: number[] = [];
  const ten: number[] = [];
  let last: { at: number; line: string }[] = [];
  report(`lab up: 1 backend vs 10 backends, no clients, alternating, ${rounds} round(s); ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(2)}`);
  try {
    for (let r = 0; r < rounds; r++) {
      one.push((await bringUp(base, 1)).ms);
      const t = await bringUp(base, 10);
      ten.push(t.ms);
      last = t.steps;
    }
  } finally {
    for (const state of loadStates(base)) await teardown(state);
    rmSync(base, { recursive: true, force: true });
  }
  const s1 = stat(one);
  const s10 = stat(ten);
  const f = (ms: number): string => (ms / 1000).toFixed(1);
  report(`  1 node   ${f(s1.median)} s (min ${f(s1.min)}, max ${f(s1.max)})`);
  report(`  10 nodes ${f(s10.median)} s (min ${f(s10.min)}, max ${f(s10.max)})`);
  report(`  ratio 10 / 1 = ${(s10.median / s1.median).toFixed(2)}x of medians, per round ${ten.map((t, i) => (t / one[i]!).toFixed(2)).join(', ')}   (target < 3)`);
  const ratio = s10.median / s1.median;
  report(`  target 10-node lab up < 3x the 1-node lab (medians): ${ratio < 3 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x, load average ${loadavg()[0]!.toFixed(1)})`);
  report(`  the last 10-node run, step by step (s since labUp was called):`);
  for (const s of last) report(`    ${f(s.at).padStart(5)}  ${s.line.replace(/^lab \S+: /, '')}`);
  report(`  load average now ${loadavg().map((x) => x.toFixed(2)).join(' ')} (shared machine: compare the ratio)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchLab((line) => console.log(line));
}
