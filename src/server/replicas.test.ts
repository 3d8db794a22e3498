import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isFabricError } from '../protocol/errors.js';
import { etcdPerFile } from '../store/testing/etcd-per-file.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { Agent } from '../agent/agent.js';
import { FakeDevice } from '../agent/device-fake.js';
import { HttpSource } from '../agent/source-http.js';
import { ApiClient } from '../client/api-client.js';
import { ControlPlane } from '../control/plane.js';
import { SecretBox } from '../control/secrets.js';
import { EtcdStore } from '../store/etcd.js';
import { startServer, type RunningServer } from './start.js';

// Several control-plane replicas on one real etcd (in this process, each with its own etcd
// connection and store queue, as separate processes would have).
const fx = etcdPerFile('wgf-ed-replicas-');
const { skip } = fx;

const quiet = { logger: false, handleSignals: false, stdout: { write: () => true } } as const;

async function replicas(n: number, prefix = `r/${randomBytes(4).toString('hex')}/`, extra: { heartbeatMs?: number; leaderTtlSec?: number; autoCompact?: { keepRevisions: number; intervalMs: number; minBatch?: number }; authCache?: { maxAgeMs: number } } = {}): Promise<{ servers: RunningServer[]; token: string }> {
  const servers: RunningServer[] = [];
  for (let i = 0; i < n; i++) {
    servers.push(await startServer({ dataDir: join(fx.dir, 'unused'), host: '127.0.0.1', port: 0, masterKeyFile: join(fx.dir, `${prefix.replaceAll('/', '_')}.key`), etcd: { endpoints: [fx.endpoint], prefix }, autoCompact: { keepRevisions: 0, intervalMs: 60_000 }, ...extra, ...quiet }));
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

  test('a token deleted through one replica is refused there at once and on the others when their watch delivers it', async () => {
    // Cache entries trusted for an hour: the refusals below come from the watch, not from age.
    const { servers, token } = await replicas(3, undefined, { authCache: { maxAgeMs: 3_600_000 } });
    try {
      const made = await api(servers[0]!, token, 'POST', '/v1/tokens', { name: 'ops', role: 'operator' });
      assert.equal(made.status, 201, JSON.stringify(made.json));
      const ops = made.json.secret as string;
      for (const s of servers) assert.equal((await api(s, ops, 'GET', '/v1/pools')).status, 200);
      const deleted = Date.now();
      assert.equal((await api(servers[1]!, token, 'DELETE', `/v1/tokens/${made.json.token.id}`)).status, 204);
      // The replica that served the delete refuses at once; the others when their watch delivers it.
      assert.equal((await api(servers[1]!, ops, 'GET', '/v1/pools')).status, 401);
      for (const s of [servers[0]!, servers[2]!]) {
        const deadline = Date.now() + 60_000; // a generous deadline for a loaded machine, not a measured bound
        while ((await api(s, ops, 'GET', '/v1/pools')).status !== 401) {
          assert.ok(Date.now() < deadline, 'still accepted a minute after the delete');
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      console.log(`deleted token refused on all 3 replicas ${Date.now() - deleted} ms after the DELETE was sent (cache entries trusted 1 h here: the watch did it)`);
    } finally {
      for (const s of servers) await s.close();
    }
  });

  test('token lookups on etcd: 0 etcd reads per request once cached; the watch is the one shared etcd watch', async () => {
    const store = await EtcdStore.open({ endpoints: [fx.endpoint], prefix: `r/${randomBytes(4).toString('hex')}/` });
    let reads = 0;
    const counted = new Proxy(store, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (prop === 'get' || prop === 'range' || prop === 'count' || prop === 'changes') reads++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const cp = new ControlPlane({ store: counted, secrets: SecretBox.random() });
    try {
      const t = await cp.createToken({ name: 'ops', role: 'operator' }, { actor: 't' });
      assert.ok(await cp.authenticate(t.secret));
      const before = reads;
      for (let i = 0; i < 200; i++) assert.equal((await cp.authenticate(t.secret))?.name, 'ops');
      assert.equal(reads - before, 0, 'etcd reads for 200 cached token lookups');
      // The shared watch opens asynchronously (under load it may not be open yet): wait for it, then it must be the only one.
      for (let i = 0; i < 200 && store.follower.etcdWatchesOpened === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(store.follower.etcdWatchesOpened, 1);
    } finally {
      cp.close();
      await store.close();
    }
  });

  test('master-key rotation online through the CLI on replica A; replica B seals under the new key; a server with only the old key refuses to start', async () => {
    const prefix = `r/${randomBytes(4).toString('hex')}/`;
    const keyFile = join(fx.dir, `${prefix.replaceAll('/', '_')}.key`);
    const { servers, token } = await replicas(2, prefix);
    const oldKeyText = await readFile(keyFile, 'utf8');
    try {
      assert.equal((await api(servers[0]!, token, 'POST', '/v1/pools', { name: 'p', ipv4Prefix: '10.69.0.0/24' })).status, 201);
      for (let i = 0; i < 5; i++) {
        assert.equal((await api(servers[i % 2]!, token, 'POST', '/v1/pools/p/peers', { name: `x${i}`, publicKey: toBase64(generateKeyPair().publicKey), presharedKey: toBase64(randomBytes(32)) })).status, 201);
      }
      const tokenFile = join(fx.dir, `${prefix.replaceAll('/', '_')}.token`);
      await writeFile(tokenFile, token, { mode: 0o600 });
      const added = await runCli(['admin', 'add-master-key', '--master-key-file', keyFile, '--json']);
      assert.equal(added.code, 0, added.stderr);
      const keyId = JSON.parse(added.stdout).keyId as string;
      const rotated = await runCli(['admin', 'rotate-master-key', '--server', servers[0]!.url, '--token-file', tokenFile, '--json']);
      assert.equal(rotated.code, 0, rotated.stderr);
      const res = JSON.parse(rotated.stdout);
      assert.deepEqual({ to: res.to, resealed: res.resealed }, { to: keyId, resealed: { pools: 1, presharedKeys: 5 } });
      console.log(`rotate-master-key: ${JSON.stringify(res)}`);
      // Replica B (started before the key existed) reads its key file again and seals under the new key.
      const psk = toBase64(randomBytes(32));
      assert.equal((await api(servers[1]!, token, 'POST', '/v1/pools/p/peers', { name: 'late', publicKey: toBase64(generateKeyPair().publicKey), presharedKey: psk })).status, 201);
      const nodeTok = await api(servers[1]!, token, 'POST', '/v1/pools/p/nodes', { name: 'n1', endpoint: '192.0.2.1:51820' });
      assert.equal(nodeTok.status, 201);
      const nt = await api(servers[1]!, token, 'POST', '/v1/tokens', { name: 'n1', role: 'node', pool: 'p', node: 'n1' });
      for (const s of servers) {
        const snap = await api(s, nt.json.secret, 'GET', '/v1/pools/p/snapshot');
        assert.equal(snap.status, 200);
        assert.equal(snap.json.peers.find((x: { name: string }) => x.name === 'late').presharedKey, psk);
      }
      const audit = await api(servers[1]!, token, 'GET', '/v1/audit?limit=1000');
      assert.equal(audit.json.items.filter((e: { kind: string }) => e.kind === 'master-key').length, 1);
      // A replica started with only the old key file is refused with a stable code.
      const oldFile = join(fx.dir, `${prefix.replaceAll('/', '_')}.old.key`);
      await writeFile(oldFile, oldKeyText, { mode: 0o600 });
      await assert.rejects(startServer({ dataDir: join(fx.dir, 'unused'), host: '127.0.0.1', port: 0, masterKeyFile: oldFile, etcd: { endpoints: [fx.endpoint], prefix }, ...quiet }),
        (e) => isFabricError(e, 'WGF_ERR_MASTER_KEY_RETIRED'));
      const refused = await runCli(['server', '--store', 'etcd', '--etcd-endpoints', fx.endpoint, '--etcd-prefix', prefix, '--master-key-file', oldFile, '--listen', '127.0.0.1:0']);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /WGF_ERR_MASTER_KEY_RETIRED/);
      console.log(`server with only the old key: exit ${refused.code}: ${refused.stderr.trim()}`);
    } finally {
      for (const s of servers) await s.close();
    }
  });

  test('an agent whose replica dies resumes the watch on another replica from its last revision: no snapshot request there, only the changed peer set', async () => {
    const { servers, token } = await replicas(2, undefined, { heartbeatMs: 200 });
    const [a, b] = servers as [RunningServer, RunningServer];
    let agent: Agent | undefined;
    try {
      assert.equal((await api(a, token, 'POST', '/v1/pools', { name: 'p', ipv4Prefix: '10.70.0.0/24' })).status, 201);
      assert.equal((await api(a, token, 'POST', '/v1/pools/p/nodes', { name: 'n1', endpoint: '192.0.2.1:51820' })).status, 201);
      const nt = (await api(a, token, 'POST', '/v1/tokens', { name: 'n1', role: 'node', pool: 'p', node: 'n1' })).json.secret as string;
      for (let i = 0; i < 3; i++) assert.equal((await api(a, token, 'POST', '/v1/pools/p/peers', { name: `before${i}`, publicKey: toBase64(generateKeyPair().publicKey) })).status, 201);
      const device = new FakeDevice();
      agent = new Agent({
        pool: 'p', node: 'n1', source: new HttpSource(new ApiClient({ baseUrl: `${a.url},${b.url}`, token: nt, failover: { backoffMinMs: 10, backoffMaxMs: 200 } })),
        device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000, backoffMinMs: 10, backoffMaxMs: 200, log: () => undefined,
      });
      agent.start();
      await until('synced through replica A', () => device.peerStates.size === 3 && agent!.stats.server === a.url);
      const opsBefore = device.setOperations;
      const snapshotsOnB = async () => snapshotRequests(await (await fetch(`${b.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text());
      assert.equal(await snapshotsOnB(), 0);
      // Replica A dies as under SIGKILL: connections cut, nothing flushed. Changes go on through B.
      a.app.server.closeAllConnections();
      await a.close();
      const afterKey = toBase64(generateKeyPair().publicKey);
      assert.equal((await api(b, token, 'POST', '/v1/pools/p/peers', { name: 'after', publicKey: afterKey })).status, 201);
      assert.equal((await api(b, token, 'DELETE', '/v1/pools/p/peers/before0')).status, 204);
      // A resume at least once: under load B's stream may break and be resumed again, which is
      // fine as long as no snapshot is taken (asserted below).
      await until('the changes made while A was gone are on the device', () => device.peerStates.size === 3 && agent!.stats.server === b.url && agent!.stats.watchResumes >= 1 && device.peerStates.has(afterKey) && device.setOperations >= opsBefore + 1,
        () => ({ peers: device.peerStates.size, setOperations: device.setOperations - opsBefore, server: agent!.stats.server, b: b.url, resumes: agent!.stats.watchResumes, snapshots: agent!.stats.snapshots, lastError: agent!.stats.lastError }));
      await new Promise((r) => setTimeout(r, 500)); // anything extra would show up now
      assert.equal(agent.stats.snapshots, 1, 'no second snapshot');
      assert.equal(await snapshotsOnB(), 0, 'no snapshot request reached replica B');
      // The two revisions arrive in one batch (one set operation) or in two, depending on when the stream resumes.
      assert.ok(device.setOperations - opsBefore <= 2, `set operations: the added and the removed peer only (got ${device.setOperations - opsBefore})`);
      console.log(`agent resumed on replica B ${agent.stats.lastResumeGapMs} ms after replica A's stream broke (resumes: ${agent.stats.watchResumes}); snapshots on B: 0; set operations after the switch: ${device.setOperations - opsBefore}`);
    } finally {
      await agent?.stop();
      for (const s of servers) await s.close();
    }
  });

  test('background jobs run on one replica at a time and move when it dies (SIGKILL of a server process)', async () => {
    const prefix = `r/${randomBytes(4).toString('hex')}/`;
    const keyFile = join(fx.dir, `${prefix.replaceAll('/', '_')}.key`);
    // The first replica is a real `wgfabric server` process: it bootstraps and is elected first.
    const child = spawnServer(['--store', 'etcd', '--etcd-endpoints', fx.endpoint, '--etcd-prefix', prefix, '--master-key-file', keyFile,
      '--listen', '127.0.0.1:0', '--etcd-lease-ttl', '2', '--compact-keep', '0', '--bootstrap-token-file', join(fx.dir, `${prefix.replaceAll('/', '_')}.token`)]);
    const servers: RunningServer[] = [];
    try {
      await child.listening;
      const token = (await readFile(join(fx.dir, `${prefix.replaceAll('/', '_')}.token`), 'utf8')).trim();
      for (let i = 0; i < 2; i++) {
        servers.push(await startServer({ dataDir: join(fx.dir, 'unused'), host: '127.0.0.1', port: 0, masterKeyFile: keyFile, etcd: { endpoints: [fx.endpoint], prefix }, leaderTtlSec: 2, autoCompact: { keepRevisions: 2, minBatch: 1, intervalMs: 3_600_000 }, ...quiet }));
      }
      for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) assert.equal((await api(servers[0]!, token, 'POST', '/v1/pools', { name, ipv4Prefix: `10.68.${i}.0/24` })).status, 201);
      // What the timers do: the process leads, so the in-process replicas stand by.
      const ticks = await Promise.all(servers.map((s) => s.compactor.tick()));
      assert.deepEqual(ticks, [{ action: 'none', reason: 'standby' }, { action: 'none', reason: 'standby' }]);
      const died = Date.now();
      child.proc.kill('SIGKILL');
      let leaders: RunningServer[] = [];
      for (let i = 0; i < 400 && leaders.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        leaders = servers.filter((s) => s.leadership.isLeader());
      }
      assert.equal(leaders.length, 1, 'one of the others took over');
      console.log(`background jobs moved to another replica ${Date.now() - died} ms after SIGKILL of the leader (lease TTL 2 s)`);
      const after = await Promise.all(servers.map((s) => s.compactor.tick()));
      assert.deepEqual(after.map((t) => t.action).sort(), ['compacted', 'none']);
      assert.equal(after[servers.indexOf(leaders[0]!)]!.action, 'compacted');
    } finally {
      child.proc.kill('SIGKILL');
      for (const s of servers) await s.close().catch(() => undefined);
    }
  });
});

/** `wgfabric server ARGS` as a child process (through tsx), resolved once it listens. */
function spawnServer(args: string[]): { proc: ChildProcess; listening: Promise<void> } {
  const main = new URL('../cli/main.ts', import.meta.url).href;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(${JSON.stringify(['server', ...args])});`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listening = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/listening on http/.test(out)) resolve();
    });
    proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    proc.once('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
  });
  return { proc, listening };
}

/** `wgfabric ARGS` as a child process (through tsx): exit code and output. */
function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = new URL('../cli/main.ts', import.meta.url).href;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(${JSON.stringify(args)});`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

/** GET .../snapshot requests counted in a replica's /metrics text. */
function snapshotRequests(metrics: string): number {
  let n = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith('wgfabric_http_requests_total{') && line.includes('route="/v1/pools/:pool/snapshot"')) n += Number(line.split(' ').at(-1));
  }
  return n;
}

async function until(what: string, cond: () => boolean, state?: () => unknown): Promise<void> {
  const deadline = Date.now() + 60_000; // generous for a loaded machine; not a measured bound
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}${state ? ` (state: ${JSON.stringify(state())})` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
