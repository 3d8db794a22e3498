/**
 * Bounded chaos on the etcd lab (3 etcd members in namespaces, 3 server replicas, 2 backends, 2
 * clients): three writers create, update and delete peers, each through its own replica first,
 * while one after the other a server replica is SIGKILLed, the etcd leader is SIGKILLed, and one
 * etcd member is cut off from the others and healed. Then: every acknowledged write is there,
 * none twice, no two peers share an address, one audit entry per acknowledged write, every
 * device holds exactly the desired peers, and the clients lost no ping. Prints the longest
 * stretch in which writes failed and how long agents took to resume after their replica died.
 */
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../../src/client/api-client.js';
import { readCaFile } from '../../src/client/tls.js';
import { etcdLeader, killHard, partitionMember, startEtcdMember, startReplica, waitReplica } from '../../src/lab/control-planes.js';
import { AGENT_METRICS_PORT, LAB_STEPS, labDown, labUp, waitForConvergence, type Lab } from '../../src/lab/lab.js';
import { serverUrlsFor } from '../../src/lab/plan-cp.js';
import type { AuditEntry, Peer } from '../../src/protocol/types.js';
import { run } from '../../src/sys/exec.js';
import { ChaosWriter, type WriteRecord } from './fixtures/chaos-writers.js';
import { until } from './fixtures/until.js';
import { assertNoSecretsInLogs } from './fixtures/log-secrets.js';

const BIN = fileURLToPath(new URL('../../bin/wgfabric.js', import.meta.url));
let lab: Lab;
let base: string;
const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

function client(token: string, k: number): ApiClient {
  return new ApiClient({ baseUrl: serverUrlsFor(lab.plan, k), token, ca: readCaFile(lab.state.tls!.caFile), timeoutMs: 10_000 });
}

