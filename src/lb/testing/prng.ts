/**
 * mulberry32: a tiny seeded PRNG so property tests and benchmarks are reproducible (a failing
 * case fails again with the same seed). Returns a function yielding uniform u32 values.
 */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A uniform integer in lo..hi (inclusive) from a prng(). */
export function intIn(next: () => number, lo: number, hi: number): number {
  return lo + (next() % (hi - lo + 1));
}
