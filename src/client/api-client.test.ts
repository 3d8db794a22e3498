import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFabricError, type ErrorCode } from '../protocol/errors.js';
import type { PoolChange } from '../protocol/types.js';
import { pubkey } from '../control/testing/fixtures.js';
import { startServer, type RunningServer } from '../server/start.js';
import { ApiClient } from './api-client.js';

async function fails(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (e) => isFabricError(e) && e.code === code);
}

describe('ApiClient against a real server (SQLite, 127.0.0.1:0)', () => {
  let dir: string;
  let server: RunningServer;
  let api: ApiClient;
  let printed = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgf-client-'));
    server = await startServer({
      dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, logger: false, heartbeatMs: 40, handleSignals: false,
      bootstrapTokenFile: join(dir, 'bootstrap.token'), stdout: { write: (s: string) => (printed += s) },
    });
    api = new ApiClient({ baseUrl: server.url, token: server.bootstrapToken! });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('first start with --bootstrap-token-file prints only where the token is, stores it 0600; data dir 0700, its files 0600', async () => {
    assert.ok(server.bootstrapToken);
    assert.ok(!printed.includes(server.bootstrapToken), 'the token is never printed when it goes to a file');
    assert.match(printed, /bootstrap admin token written to .*bootstrap\.token \(mode 0600\); it is not printed/);
    assert.equal((await stat(join(dir, 'data'))).mode & 0o777, 0o700);
    for (const f of ['store.db', 'store.db-wal', 'store.db-shm', 'master.key']) {
      const st = await stat(join(dir, 'data', f)).catch(() => null);
      if (f === 'store.db-shm' && st === null) continue; // EXCLUSIVE locking mode may keep the index in memory
      assert.ok(st, `${f} exists`);
      assert.equal(st.mode & 0o777, 0o600, `${f} is 0600`);
    }
    assert.equal((await readFile(join(dir, 'bootstrap.token'), 'utf8')).trim(), server.bootstrapToken);
    assert.equal((await stat(join(dir, 'bootstrap.token'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'data', 'master.key'))).mode & 0o777, 0o600);
    assert.equal((await api.whoami()).name, 'bootstrap');
  });

  test('typed CRUD, pagination helper and errors rebuilt as FabricError', async () => {
    const pool = await api.createPool({ name: 'demo', ipv4Prefix: '10.60.0.0/24', ipv6Prefix: 'fd60::/64' });
    assert.equal((await api.getPool('demo')).revision, pool.revision);
    await api.createNode('demo', { name: 'n1', endpoint: '198.18.0.1:51820' });
    for (let i = 0; i < 5; i++) await api.createPeer('demo', { name: `peer${i}`, publicKey: pubkey() });
    const names = [];
    for await (const p of ApiClient.all((cursor) => api.listPeers('demo', { limit: 2, ...(cursor ? { cursor } : {}) }))) names.push(p.name);
    assert.deepEqual(names, ['peer0', 'peer1', 'peer2', 'peer3', 'peer4']);
    const p0 = await api.getPeer('demo', 'peer0');
    await api.updatePeer('demo', 'peer0', { enabled: false }, { ifMatch: p0.revision });
    await fails(api.updatePeer('demo', 'peer0', { enabled: true }, { ifMatch: p0.revision }), 'WGF_ERR_CONFLICT');
    await fails(api.getPeer('demo', 'nobody'), 'WGF_ERR_NOT_FOUND');
    await fails(api.createPeer('demo', { name: 'bad', publicKey: 'A'.repeat(43) + '=' }), 'WGF_ERR_WEAK_KEY');
    await fails(api.deletePool('demo'), 'WGF_ERR_IN_USE');
    await fails(new ApiClient({ baseUrl: server.url, token: 'wgf_nope' }).listPools(), 'WGF_ERR_UNAUTHORIZED');
    await fails(new ApiClient({ baseUrl: 'http://127.0.0.1:1', token: 'x' }).health(), 'WGF_ERR_UNAVAILABLE');
    assert.equal((await api.listAudit({ kind: 'peer', action: 'update' })).items.length, 1);
    assert.match(await api.metrics(), /wgfabric_pool_peers\{pool="demo"\} 5/);
  });

  test('a node token: snapshot, private key, status; nothing else', async () => {
    const { secret } = await api.createToken({ name: 'agent-n1', role: 'node', pool: 'demo', node: 'n1' });
    const agent = new ApiClient({ baseUrl: server.url, token: secret });
    const snap = await agent.poolSnapshot('demo');
    assert.equal(snap.peers.length, 5);
    assert.equal((await agent.poolPrivateKey('demo')).length, 44);
    const node = await agent.putNodeStatus('demo', 'n1', {
      reportedAt: 'ignored', appliedRevision: snap.revision, peersDesired: 5, peersApplied: 5, lastReconcileAt: null, driftRepairs: 0, ready: true, message: 'ok',
    });
    assert.equal(node.status?.appliedRevision, snap.revision);
    assert.notEqual(node.status?.reportedAt, 'ignored');
    // agent --vip: the direct-server-return part of the report round-trips; a malformed one is refused.
    const dsr = { vips: ['198.18.1.2'], inPlace: false, repairs: 2, error: 'EPERM' };
    const withDsr = await agent.putNodeStatus('demo', 'n1', { appliedRevision: snap.revision, peersDesired: 5, peersApplied: 5, lastReconcileAt: null, driftRepairs: 0, ready: false, message: 'x', dsr });
    assert.deepEqual(withDsr.status?.dsr, dsr);
    assert.deepEqual((await api.getNode('demo', 'n1')).status?.dsr, dsr);
    await fails(agent.putNodeStatus('demo', 'n1', { appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready: false, message: 'x', dsr: { ...dsr, repairs: -1 } }), 'WGF_ERR_VALIDATION');
    await fails(agent.listPools(), 'WGF_ERR_FORBIDDEN');
    await fails(agent.createPeer('demo', { name: 'x', publicKey: pubkey() }), 'WGF_ERR_FORBIDDEN');
  });

  test('node weight and pool LB settings round-trip through the typed client', async () => {
    await api.createPool({ name: 'weighted', ipv4Prefix: '10.61.0.0/24', lb: { tableSize: 251 } });
    const n = await api.createNode('weighted', { name: 'n1', weight: 2 });
    assert.equal(n.weight, 2);
    assert.equal((await api.updateNode('weighted', 'n1', { weight: 5 }, { ifMatch: n.revision })).weight, 5);
    assert.equal((await api.listNodes('weighted')).items[0]!.weight, 5);
    assert.deepEqual((await api.updatePool('weighted', { lb: { affinity: 'src-ip' } })).lb, { affinity: 'src-ip', tableSize: 251 });
    assert.deepEqual((await api.getPool('weighted')).lb, { affinity: 'src-ip', tableSize: 251 });
    await fails(api.updatePool('weighted', { lb: { tableSize: 250 } }), 'WGF_ERR_VALIDATION');
    await fails(api.updateNode('weighted', 'n1', { weight: 0 }), 'WGF_ERR_VALIDATION');
    await api.deletePool('weighted', { force: true });
  });

  test('LB reports: put, get, list, delete; read-only tokens read them, only operators and admins report', async () => {
    const input = {
      vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip' as const, generation: 1, lastError: null, failOpen: false,
      backends: [{ name: 'n1', state: 'down' as const, reason: 'probe failed: refused', inTable: false, slots: 0 }],
    };
    const put = await api.putLbStatus('demo', 'lb1', input);
    assert.deepEqual([put.pool, put.instance, put.backends[0]!.reason], ['demo', 'lb1', 'probe failed: refused']);
    await api.putLbStatus('demo', 'lb2', { ...input, generation: 5 });
    const { secret: ro } = await api.createToken({ name: 'viewer', role: 'read-only' });
    const viewer = new ApiClient({ baseUrl: server.url, token: ro });
    assert.deepEqual(await viewer.getLbStatus('demo', 'lb1'), put);
    const names = [];
    for await (const r of ApiClient.all((cursor) => viewer.listLbStatus('demo', { limit: 1, ...(cursor ? { cursor } : {}) }))) names.push([r.instance, r.generation]);
    assert.deepEqual(names, [['lb1', 1], ['lb2', 5]]);
    await fails(viewer.putLbStatus('demo', 'lb3', input), 'WGF_ERR_FORBIDDEN');
    await fails(api.putLbStatus('nope', 'lb1', input), 'WGF_ERR_NOT_FOUND');
    await fails(api.putLbStatus('demo', 'lb1', { ...input, vip: 'not-an-ip' }), 'WGF_ERR_VALIDATION');
    assert.equal((await api.putLbStatus('demo', 'lb2', { ...input, generation: 6, returnPath: 'dsr' })).returnPath, 'dsr');
    assert.equal((await viewer.getLbStatus('demo', 'lb2')).returnPath, 'dsr', 'the return path round-trips');
    await fails(api.putLbStatus('demo', 'lb2', { ...input, returnPath: 'tunnel' as 'dsr' }), 'WGF_ERR_VALIDATION');
    await fails(api.deleteLbStatus('demo', 'lb1', { ifMatch: put.revision - 1 }), 'WGF_ERR_CONFLICT');
    await api.deleteLbStatus('demo', 'lb1');
    await api.deleteLbStatus('demo', 'lb2');
    await fails(api.getLbStatus('demo', 'lb1'), 'WGF_ERR_NOT_FOUND');
    assert.equal((await api.listLbStatus('demo')).items.length, 0);
  });

  test('watchPool delivers changes and heartbeats, resolves on abort; long poll waits for a change', async () => {
    const since = (await api.poolSnapshot('demo')).revision;
    const ac = new AbortController();
    const got: PoolChange[] = [];
    let heartbeats = 0;
    let firstHeartbeat!: () => void;
    const connected = new Promise<void>((r) => (firstHeartbeat = r));
    let sawDelete!: () => void;
    const deleted = new Promise<void>((r) => (sawDelete = r));
    const watching = api.watchPool('demo', since, async (c) => {
      got.push(c);
      if (c.type === 'peer.delete') sawDelete();
    }, { signal: ac.signal, onHeartbeat: () => (++heartbeats === 1 ? firstHeartbeat() : undefined) });
    await connected;
    await api.createPeer('demo', { name: 'w1', publicKey: pubkey() });
    await api.deletePeer('demo', 'w1');
    await deleted;
    ac.abort();
    await watching;
    assert.deepEqual(got.map((c) => c.type), ['peer.put', 'peer.delete']);
    assert.ok(heartbeats >= 1);

    const rev = (await api.poolChanges('demo', 0)).revision;
    const poll = api.poolChanges('demo', rev, { wait: 20 });
    await api.updateNode('demo', 'n1', { adminState: 'draining' });
    const res = await poll;
    assert.deepEqual(res.changes.map((c) => c.type), ['node.put']);
  });

  test('watchPoolBatches keeps the changes of one txn together (a forced pool delete)', async () => {
    await api.createPool({ name: 'tmp', ipv4Prefix: '10.61.0.0/24' });
    for (const n of ['a', 'b', 'c']) await api.createPeer('tmp', { name: n, publicKey: pubkey() });
    const since = (await api.poolSnapshot('tmp')).revision;
    const batches: PoolChange[][] = [];
    let hb!: () => void;
    const connected = new Promise<void>((r) => (hb = r));
    // The server ends the stream right after the revision that deleted the pool: the watch
    // always rejects with WGF_ERR_NOT_FOUND once that revision was handed over (expected from
    // the start, so the rejection is never unhandled, however fast it comes).
    const ended = assert.rejects(
      api.watchPoolBatches('tmp', since, (b) => void batches.push(b), { signal: new AbortController().signal, onHeartbeat: () => hb() }),
      (e) => isFabricError(e) && e.code === 'WGF_ERR_NOT_FOUND' && /pool tmp was deleted/.test(e.message),
    );
    await Promise.race([connected, ended]);
    await api.deletePool('tmp', { force: true });
    await ended;
    const last = batches.find((b) => b.some((c) => c.type === 'pool.delete'))!;
    const rev = last.find((c) => c.type === 'pool.delete')!.revision;
    assert.deepEqual(last.filter((c) => c.revision === rev).map((c) => c.type).sort(), ['peer.delete', 'peer.delete', 'peer.delete', 'pool.delete']);
  });

  test('watchPool from a compacted revision rejects with WGF_ERR_STORE_COMPACTED', async () => {
    await api.compact();
    await fails(api.watchPool('demo', 0, () => {}, { signal: new AbortController().signal }), 'WGF_ERR_STORE_COMPACTED');
    await fails(api.poolChanges('demo', 0), 'WGF_ERR_STORE_COMPACTED');
  });

  test('a restart keeps data and prints no new token', async () => {
    await server.close();
    await server.close(); // idempotent
    const again = await startServer({ dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, logger: false, handleSignals: false, stdout: { write: () => assert.fail('printed a token') } });
    try {
      assert.equal(again.bootstrapToken, null);
      assert.equal((await again.control.getPool('demo')).name, 'demo');
      const oldToken = new ApiClient({ baseUrl: again.url, token: server.bootstrapToken! });
      assert.equal((await oldToken.whoami()).name, 'bootstrap', 'the token survives the restart');
      // The same master key file is found again, so the sealed pool key still opens.
      assert.equal((await oldToken.poolPrivateKey('demo')).length, 44);
    } finally {
      await again.close();
    }
  });
});
