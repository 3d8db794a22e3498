/**
 * LB controller benchmark: the user-space cost of one LbController.update() that changes the
 * table (Maglev build + ruleset render; nft itself is replaced by the in-memory applier), for
 * N = 3, 10, 100 backends at M = 65537, against buildMaglevTable alone measured in the same run.
 * Each measured update alternates the weight of one backend, so every call really rebuilds.
 * Run: node --import tsx bench/lb.ts
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { LbController, type LbBackend } from '../src/lb/controller.js';
import type { HealthDecision } from '../src/lb/health.js';
import { buildMaglevTable, DEFAULT_TABLE_SIZE } from '../src/lb/maglev.js';
import { FakeApplier } from '../src/lb/testing/fake-applier.js';
import { FakeConntrack } from '../src/lb/testing/fake-conntrack.js';
import { timeRuns, type Stat } from './stats.js';

const M = DEFAULT_TABLE_SIZE;
const NS = [3, 10, 100];
const RUNS = 5;
const UP: HealthDecision = { state: 'up', cause: 'healthy', inTable: true, keepFlows: true, reason: 'healthy', since: 0 };

/** Two backend sets that differ in one weight, so alternating between them changes the table. */
function sets(n: number): [LbBackend[], LbBackend[]] {
  const base = Array.from({ length: n }, (_, i) => ({
    name: `backend-${String(i).padStart(3, '0')}`, address: `198.18.${1 + (i >> 8)}.${(i & 0xff) + 1}`, port: 51820, weight: 1,
  }));
  return [base, base.map((b, i) => (i === n - 1 ? { ...b, weight: 2 } : b))];
}

/** RUNS timed calls after one uncounted warm-up. */
const measure = (fn: (i: number) => unknown): Promise<Stat> => timeRuns(RUNS, fn, 1);

const fmt = (s: Stat): string => `median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})`;

/** Runs the LB controller benchmark and reports one labelled line per N (a few seconds). */
export async function benchLb(report: (line: string) => void): Promise<void> {
  for (const n of NS) {
    const [x, y] = sets(n);
    const pick = (i: number): LbBackend[] => (i % 2 === 0 ? y : x); // the warm-up (i = -1) builds x
    const baseline = await measure((i) => buildMaglevTable(pick(i), M));

    const applier = new FakeApplier();
    const ctl = new LbController({ vip: '198.18.0.1', port: 51820, tableSize: M, applier, conntrack: new FakeConntrack(), now: () => 0 });
    const decisions = new Map(x.map((b) => [b.name, UP]));
    let changed = 0;
    const update = await measure(async (i) => {
      if ((await ctl.update(pick(i), decisions)).applied) changed++;
    });
    if (changed !== RUNS + 1) throw new Error(`expected every update to apply, ${changed} of ${RUNS + 1} did`);
    const kib = Buffer.byteLength(applier.current ?? '') / 1024;
    report(`lb update M=${M} N=${String(n).padStart(3)}: ${fmt(update)}; buildMaglevTable alone ${fmt(baseline)}; `
      + `ratio ${(update.median / baseline.median).toFixed(2)}x; script ${kib.toFixed(0)} KiB; ${RUNS} runs`);
  }
  report('lb note: excludes nft -f itself, which dominates at M=65537 (the kernel parses every map element; see nft-apply.ts)');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = performance.now();
  await benchLb((line) => console.log(line));
  console.log(`(lb bench took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