async function agentMetric(i: number, name: string): Promise<number> {
  const text = await (await fetch(`http://${lab.plan.backends[i]!.address}:${AGENT_METRICS_PORT}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const line = text.split('\n').find((l) => l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** Continuous ping through a client's tunnel; lost = replies missing below the highest answered sequence. */
function pinger(ns: string, target: string): { stop: () => Promise<{ sent: number; lost: number }> } {
  const child = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-i', '0.2', '-W', '1', target], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return {
    stop: async () => {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      const seqs = new Set([...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
      const max = Math.max(0, ...seqs);
      return { sent: max, lost: max - seqs.size };
    },
  };
}

async function deviceKeys(i: number): Promise<Map<string, string>> {
  const b = lab.plan.backends[i]!;
  const { stdout } = await run('wg', ['show', b.wgIface, 'allowed-ips'], { netns: b.netns });
  return new Map(stdout.trim().split('\n').filter(Boolean).map((l) => {
    const [k, ...ips] = l.split(/\s+/);
    return [k!, ips.filter((x) => x !== '(none)').sort().join(',')];
  }));
}

describe('HA control plane on etcd: bounded chaos', { timeout: 420_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-el-chaos-'));
    lab = await labUp({ backends: 2, clients: 2, base, store: 'etcd', controlPlanes: 3, reconcileInterval: 10, log: (s) => console.log(`${stamp()} ${s}`) });
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('no acknowledged write lost or doubled, audit one-to-one, devices exact, no ping lost', async () => {
    const cp = lab.plan.controlPlanes!;
    const pool = lab.plan.pool.name;
    const token = readFileSync(join(lab.state.dir, 'admin.token'), 'utf8').trim();
    const pings = lab.plan.clients.map((c) => pinger(c.netns, lab.plan.pool.serverTunnelIp));
    const writers = [0, 1, 2].map((k) => new ChaosWriter(client(token, k), pool, `w${k}`));
    for (const w of writers) w.start();
    const resumesBefore = await Promise.all(lab.plan.backends.map((_, i) => agentMetric(i, 'wgfabric_agent_watch_resumes_total')));
    await sleep(3000);

    // 1. A server replica dies (SIGKILL): backend-1's agent follows it (its URL list starts there).
    console.log(`${stamp()} SIGKILL ${cp.replicas[0]!.name}`);
    await killHard(lab.state, `server ${cp.replicas[0]!.name}`);
    const resumed = await until('backend-1 agent resumes on another replica', async () => (await agentMetric(0, 'wgfabric_agent_watch_resumes_total')) > resumesBefore[0]!, 60_000);
    const gap = await agentMetric(0, 'wgfabric_agent_watch_resume_gap_seconds');
    console.log(`${stamp()} backend-1 agent resumed its watch on another replica ${Math.round(gap * 1000)} ms after its stream broke (seen after ${resumed.ms} ms)`);
    await sleep(2000);
    startReplica(lab.state, LAB_STEPS, 0, BIN);
    await waitReplica(lab.state, LAB_STEPS, 0, 60_000);
    console.log(`${stamp()} ${cp.replicas[0]!.name} back`);
    await sleep(2000);

    // 2. The etcd leader dies (SIGKILL), comes back after a while.
    const leader = (await until('an etcd leader', () => etcdLeader(lab.state), 30_000)).value;
    console.log(`${stamp()} SIGKILL etcd leader ${leader.name}`);
    await killHard(lab.state, `etcd ${leader.name}`);
    const next = await until('a new etcd leader', async () => {
      const l = await etcdLeader(lab.state);
      return l && l !== leader ? l : null;
    }, 60_000);
    console.log(`${stamp()} new etcd leader ${next.value.name} after ${next.ms} ms`);
    await sleep(3000);
    startEtcdMember(lab.state, LAB_STEPS, leader);
    console.log(`${stamp()} ${leader.name} restarted`);
    await sleep(4000);

    // 3. One member (the leader now) is cut off from the others, then healed.
    const cut = (await until('an etcd leader', () => etcdLeader(lab.state), 30_000)).value;
    console.log(`${stamp()} cutting etcd member ${cut.name} off from the others`);
    await partitionMember(lab.state, cut, true);
    await sleep(8000);
    await partitionMember(lab.state, cut, false);
    console.log(`${stamp()} healed ${cut.name}`);
    await sleep(3000);

    for (const w of writers) await w.stop();
    const records: WriteRecord[] = writers.flatMap((w) => w.records);
    const acked = records.filter((r) => r.result === 'acked');
    console.log(`${stamp()} writes: ${records.length} attempted, ${acked.length} acknowledged, ${records.filter((r) => r.result === 'unknown').length} outcome unknown, `
      + `${records.filter((r) => r.result === 'failed').length} refused; codes: ${JSON.stringify(countBy(records.filter((r) => r.code).map((r) => r.code!)))}`);
    const worst = writers.reduce((a, b) => (b.longestFailureMs > a.longestFailureMs ? b : a));
    console.log(`longest window in which writes failed: ${worst.longestFailureMs} ms, from ${((worst.longestFailureAt - t0) / 1000).toFixed(1)}s `
      + `(per writer: ${writers.map((w) => w.longestFailureMs).join(', ')} ms)`);

    const api = client(token, 1);
    await until('every agent applied the latest revision', async () => {
      try {
        await waitForConvergence({ ...lab, api }, 5000);
        return true;
      } catch {
        return false;
      }
    }, 90_000);
    const peers: Peer[] = [];
    for await (const p of ApiClient.all((c) => api.listPeers(pool, { limit: 1000, ...(c ? { cursor: c } : {}) }))) peers.push(p);
    const audit: AuditEntry[] = [];
    for await (const a of ApiClient.all((c) => api.listAudit({ kind: 'peer', limit: 1000, ...(c ? { cursor: c } : {}) }))) audit.push(a);

    // Acknowledged writes are there; nothing twice; no address twice.
    const byName = new Map(peers.map((p) => [p.name, p]));
    const keys = peers.map((p) => p.publicKey);
    assert.equal(new Set(keys).size, keys.length, 'no public key twice');
    const addrs = peers.flatMap((p) => p.addresses);
    assert.equal(new Set(addrs).size, addrs.length, 'no address twice');
    const perName = new Map<string, WriteRecord[]>();
    for (const r of records) perName.set(r.name, [...(perName.get(r.name) ?? []), r]);
    for (const [name, rs] of perName) {
      const p = byName.get(name);
      const create = rs.find((r) => r.op === 'create')!;
      const del = rs.find((r) => r.op === 'delete');
      if (create.result === 'failed') assert.equal(p, undefined, `${name}: refused create`);
      if (del?.result === 'acked') assert.equal(p, undefined, `${name}: acknowledged delete`);
      else if (create.result === 'acked' && !del) {
        assert.ok(p, `${name}: acknowledged create is present`);
        assert.equal(p.publicKey, create.publicKey);
        const updates = rs.filter((r) => r.op === 'update');
        const lastAcked = [...updates].reverse().find((r) => r.result === 'acked');
        if (lastAcked && updates[updates.length - 1] === lastAcked) assert.equal(p.labels['n'], String(lastAcked.at), `${name}: last acknowledged update`);
      }
      if (p) assert.equal(p.publicKey, create.publicKey);
    }
    for (const p of peers.filter((x) => /^w\d-/.test(x.name))) assert.ok(perName.has(p.name), `${p.name} was written by a writer`);

    // The audit log: exactly one entry per acknowledged write, no entry twice.
    const auditKey = (action: string, name: string) => `${action} pools/${pool}/peers/${name}`;
    const entries = new Map<string, AuditEntry[]>();
    for (const a of audit) entries.set(`${a.action} ${a.object}`, [...(entries.get(`${a.action} ${a.object}`) ?? []), a]);
    const revs = audit.map((a) => `${a.action} ${a.object} ${a.revision}`);
    assert.equal(new Set(revs).size, revs.length, 'no audit entry twice');
    for (const r of acked) {
      const es = entries.get(auditKey(r.op, r.name)) ?? [];
      if (r.op === 'update') assert.equal(es.filter((e) => e.revision === r.revision).length, 1, `one audit entry for the update of ${r.name} at ${r.revision}`);
      else assert.equal(es.length, 1, `one audit entry for the ${r.op} of ${r.name}`);
    }
    for (const r of records.filter((x) => x.result === 'failed')) {
      if (r.op !== 'update') assert.equal((entries.get(auditKey(r.op, r.name)) ?? []).length, 0, `no audit entry for the refused ${r.op} of ${r.name}`);
    }

    // Every device holds exactly the desired peers (enabled ones, with their addresses).
    const desired = new Map(peers.filter((p) => p.enabled).map((p) => [p.publicKey, [...p.addresses].sort().join(',')]));
    for (const [i, b] of lab.plan.backends.entries()) {
      const { ms } = await until(`${b.name} holds exactly the desired peers`, async () => {
        const dev = await deviceKeys(i);
        return dev.size === desired.size && [...desired].every(([k, v]) => dev.get(k) === v);
      }, 60_000);
      const snapshots = await agentMetric(i, 'wgfabric_agent_snapshots_total');
      const resumes = await agentMetric(i, 'wgfabric_agent_watch_resumes_total');
      console.log(`${b.name}: ${desired.size} peers as desired (after ${ms} ms); snapshots ${snapshots}, watch resumes ${resumes}, last resume gap ${Math.round(await agentMetric(i, 'wgfabric_agent_watch_resume_gap_seconds') * 1000)} ms`);
      assert.equal(snapshots, 1, `${b.name} never took a second snapshot`);
    }
    for (const line of lab.plan.backends.flatMap((b) => readFileSync(join(lab.state.dir, `${b.name}.agent.log`), 'utf8').split('\n').filter((l) => l.includes('watch resumed')).map((l) => `${b.name}: ${l}`))) console.log(line);

    for (const [j, p] of pings.entries()) {
      const r = await p.stop();
      console.log(`${lab.plan.clients[j]!.name}: ${r.sent} pings through the fabric during the chaos, ${r.lost} lost`);
      assert.ok(r.sent > 50, 'pings were sent');
      assert.equal(r.lost, 0, `${lab.plan.clients[j]!.name} lost no ping`);
    }
  });

  test('no API token, private key or preshared key in any log line of this lab', () => {
    const r = assertNoSecretsInLogs(lab.state.dir);
    console.log(`scanned ${r.files} log files for ${r.secrets} known secrets and any token text: nothing found`);
  });
});

function countBy(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
