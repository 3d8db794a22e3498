/**
 * SQLite against etcd, in one run: peer creations per second through the HTTP API
 * (sequential, and 16 concurrent clients), and the time of a store snapshot (one range read)
 * of 100,000 peer-sized keys. etcd is a real single member on loopback (Debian etcd-server),
 * started with --max-txn-ops / --max-request-bytes raised for the bulk load.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type StartServerOptions } from '../src/server/start.js';
import type { Store } from '../src/store/store.js';
import { etcdBinary, startTestEtcd } from '../src/store/testing/etcd-server.js';
import { generateKeyPair, toBase64 } from '../src/wg/keys.js';

const SEQ = 200;
const CONC_TOTAL = 320;
const CLIENTS = 16;
const SNAPSHOT_KEYS = 100_000;

export async function benchEtcd(report: (line: string) => void): Promise<void> {
  if (!etcdBinary()) {
    report('etcd: skipped, etcd is not installed');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'wgf-ed-bench-'));
  const etcd = await startTestEtcd({ maxTxnOps: 20_000, maxRequestBytes: 64 * 1024 * 1024 });
  try {
    const rows: Record<string, string[]> = {};
    for (const kind of ['sqlite', 'etcd'] as const) {
      const opts: StartServerOptions = {
        dataDir: join(dir, kind), host: '127.0.0.1', port: 0, masterKeyFile: join(dir, `${kind}.key`), logger: false, handleSignals: false,
        stdout: { write: () => true }, autoCompact: { keepRevisions: 0, intervalMs: 60_000 },
        ...(kind === 'etcd' ? { etcd: { endpoints: [etcd.endpoint], prefix: `bench/${randomBytes(3).toString('hex')}/` } } : {}),
      };
      const s = await startServer(opts);
      try {
        rows[kind] = await run(s);
      } finally {
        await s.close();
      }
    }
    for (const [i, what] of ['creations/s sequential', `creations/s ${CLIENTS} concurrent clients`, `snapshot of ${SNAPSHOT_KEYS} peer keys (ms)`].entries()) {
      const a = Number(rows.sqlite![i]);
      const b = Number(rows.etcd![i]);
      report(`etcd: ${what}: sqlite ${rows.sqlite![i]}, etcd ${rows.etcd![i]} (etcd/sqlite ${(b / a).toFixed(2)})`);
    }
  } finally {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function run(s: RunningServer): Promise<string[]> {
  const token = s.bootstrapToken!;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${s.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  };
  await post('/v1/pools', { name: 'seq', ipv4Prefix: '10.80.0.0/16' });
  await post('/v1/pools', { name: 'conc', ipv4Prefix: '10.81.0.0/16' });
  const keys = Array.from({ length: SEQ + CONC_TOTAL }, () => toBase64(generateKeyPair().publicKey));
  let t = performance.now();
  for (let i = 0; i < SEQ; i++) await post('/v1/pools/seq/peers', { name: `p${i}`, publicKey: keys[i] });
  const seq = SEQ / ((performance.now() - t) / 1000);
  t = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < CONC_TOTAL) {
      const i = next++;
      await post('/v1/pools/conc/peers', { name: `p${i}`, publicKey: keys[SEQ + i] });
    }
  }));
  const conc = CONC_TOTAL / ((performance.now() - t) / 1000);
  // Snapshot: 100,000 keys of a peer record's size, loaded straight into the store.
  const store: Store = s.control.store;
  const value = JSON.stringify({ pool: 'big', name: 'x'.repeat(12), publicKey: keys[0], addresses: ['10.90.0.1/32'], allowedIps: [], enabled: true, labels: {}, expiresAt: null, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() });
  for (let i = 0; i < SNAPSHOT_KEYS; i += 5000) {
    await store.txn([], Array.from({ length: 5000 }, (_, j) => ({ type: 'put' as const, key: `bench/big/${String(i + j).padStart(6, '0')}`, value })));
  }
  t = performance.now();
  const snap = await store.range('bench/big/');
  const ms = performance.now() - t;
  if (snap.kvs.length !== SNAPSHOT_KEYS) throw new Error(`snapshot read ${snap.kvs.length} keys`);
  return [seq.toFixed(0), conc.toFixed(0), ms.toFixed(0)];
}
