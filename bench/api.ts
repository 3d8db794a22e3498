import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ControlPlane } from '../src/control/plane.js';
import { SecretBox } from '../src/control/secrets.js';
import { buildServer } from '../src/server/app.js';
import { openStore } from '../src/store/index.js';
import type { Op, Store } from '../src/store/store.js';
import { formatIp, parseNet, toHex, usableRange } from '../src/protocol/ipam.js';
import * as K from '../src/control/keys.js';
import { generateKeyPair, toBase64 } from '../src/wg/keys.js';
import { stat, type Stat } from './stats.js';

const REPEATS = 5;
const SEQ_PEERS = 500;
const CONC_PEERS = 1000;
const CONCURRENCY = 16;
const BASELINE_TXNS = 2000;
const PREFILL = 100_000;

/** Runs `fn` REPEATS times; each returns operations per second. */
async function measure(fn: (round: number) => Promise<number>): Promise<Stat> {
  const rates: number[] = [];
  for (let i = 0; i < REPEATS; i++) rates.push(await fn(i));
  return stat(rates);
}

const fmt = (s: Stat) => `median ${s.median.toFixed(0)}/s (min ${s.min.toFixed(0)}, max ${s.max.toFixed(0)})`;

function keys(n: number): string[] {
  return Array.from({ length: n }, () => toBase64(generateKeyPair().publicKey));
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench sanity check failed: ${what}`);
}

/**
 * Writes `n` peers with their claims and the allocator hint straight into the store, in the
 * layout of src/control/keys.ts (as n sequential creations would leave it), much faster than
 * creating them one by one. Keys are random bytes: the control plane never re-validates them.
 */
export async function prefill(store: Store, pool: string, n: number): Promise<void> {
  const rec = JSON.parse((await store.get(K.poolKey(pool)))!.value) as { ipv4Prefix: string; ipv6Prefix: string };
  const first = usableRange(parseNet(rec.ipv4Prefix)).first;
  const first6 = usableRange(parseNet(rec.ipv6Prefix)).first;
  for (let start = 0; start < n; start += 1000) {
    const ops: Op[] = [];
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const addr = first + BigInt(i);
      const addr6 = first6 + BigInt(i);
      const key = randomBytes(32);
      const rec = {
        pool, name: `f${i}`, publicKey: key.toString('base64'), addresses: [`${formatIp(4, addr)}/32`, `${formatIp(6, addr6)}/128`], allowedIps: [], enabled: true, labels: {},
        expiresAt: null, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(),
      };
      ops.push({ type: 'put', key: K.peerKey(pool, rec.name), value: JSON.stringify(rec) });
      ops.push({ type: 'put', key: K.ipamKey(pool, 4, toHex(4, addr)), value: rec.name });
      ops.push({ type: 'put', key: K.ipamKey(pool, 6, toHex(6, addr6)), value: rec.name });
      ops.push({ type: 'put', key: K.pubkeyKey(pool, key.toString('hex')), value: rec.name });
    }
    ops.push({ type: 'put', key: K.hintKey(pool, 4), value: toHex(4, first + BigInt(Math.min(n, start + 1000))) });
    ops.push({ type: 'put', key: K.hintKey(pool, 6), value: toHex(6, first6 + BigInt(Math.min(n, start + 1000))) });
    await store.txn([], ops);
  }
}

/** Raw store txns shaped like a peer creation (compare-absent + a few puts): the baseline. */
async function baseline(store: Store, round: number): Promise<number> {
  const value = JSON.stringify({ name: 'x', publicKey: 'A'.repeat(44), addresses: ['10.0.0.2/32'], labels: {}, createdAt: new Date().toISOString() });
  const t0 = performance.now();
  for (let i = 0; i < BASELINE_TXNS; i++) {
    const k = `bench/${round}/${i}`;
    await store.txn([{ key: `${k}/rec`, modRevision: 0 }, { key: `${k}/claim`, modRevision: 0 }],
      [{ type: 'put', key: `${k}/rec`, value }, { type: 'put', key: `${k}/claim`, value: 'x' }, { type: 'put', key: `${k}/audit`, value }]);
  }
  return BASELINE_TXNS / ((performance.now() - t0) / 1000);
}

/**
 * Peer creations per second through the API on the SQLite store (temp dir, removed at the
 * end): sequential via inject, and with 16 concurrent clients over a real socket; plus the
 * ControlPlane without HTTP, and creation in a pool that already holds 100,000 peers (the
 * allocator must not slow down with pool size). Each rate is the median of 5 runs with
 * min/max, and its ratio to raw store txns of the same shape measured in the same run.
 */
export async function benchApi(report: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-bench-api-'));
  const store = await openStore(`sqlite:${dir}`);
  try {
    const cp = new ControlPlane({ store, secrets: SecretBox.random() });
    const token = (await cp.bootstrap())!;
    const app = await buildServer({ control: cp });
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const base = await measure((r) => baseline(store, r));
    report(`api: baseline raw store txns (3 puts, 2 compares): ${fmt(base)}`);
    const line = (what: string, s: Stat) => report(`api: ${what}: ${fmt(s)}, ${(s.median / base.median).toFixed(2)}x baseline`);

    const direct = await measure(async (r) => {
      const pool = `direct${r}`;
      await cp.createPool({ name: pool, ipv4Prefix: '10.0.0.0/16', ipv6Prefix: 'fd00::/64', allowOverlap: true }, { actor: 'bench' });
      const ks = keys(SEQ_PEERS);
      const t0 = performance.now();
      for (let i = 0; i < SEQ_PEERS; i++) await cp.createPeer(pool, { name: `p${i}`, publicKey: ks[i]! }, { actor: 'bench' });
      return SEQ_PEERS / ((performance.now() - t0) / 1000);
    });
    line('peer creations, ControlPlane without HTTP', direct);

    const seq = await measure(async (r) => {
      const pool = `seq${r}`;
      await cp.createPool({ name: pool, ipv4Prefix: '10.0.0.0/16', ipv6Prefix: 'fd00::/64', allowOverlap: true }, { actor: 'bench' });
      const ks = keys(SEQ_PEERS);
      const t0 = performance.now();
      for (let i = 0; i < SEQ_PEERS; i++) {
        const res = await app.inject({ method: 'POST', url: `/v1/pools/${pool}/peers`, headers: auth, payload: JSON.stringify({ name: `p${i}`, publicKey: ks[i] }) });
        if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`);
      }
      return SEQ_PEERS / ((performance.now() - t0) / 1000);
    });
    line(`peer creations via inject, sequential (${SEQ_PEERS}/run)`, seq);

    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const conc = await measure(async (r) => {
      const pool = `conc${r}`;
      await cp.createPool({ name: pool, ipv4Prefix: '10.0.0.0/16', ipv6Prefix: 'fd00::/64', allowOverlap: true }, { actor: 'bench' });
      const ks = keys(CONC_PEERS);
      let next = 0;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < CONC_PEERS; i = next++) {
          const res = await fetch(`${url}/v1/pools/${pool}/peers`, { method: 'POST', headers: auth, body: JSON.stringify({ name: `p${i}`, publicKey: ks[i] }) });
          if (res.status !== 201) throw new Error(`create failed: ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
        }
      }));
      const rate = CONC_PEERS / ((performance.now() - t0) / 1000);
      const addrs = new Set((await cp.poolSnapshot(pool)).peers.flatMap((p) => p.addresses));
      check(addrs.size === 2 * CONC_PEERS, 'every concurrent creation got distinct addresses');
      return rate;
    });
    line(`peer creations over HTTP, ${CONCURRENCY} concurrent clients (${CONC_PEERS}/run)`, conc);

    // Allocation cost must not grow with the pool: fill one pool, then measure like `direct`.
    await cp.createPool({ name: 'big', ipv4Prefix: '10.0.0.0/14', ipv6Prefix: 'fd00::/64', allowOverlap: true }, { actor: 'bench' });
    const t0 = performance.now();
    await prefill(store, 'big', PREFILL);
    report(`api: prefilled a pool with ${PREFILL} peers (bulk txns in the control plane's key layout) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const big = await measure(async (r) => {
      const ks = keys(SEQ_PEERS);
      const t1 = performance.now();
      for (let i = 0; i < SEQ_PEERS; i++) await cp.createPeer('big', { name: `b${r}-${i}`, publicKey: ks[i]! }, { actor: 'bench' });
      return SEQ_PEERS / ((performance.now() - t1) / 1000);
    });
    line(`peer creations in a pool of ${PREFILL}+ peers, ControlPlane (${(big.median / direct.median).toFixed(2)}x the empty pool)`, big);
    await app.close();
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchApi((l) => console.log(l));
}
