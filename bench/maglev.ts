/**
 * Maglev benchmark: table build time, flow churn when a backend is removed (against the ideal
 * 1/N and against modulo-N hashing), and load balance. Run: node --import tsx bench/maglev.ts
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { buildMaglevTable, DEFAULT_TABLE_SIZE, lookup, sortByName, type MaglevBackend } from '../src/lb/maglev.js';
import { prng } from '../src/lb/testing/prng.js';
import { timeRuns } from './stats.js';

const M = DEFAULT_TABLE_SIZE;
const FLOWS = 1_000_000;
const NS = [3, 10, 100];

function backends(n: number): MaglevBackend[] {
  return Array.from({ length: n }, (_, i) => ({ name: `backend-${String(i).padStart(3, '0')}`, weight: 1 }));
}

const pct = (x: number): string => `${(100 * x).toFixed(2)} %`;

async function buildTimes(report: (line: string) => void): Promise<void> {
  for (const n of NS) {
    const set = backends(n);
    const s = await timeRuns(5, () => buildMaglevTable(set, M));
    report(`build   M=${M} N=${String(n).padStart(3)}: median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}; 5 runs)`);
  }
}

function churn(report: (line: string) => void, hashes: Uint32Array): void {
  for (const n of NS) {
    const all = sortByName(backends(n));
    const removed = all[Math.floor(n / 2)]!.name;
    const rest = all.filter((b) => b.name !== removed);
    const before = buildMaglevTable(all, M);
    const after = buildMaglevTable(rest, M);
    let maglevMoved = 0;
    let survivorsMoved = 0;
    let moduloMoved = 0;
    for (const h of hashes) {
      const a = all[lookup(before, h)]!.name;
      const b = rest[lookup(after, h)]!.name;
      if (a !== b) {
        maglevMoved++;
        if (a !== removed) survivorsMoved++;
      }
      if (all[h % n]!.name !== rest[h % (n - 1)]!.name) moduloMoved++;
    }
    report(`churn   remove 1 of N=${String(n).padStart(3)}: maglev moves ${pct(maglevMoved / FLOWS)} of flows `
      + `(minimum 1/N = ${pct(1 / n)}; flows of surviving backends moved: ${pct(survivorsMoved / FLOWS)}), modulo-N moves ${pct(moduloMoved / FLOWS)}`);
  }
}

function balance(report: (line: string) => void, hashes: Uint32Array): void {
  for (const n of NS) {
    const table = buildMaglevTable(backends(n), M);
    const slots = new Array<number>(n).fill(0);
    for (const i of table) slots[i]!++;
    const flows = new Array<number>(n).fill(0);
    for (const h of hashes) flows[lookup(table, h)]!++;
    const ratio = (c: number[]): string => (Math.max(...c) / (c.reduce((s, x) => s + x, 0) / n)).toFixed(4);
    report(`balance N=${String(n).padStart(3)}: max/mean slots ${ratio(slots)} (slots per backend ${Math.min(...slots)}..${Math.max(...slots)}), `
      + `max/mean flows ${ratio(flows)} over ${FLOWS} random flows`);
  }
}

/** Runs the Maglev benchmark and reports one labelled line per measurement (~ a few seconds). */
export async function benchMaglev(report: (line: string) => void): Promise<void> {
  const next = prng(20160316);
  const hashes = new Uint32Array(FLOWS);
  for (let i = 0; i < FLOWS; i++) hashes[i] = next();
  await buildTimes(report);
  churn(report, hashes);
  balance(report, hashes);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = performance.now();
  await benchMaglev((line) => console.log(line));
  console.log(`(maglev bench took ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
