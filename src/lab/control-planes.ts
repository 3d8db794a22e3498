import { join } from 'node:path';
import { ApiClient } from '../client/api-client.js';
import { readCaFile } from '../client/tls.js';
import { FabricError, isFabricError } from '../protocol/errors.js';
import { run } from '../sys/exec.js';
import { ETCD_BATCH_LIMITS } from '../store/etcd-limits.js';
import { etcdEndpoints, initialCluster, type LabControlPlanes, type LabEtcdMember } from './plan-cp.js';
import { saveState, type LabState } from './state.js';

/**
 * Bring-up and fault injection of the lab's HA control plane (plan-cp.ts): the etcd members in
 * their namespaces, the server replicas, and the faults the chaos test plays (kill a replica,
 * kill the etcd leader, cut a member off and heal it). Everything started is recorded in the
 * lab state, so `lab down` removes it (processes, namespaces; data dirs live in the lab dir).
 */

/** The lab's own building steps (lab.ts), handed in so this file stays apart from it. */
export interface LabSteps {
  spawn(state: LabState, what: string, args: string[], logFile: string, netns?: string): number;
  addNamespace(state: LabState, netns: string): Promise<void>;
  addLeg(state: LabState, netns: string, host: string, inside: string, bridge: string, address: string): Promise<void>;
  waitFor(what: string, cond: () => Promise<boolean> | boolean, limitMs: number): Promise<void>;
}

function cpOf(state: LabState): LabControlPlanes {
  const cp = state.plan.controlPlanes;
  if (!cp) throw new FabricError('WGF_ERR_VALIDATION', 'this lab has no etcd control plane (lab up --store etcd)');
  return cp;
}

/** Starts etcd member `m` in its namespace (also to restart a killed one: its data dir is kept). */
export function startEtcdMember(state: LabState, steps: LabSteps, m: LabEtcdMember): number {
  const cp = cpOf(state);
  return steps.spawn(state, `etcd ${m.name}`, [
    'etcd', '--name', m.memberName, '--data-dir', join(state.dir, m.name),
    '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
    '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
    '--initial-cluster', initialCluster(cp), '--initial-cluster-state', 'new', '--initial-cluster-token', `wgl${state.plan.tag}`,
    // A little slower than etcd's 100/1000 ms, so a loaded lab host does not elect for nothing.
    '--heartbeat-interval', '200', '--election-timeout', '2000', '--logger', 'zap', '--log-level', 'warn',
    // Room for a batch of 1,000 peers in one revision (store/etcd.ts ETCD_BATCH_LIMITS).
    '--max-txn-ops', String(ETCD_BATCH_LIMITS.maxTxnOps), '--max-request-bytes', String(ETCD_BATCH_LIMITS.maxRequestBytes),
  ], join(state.dir, `${m.name}.log`), m.netns);
}

/** The server-replica processes' command line (index into cp.replicas). */
export function startReplica(state: LabState, steps: LabSteps, index: number, bin: string): number {
  const cp = cpOf(state);
  const r = cp.replicas[index]!;
  return steps.spawn(state, `server ${r.name}`, [
    process.execPath, bin, 'server', '--store', 'etcd', '--etcd-endpoints', etcdEndpoints(cp), '--etcd-prefix', cp.prefix,
    '--data-dir', join(state.dir, r.name), '--master-key-file', join(state.dir, 'master.key'), '--listen', r.listen,
    // The first replica on an empty store makes the bootstrap admin token.
    ...(index === 0 ? ['--bootstrap-token-file', join(state.dir, 'admin.token')] : []),
    ...(state.tls ? ['--tls-cert', state.tls.certFile, '--tls-key', state.tls.keyFile] : []),
  ], join(state.dir, `${r.name}.log`));
}

/** Waits until replica `index` answers /healthz (a certificate problem fails at once). */
export async function waitReplica(state: LabState, steps: LabSteps, index: number, limitMs = 30_000): Promise<void> {
  const r = cpOf(state).replicas[index]!;
  const api = new ApiClient({ baseUrl: r.url, timeoutMs: 2000, ...(state.tls ? { ca: readCaFile(state.tls.caFile) } : {}) });
  await steps.waitFor(`control-plane replica ${r.name}`, async () => {
    try {
      return (await api.health()).status === 'ok';
    } catch (e) {
      if (isFabricError(e) && e.details?.['tls']) throw e;
      return false;
    }
  }, limitMs);
}

