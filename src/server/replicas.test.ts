import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ETCD_MISSING, etcdBinary, startTestEtcd, type TestEtcd } from '../store/testing/etcd-server.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { startServer, type RunningServer } from './start.js';

// Several control-plane replicas on one real etcd (in this process, each with its own etcd
// connection and store queue, as separate processes would have).
const skip = etcdBinary() ? false : ETCD_MISSING;
let etcd: TestEtcd | undefined;
let dir = '';
before(async () => {
  if (skip) return;
  etcd = await startTestEtcd();
  dir = await mkdtemp(join(tmpdir(), 'wgf-ed-replicas-'));
});
after(async () => {
  await etcd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const quiet = { logger: false, handleSignals: false, stdout: { write: () => true } } as const;

async function replicas(n: number, prefix = `r/${randomBytes(4).toString('hex')}/`): Promise<{ servers: RunningServer[]; token: string }> {
  const servers: RunningServer[] = [];
  for (let i = 0; i < n; i++) {
    servers.push(await startServer({ dataDir: join(dir, 'unused'), host: '127.0.0.1', port: 0, masterKeyFile: join(dir, `${prefix.replaceAll('/', '_')}.key`), etcd: { endpoints: [etcd!.endpoint], prefix }, autoCompact: { keepRevisions: 0, intervalMs: 60_000 }, ...quiet }));
  }
  const tokens = servers.map((s) => s.bootstrapToken).filter((t) => t !== null);
  assert.equal(tokens.length, 1, 'exactly one replica bootstrapped the fabric');
  return { servers, token: tokens[0]! };
}

async function api(s: RunningServer, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

describe('control-plane replicas on etcd', { skip }, () => {
  test('50 concurrent peer creations spread over 3 replicas give 50 peers with 50 distinct addresses', async () => {
    const { servers, token } = await replicas(3);
    try {
      assert.equal((await api(servers[0]!, token, 'POST', '/v1/pools', { name: 'p', ipv4Prefix: '10.66.0.0/24' })).status, 201);
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        api(servers[i % 3]!, token, 'POST', '/v1/pools/p/peers', { name: `peer-${i}`, publicKey: toBase64(generateKeyPair().publicKey) })));
      assert.deepEqual(results.map((r) => r.status), Array(50).fill(201), JSON.stringify(results.find((r) => r.status !== 201)?.json));
      const addresses = results.map((r) => r.json.addresses[0] as string);
      assert.equal(new Set(addresses).size, 50, `distinct: ${addresses.join(' ')}`);
      // Every replica reads the same 50 peers.
      for (const s of servers) {
        const list = await api(s, token, 'GET', '/v1/pools/p/peers?limit=100');
        assert.equal(list.status, 200);
        assert.deepEqual(list.json.items.map((p: { addresses: string[] }) => p.addresses[0]).sort(), [...addresses].sort());
      }
      console.log(`50 creations over 3 replicas: ${new Set(addresses).size} distinct addresses`);
    } finally {
      for (const s of servers) await s.close();
    }
  });

  test('If-Match holds across replicas: of two updates with the same ETag on two replicas, one wins', async () => {
    const { servers, token } = await replicas(2);
    try {
      await api(servers[0]!, token, 'POST', '/v1/pools', { name: 'p', ipv4Prefix: '10.67.0.0/24' });
      const created = await fetch(`${servers[0]!.url}/v1/pools/p/peers`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', publicKey: toBase64(generateKeyPair().publicKey) }) });
      const etag = created.headers.get('etag')!;
      assert.ok(etag);
      const patch = (s: RunningServer, label: string) => fetch(`${s.url}/v1/pools/p/peers/x`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'if-match': etag }, body: JSON.stringify({ labels: { who: label } }) });
      const res = await Promise.all([patch(servers[0]!, 'a'), patch(servers[1]!, 'b')]);
      assert.deepEqual(res.map((r) => r.status).sort(), [200, 409]);
    } finally {
      for (const s of servers) await s.close();
    }
  });
});
