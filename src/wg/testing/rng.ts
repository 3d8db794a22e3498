import { clamp, type Key } from '../keys.js';
/**
 * A seeded pseudo-random byte source (SplitMix32-style) for deterministic tests and fuzzing.
 * Not for keys outside tests.
 */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = next() & 0xff;
    return out;
  };
}

/** A seeded integer in [0, max). */
export function seededInt(random: (n: number) => Uint8Array): (max: number) => number {
  return (max: number) => {
    const b = random(4);
    return ((b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0) % max;
  };
}

/** A deterministic clamped private key for tests, from a seed. */
export function seededKey(seed: number): Key {
  const k = seededRandom(seed)(32);
  clamp(k);
  return k;
}
