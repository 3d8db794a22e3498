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
import { Agent } from '../src/agent/agent.js';
import { FakeDevice } from '../src/agent/device-fake.js';
import type { PeerOp } from '../src/agent/diff.js';
import { HttpSource } from '../src/agent/source-http.js';
import { ApiClient } from '../src/client/api-client.js';
import { startServer, type RunningServer, type StartServerOptions } from '../src/server/start.js';
import type { Store } from '../src/store/store.js';
import { etcdBinary, startTestEtcd } from '../src/store/testing/etcd-server.js';
import { generateKeyPair, toBase64 } from '../src/wg/keys.js';

const SEQ = 200;
const CONC_TOTAL = 320;
const CLIENTS = 16;
const SNAPSHOT_KEYS = 100_000;
/** Writes timed from the API call to the peer being on all three devices. */
const PROPAGATION_WRITES = 60;
const BACKENDS = 3;

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
        const p = await propagation(s);
        rows[kind] = [...await run(s), ...p];
      } finally {
        await s.close();
      }
    }
    const whats = ['creations/s sequential', `creations/s ${CLIENTS} concurrent clients`, `snapshot of ${SNAPSHOT_KEYS} peer keys (ms)`,
      `API write -> applied on all ${BACKENDS} devices p50 (ms)`, `API write -> applied on all ${BACKENDS} devices p99 (ms)`];
    for (const [i, what] of whats.entries()) {
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

/** The in-memory device, noting when each public key was last written to it. */
class StampedDevice extends FakeDevice {
  readonly at = new Map<string, number>();
  override async apply(ops: readonly PeerOp[]): Promise<void> {
    await super.apply(ops);
    const now = performance.now();
    for (const o of ops) if (o.op === 'upsert') this.at.set(o.spec.publicKey, now);
  }
}

/**
 * Real agents (HttpSource over the server's watch stream, node tokens) on in-memory devices:
 * from each POST of a peer until it is on every device. One write at a time.
 */
async function propagation(s: RunningServer): Promise<string[]> {
  const admin = new ApiClient({ baseUrl: s.url, token: s.bootstrapToken! });
  await admin.createPool({ name: 'lat', ipv4Prefix: '10.82.0.0/16' });
  const devices: StampedDevice[] = [];
  const agents: Agent[] = [];
  for (let i = 1; i <= BACKENDS; i++) {
    await admin.createNode('lat', { name: `n${i}`, endpoint: `192.0.2.${i}:51820` });
    const { secret } = await admin.createToken({ name: `lat-n${i}`, role: 'node', pool: 'lat', node: `n${i}` });
    const device = new StampedDevice();
    devices.push(device);
    agents.push(new Agent({ pool: 'lat', node: `n${i}`, source: new HttpSource(new ApiClient({ baseUrl: s.url, token: secret })), device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000 }));
  }
  const ms: number[] = [];
  try {
    for (const a of agents) a.start();
    while (!agents.every((a) => a.ready)) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < PROPAGATION_WRITES; i++) {
      const key = toBase64(generateKeyPair().publicKey);
      const t0 = performance.now();
      await admin.createPeer('lat', { name: `w${i}`, publicKey: key });
      while (!devices.every((d) => d.at.has(key))) await new Promise((r) => setImmediate(r));
      ms.push(Math.max(...devices.map((d) => d.at.get(key)!)) - t0);
    }
  } finally {
    for (const a of agents) await a.stop();
  }
  ms.sort((a, b) => a - b);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)]!;
  return [q(0.5).toFixed(1), q(0.99).toFixed(1)];
}
