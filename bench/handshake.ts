/**
 * Handshake throughput of the pure initiator (src/wg/noise.ts) against the in-process test
 * responder, next to a baseline of raw X25519 operations measured in the same run. The
 * initiator does 4 X25519 operations per handshake (ephemeral key generation, DH(e, S_r),
 * DH(e, E_r), DH(s, E_r); DH(s, S_r) is computed once per peer), so X25519/4 is the bound.
 * Numbers are noisy: compare the ratio, not the absolute rates.
 *
 * Run: node --import tsx bench/handshake.ts
 */
import { diffieHellman, generateKeyPairSync } from 'node:crypto';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { generateKeyPair, sharedSecret } from '../src/wg/keys.js';
import { Initiator } from '../src/wg/noise.js';
import { TestResponder } from '../src/wg/testing/responder.js';
import { stat, type Stat } from './stats.js';

const RUNS = 5;
const HANDSHAKES = 300;
const DH_OPS = 1500;
/** keys.ts at native speed: within 5% of raw KeyObjects (a call still checks its cached key objects byte for byte). */
const KEYS_TARGET = 0.95;

const fmt = (s: Stat) => `${Math.round(s.median)}/s (min ${Math.round(s.min)}, max ${Math.round(s.max)})`;

/**
 * Raw X25519 with prepared KeyObjects (the cost floor of one DH) and the same through keys.ts
 * (raw bytes in and out; key objects of keys seen before are reused), interleaved in slices of
 * 50 operations so that both see the same share of a busy machine.
 */
function x25519PerSecond(): { raw: number; wrapped: number } {
  const a = generateKeyPairSync('x25519');
  const b = generateKeyPairSync('x25519');
  const c = generateKeyPair();
  const d = generateKeyPair();
  const SLICE = 50;
  let rawMs = 0;
  let wrappedMs = 0;
  for (let done = 0; done < DH_OPS; done += SLICE) {
    const t0 = performance.now();
    for (let i = 0; i < SLICE; i++) diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey });
    const t1 = performance.now();
    for (let i = 0; i < SLICE; i++) sharedSecret(c.privateKey, d.publicKey);
    const t2 = performance.now();
    rawMs += t1 - t0;
    wrappedMs += t2 - t1;
  }
  const ops = Math.ceil(DH_OPS / SLICE) * SLICE;
  return { raw: ops / (rawMs / 1000), wrapped: ops / (wrappedMs / 1000) };
}

/** X25519 through keys.ts on keys never seen before (a fresh array per call): the import path's cost. */
function freshKeysX25519PerSecond(): number {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const t0 = performance.now();
  for (let i = 0; i < DH_OPS; i++) sharedSecret(a.privateKey.slice(), b.publicKey.slice());
  return DH_OPS / ((performance.now() - t0) / 1000);
}

/** Handshakes per second: time spent in the initiator only, and for the whole in-process exchange. */
function handshakesPerSecond(): { initiator: number; exchange: number } {
  const server = generateKeyPair();
  const client = generateKeyPair();
  const responder = new TestResponder({ privateKey: server.privateKey });
  const initiator = new Initiator({ privateKey: client.privateKey, peerPublicKey: server.publicKey });
  let inInitiator = 0;
  const t0 = performance.now();
  for (let i = 0; i < HANDSHAKES; i++) {
    const a = performance.now();
    const sent = initiator.createInitiation();
    inInitiator += performance.now() - a;
    const out = responder.consumeInitiation(sent.message);
    if (out.kind !== 'response') throw new Error('unexpected cookie reply');
    const b = performance.now();
    initiator.consumeResponse(out.message);
    inInitiator += performance.now() - b;
  }
  const total = performance.now() - t0;
  return { initiator: HANDSHAKES / (inInitiator / 1000), exchange: HANDSHAKES / (total / 1000) };
}

/** Runs the benchmark and reports one line per figure. */
export async function benchHandshake(report: (line: string) => void): Promise<void> {
  handshakesPerSecond(); // warm up JIT and OpenSSL
  const raw: number[] = [];
  const wrapped: number[] = [];
  const fresh: number[] = [];
  const init: number[] = [];
  const exchange: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const x = x25519PerSecond();
    raw.push(x.raw);
    wrapped.push(x.wrapped);
    fresh.push(freshKeysX25519PerSecond());
    const h = handshakesPerSecond();
    init.push(h.initiator);
    exchange.push(h.exchange);
    await new Promise((res) => setImmediate(res)); // stay responsive between runs
  }
  const rawS = stat(raw);
  const wrappedS = stat(wrapped);
  const initS = stat(init);
  const exS = stat(exchange);
  report(`handshake: median of ${RUNS} runs x ${HANDSHAKES} handshakes, ${DH_OPS} X25519 ops per baseline run`);
  report(`  X25519 raw (KeyObjects)            ${fmt(rawS)}`);
  const freshS = stat(fresh);
  report(`  X25519 via keys.ts (raw bytes)     ${fmt(wrappedS)}`);
  report(`  X25519 via keys.ts, new keys/call  ${fmt(freshS)} (both keys imported each call)`);
  report(`  ratio keys.ts / raw X25519 = ${(wrappedS.median / rawS.median).toFixed(2)}  (target 1.00: native speed); new keys each call ${(freshS.median / rawS.median).toFixed(2)}`);
  const ratio = wrappedS.median / rawS.median;
  report(`  target keys.ts at native X25519 speed (>= ${KEYS_TARGET}x raw, medians): ${ratio >= KEYS_TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x, load average ${loadavg()[0]!.toFixed(1)})`);
  report(`  initiator handshakes (own time)    ${fmt(initS)}`);
  report(`  full in-process exchange           ${fmt(exS)} (initiator + test responder)`);
  report(`  ratio initiator / (raw X25519 / 4) = ${(initS.median / (rawS.median / 4)).toFixed(2)}  (1.00 = DH-bound)`);
  report(`  ratio initiator / (keys.ts X25519 / 4) = ${(initS.median / (wrappedS.median / 4)).toFixed(2)}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchHandshake((line) => console.log(line));
}
