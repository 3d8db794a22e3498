/** Spread of repeated measurements: every bench prints median with min and max so noise shows. */
export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function stat(xs: readonly number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! };
}

/** Percentile (0..100) of a sample, nearest-rank. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Wall time (ms) of `runs` calls of fn, after `warmup` uncounted calls; fn gets the run index (-1 for warm-ups). */
export async function timeRuns(runs: number, fn: (i: number) => unknown, warmup = 0): Promise<Stat> {
  for (let i = 0; i < warmup; i++) await fn(-1);
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn(i);
    ms.push(performance.now() - t0);
  }
  return stat(ms);
}
