/**
 * Moving a running fabric from SQLite to etcd (issue 12's acceptance): a lab on SQLite with
 * 10,000 peers, its server stopped, `wgfabric store copy --from sqlite:DIR --to etcd:URL`,
 * an etcd-backed server started in its place (same address, TLS certificate and master key),
 * the agents restarted against it: they resync from a snapshot and find their devices already
 * right, so they send 0 set operations; a change made afterwards costs only its own operations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AGENT_METRICS_PORT, labDown, labUp, spawnDetached, startAgent, waitForConvergence, type Lab } from '../../src/lab/lab.js';
import { ping } from '../../src/lab/traffic.js';
import { startTestEtcd, type TestEtcd } from '../../src/store/testing/etcd-server.js';
import { UapiClient } from '../../src/wg/uapi.js';
import { generateKeyPair, toBase64 } from '../../src/wg/keys.js';
import { assertNoSecretsInLogs } from './fixtures/log-secrets.js';

const N = Number(process.env.WGF_STORE_MOVE_PEERS ?? 10_000);
const BIN = fileURLToPath(new URL('../../bin/wgfabric.js', import.meta.url));
let lab: Lab;
let base: string;
let etcd: TestEtcd | undefined;

async function until(what: string, cond: () => Promise<boolean>, limitMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      if (await cond()) return Date.now() - t0;
    } catch { /* not yet */ }
    if (Date.now() - t0 > limitMs) assert.fail(`timed out after ${limitMs} ms waiting for: ${what}`);
    await sleep(200);
  }
}

async function metric(i: number, name: string): Promise<number> {
  const text = await (await fetch(`http://${lab.plan.backends[i]!.address}:${AGENT_METRICS_PORT}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

function killRecorded(what: string): number {
  const p = [...lab.state.pids].reverse().find((x) => x.what === what);
  assert.ok(p, `no process ${what}`);
  process.kill(p.pid, 'SIGTERM');
  return p.pid;
}

async function gone(pid: number): Promise<void> {
  await until(`process ${pid} to exit`, async () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 20_000);
}

describe(`moving a fabric of ${N} peers from SQLite to etcd`, { timeout: 900_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-move-'));
    lab = await labUp({ backends: 2, clients: 1, base, reconcileInterval: 30 });
    etcd = await startTestEtcd();
  });
  after(async () => {
    if (lab) await labDown(lab);
    await etcd?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  test('store copy, then the agents on the etcd control plane: 0 set operations beyond what changed', async () => {
    const pool = lab.plan.pool.name;
    let next = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < N) {
        const i = next++;
        await lab.api.createPeer(pool, { name: `bulk-${i}`, publicKey: toBase64(generateKeyPair().publicKey) });
      }
    }));
    await waitForConvergence(lab, 300_000);
    console.log(`${N} peers created and on both devices after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const devicePeers = async (i: number) => (await new UapiClient(lab.plan.backends[i]!.wgIface).get()).peers.length;
    const before = [await devicePeers(0), await devicePeers(1)];
    assert.ok(before.every((n) => n >= N), `devices hold every peer: ${before.join(', ')}`);

    // The SQLite server stops (it holds its file exclusively), its store is copied to etcd.
    await gone(killRecorded('server'));
    const copy = await promisify(execFile)(process.execPath, [BIN, 'store', 'copy', '--from', `sqlite:${join(lab.state.dir, 'data')}`, '--to', `etcd:${etcd!.endpoint}`, '--json'], { maxBuffer: 1 << 24 });
    const copied = JSON.parse(copy.stdout) as { keys: number; revision: number; ms: number };
    console.log(`store copy: ${copied.keys} keys at revision ${copied.revision} in ${copied.ms} ms`);
    assert.ok(copied.keys > N);

    // An etcd-backed server takes the old one's place: same address, certificate and master key.
    const p = lab.plan;
    spawnDetached(lab.state, 'server', [
      process.execPath, BIN, 'server', '--store', 'etcd', '--etcd-endpoints', etcd!.endpoint, '--data-dir', join(lab.state.dir, 'data-etcd'),
      '--master-key-file', join(lab.state.dir, 'data', 'master.key'), '--listen', `${p.hostAddress}:7080`,
      ...(lab.state.tls ? ['--tls-cert', lab.state.tls.certFile, '--tls-key', lab.state.tls.keyFile] : []),
    ], join(lab.state.dir, 'server-etcd.log'));
    await until('the etcd-backed control plane answers', async () => (await lab.api.health()).status === 'ok', 60_000);
    assert.equal((await lab.api.listPeers(pool, { limit: 1 })).items.length, 1, 'the copied pool is served');

    // The agents restart against it: a snapshot, a diff against the device, nothing to send.
    for (let i = 0; i < lab.plan.backends.length; i++) {
      await gone(killRecorded(`agent ${lab.plan.backends[i]!.name}`));
      startAgent(lab, i, 30);
    }
    const flow = ping(lab.plan.clients[0]!.netns, lab.plan.pool.serverTunnelIp, 20, 0.1, 1);
    const resync = await until('both agents ready on the etcd control plane', async () => {
      for (let i = 0; i < lab.plan.backends.length; i++) if ((await metric(i, 'wgfabric_agent_ready')) !== 1) return false;
      return true;
    }, 120_000).catch((e: unknown) => {
      const tail = (f: string) => readFileSync(join(lab.state.dir, f), 'utf8').split('\n').slice(-8).join('\n');
      console.log(`agent log:\n${tail(`${lab.plan.backends[0]!.name}.agent.log`)}\nserver log:\n${tail('server-etcd.log')}`);
      throw e;
    });
    const ops = [await metric(0, 'wgfabric_agent_device_set_operations_total'), await metric(1, 'wgfabric_agent_device_set_operations_total')];
    console.log(`agents ready on etcd ${resync} ms after their restart; device set operations: ${ops.join(', ')}; snapshots: ${await metric(0, 'wgfabric_agent_snapshots_total')}, ${await metric(1, 'wgfabric_agent_snapshots_total')}`);
    assert.deepEqual(ops, [0, 0], 'no set operation: the devices already held the copied peer set');
    assert.deepEqual([await devicePeers(0), await devicePeers(1)], before, 'device peer sets untouched');
    const r = await flow;
    assert.equal(r.received, r.sent, 'the client kept its tunnel through the move');

    // A change on the new control plane costs only itself.
    await lab.api.deletePeer(pool, 'bulk-0');
    await lab.api.createPeer(pool, { name: 'after-move', publicKey: toBase64(generateKeyPair().publicKey) });
    await waitForConvergence(lab, 60_000);
    const after = [await metric(0, 'wgfabric_agent_device_set_operations_total'), await metric(1, 'wgfabric_agent_device_set_operations_total')];
    console.log(`after one delete and one create on etcd: set operations ${after.join(', ')}; devices ${await devicePeers(0)}, ${await devicePeers(1)} peers`);
    assert.ok(after.every((n) => n >= 1 && n <= 2), `one or two set operations per agent for two changes: ${after.join(', ')}`);
    assert.deepEqual([await devicePeers(0), await devicePeers(1)], before, 'one peer gone, one added');
  });

  test('no API token, private key or preshared key in any log line of this lab (server, agents, LB)', () => {
    const r = assertNoSecretsInLogs(lab.state.dir);
    console.log(`scanned ${r.files} log files for ${r.secrets} known secrets and any token text: nothing found`);
  });
});