/**
 * The etcd cluster (each member in its namespace on the lab bridge), healthy, then the
 * replicas one after the other: the first makes the master key and the bootstrap token, the
 * others share that master key file (replicas must hold the same one).
 */
export async function startControlPlanes(state: LabState, steps: LabSteps, bin: string, log: (s: string) => void): Promise<void> {
  const cp = cpOf(state);
  for (const m of cp.members) {
    await steps.addNamespace(state, m.netns);
    await steps.addLeg(state, m.netns, m.vethHost, m.vethNs, state.plan.bridge, `${m.address}/24`);
  }
  for (const m of cp.members) startEtcdMember(state, steps, m);
  await steps.waitFor(`etcd cluster of ${cp.members.length}`, async () => (await etcdctl(cp, ['endpoint', 'health'])).code === 0, 60_000);
  log(`lab ${state.plan.tag}: etcd cluster ${cp.members.map((m) => `${m.name} ${m.address} (${m.netns})`).join(', ')}`);
  for (const [i, r] of cp.replicas.entries()) {
    startReplica(state, steps, i, bin);
    await waitReplica(state, steps, i);
    log(`lab ${state.plan.tag}: control-plane replica ${r.name} ${r.url}`);
  }
  saveState(state);
}

function etcdctl(cp: LabControlPlanes, args: string[], endpoints = etcdEndpoints(cp)) {
  return run('etcdctl', [`--endpoints=${endpoints}`, '--dial-timeout=2s', '--command-timeout=3s', ...args], { allowFailure: true, timeoutMs: 15_000 });
}

/** The member that is the etcd leader now, or null when none answers with one. */
export async function etcdLeader(state: LabState): Promise<LabEtcdMember | null> {
  const cp = cpOf(state);
  const { stdout } = await etcdctl(cp, ['endpoint', 'status', '-w', 'json']);
  let rows: { Endpoint: string; Status: { header: { member_id: number | string }; leader: number | string } }[];
  try {
    rows = JSON.parse(stdout);
  } catch {
    return null;
  }
  // etcdctl prints 64-bit ids as JSON numbers: compare them as text of the raw output instead.
  const raw = stdout.match(/"member_id":(\d+).*?"leader":(\d+)/g) ?? [];
  for (const [k, row] of rows.entries()) {
    const m = /"member_id":(\d+).*?"leader":(\d+)/.exec(raw[k] ?? '');
    if (m && m[1] === m[2]) return cp.members.find((x) => x.clientUrl === row.Endpoint) ?? null;
  }
  return null;
}

/** The recorded pid of a lab process by its `what` (last started). */
export function pidOf(state: LabState, what: string): number {
  const p = [...state.pids].reverse().find((x) => x.what === what);
  if (!p) throw new FabricError('WGF_ERR_NOT_FOUND', `no process "${what}" in lab ${state.plan.tag}`);
  return p.pid;
}

/** SIGKILLs a recorded lab process (a replica, an etcd member) and waits until it is gone. */
export async function killHard(state: LabState, what: string): Promise<void> {
  const pid = pidOf(state, what);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Cuts etcd member `m` off from the other members (cut = true) or heals it: an nftables table in
 * the member's namespace drops everything to and from the other members' addresses. Clients
 * (the replicas on the host) still reach it: a partitioned member, not a dead one.
 */
export async function partitionMember(state: LabState, m: LabEtcdMember, cut: boolean): Promise<void> {
  const others = cpOf(state).members.filter((x) => x !== m).map((x) => x.address);
  const table = `wgl${state.plan.tag}cut`;
  if (!cut) {
    await run('nft', ['delete', 'table', 'inet', table], { netns: m.netns, allowFailure: true });
    return;
  }
  const set = `{ ${others.join(', ')} }`;
  await run('nft', ['-f', '-'], {
    netns: m.netns,
    input: `table inet ${table} {\n chain in { type filter hook input priority 0; ip saddr ${set} drop; }\n chain out { type filter hook output priority 0; ip daddr ${set} drop; }\n}\n`,
  });
}
