import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../client/api-client.js';
import { renderClientConfig } from '../cli/client-config.js';
import { FabricError } from '../protocol/errors.js';
import type { Peer, Pool } from '../protocol/types.js';
import { run } from '../sys/exec.js';
import { uniqueTag } from '../sys/netns.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { parseConfig, renderSetconf } from '../wg/config.js';
import { planLab, type LabHost, type LabPlan } from './plan.js';
import { labsRoot, saveState, teardown, type LabState } from './state.js';

const BIN = fileURLToPath(new URL('../../bin/wgfabric.js', import.meta.url));
export const AGENT_METRICS_PORT = 9586;

export interface LabOptions {
  readonly backends: number;
  readonly clients: number;
  /** Where lab state, logs and configs live (default ./.wgfabric). */
  readonly base?: string;
  /** Agent reconcile period in seconds (default 30). */
  readonly reconcileInterval?: number;
  readonly log?: (line: string) => void;
}

/** A running lab: its layout, an admin API client and the client peers it made. */
export interface Lab {
  readonly state: LabState;
  readonly plan: LabPlan;
  readonly api: ApiClient;
  readonly pool: Pool;
  readonly clientPeers: Peer[];
}

async function pickOctet(): Promise<number> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show']);
  for (let i = 0; i < 50; i++) {
    const octet = 1 + Math.floor(Math.random() * 250);
    if (!stdout.includes(`198.18.${octet}.`)) return octet;
  }
  throw new FabricError('WGF_ERR_UNAVAILABLE', 'no free 198.18.X.0/24 segment for a lab');
}

/** Spawns a detached process (optionally in a namespace) logging to a file; records its pid. */
function spawnDetached(state: LabState, what: string, args: string[], logFile: string, netns?: string): number {
  const out = openSync(logFile, 'a');
  const argv = netns ? ['netns', 'exec', netns, ...args] : args.slice(1);
  const file = netns ? 'ip' : args[0]!;
  const child = spawn(file, argv, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  state.pids.push({ pid: child.pid!, what });
  saveState(state);
  return child.pid!;
}

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new FabricError('WGF_ERR_UNAVAILABLE', `lab: timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function addHostNamespace(state: LabState, h: LabHost): Promise<void> {
  const p = state.plan;
  await run('ip', ['netns', 'add', h.netns]);
  state.netns.push(h.netns);
  saveState(state);
  await run('ip', ['link', 'add', h.vethHost, 'type', 'veth', 'peer', 'name', h.vethNs, 'netns', h.netns]);
  state.links.push(h.vethHost);
  saveState(state);
  await run('ip', ['link', 'set', h.vethHost, 'master', p.bridge, 'up']);
  await run('ip', ['addr', 'add', `${h.address}/24`, 'dev', h.vethNs], { netns: h.netns });
  await run('ip', ['link', 'set', h.vethNs, 'up'], { netns: h.netns });
  await run('ip', ['link', 'set', 'lo', 'up'], { netns: h.netns });
}

async function startWireguardGo(state: LabState, h: LabHost): Promise<void> {
  spawnDetached(state, `wireguard-go ${h.name}`, ['wireguard-go', '-f', h.wgIface], join(state.dir, `${h.name}.wg.log`), h.netns);
  await waitFor(`wireguard-go ${h.wgIface}`, () => existsSync(`/var/run/wireguard/${h.wgIface}.sock`), 10_000);
}

/** Starts one backend's agent (used by `up` and by tests that restart an agent). */
export function startAgent(lab: Lab, index: number, reconcileInterval = 30): number {
  const h = lab.plan.backends[index]!;
  return spawnDetached(lab.state, `agent ${h.name}`, [
    process.execPath, BIN, 'agent', '--server', lab.plan.serverUrl, '--token-file', join(lab.state.dir, `${h.name}.token`),
    '--pool', lab.plan.pool.name, '--node', h.name, '--interface', h.wgIface, '--listen', `${h.address}:${AGENT_METRICS_PORT}`,
    '--reconcile-interval', String(reconcileInterval), '--report-interval', '1',
  ], join(lab.state.dir, `${h.name}.agent.log`), h.netns);
}

/** Starts the control plane of a lab (used by `up` and by tests that restart it). */
export async function startServer(state: LabState): Promise<number> {
  const p = state.plan;
  const pid = spawnDetached(state, 'server', [
    process.execPath, BIN, 'server', '--data-dir', join(state.dir, 'data'), '--listen', `${p.hostAddress}:7080`,
    '--bootstrap-token-file', join(state.dir, 'admin.token'),
  ], join(state.dir, 'server.log'));
  await waitFor('the control plane', async () => {
    try {
      return (await fetch(`${p.serverUrl}/healthz`)).ok;
    } catch {
      return false;
    }
  }, 20_000);
  return pid;
}

/** Configures one client namespace's wireguard-go from a config produced for a new peer. */
async function setUpClient(lab: Lab, h: LabHost, endpoint: string): Promise<Peer> {
  await startWireguardGo(lab.state, h);
  const kp = generateKeyPair();
  const peer = await lab.api.createPeer(lab.plan.pool.name, { name: h.name, publicKey: toBase64(kp.publicKey) });
  const text = renderClientConfig(lab.pool, peer, toBase64(kp.privateKey), { endpoint });
  const file = join(lab.state.dir, `${h.name}.conf`);
  writeFileSync(file, text, { mode: 0o600 });
  const cfg = parseConfig(text);
  const setconf = join(lab.state.dir, `${h.name}.setconf`);
  writeFileSync(setconf, renderSetconf(cfg), { mode: 0o600 });
  await run('wg', ['setconf', h.wgIface, setconf], { netns: h.netns });
  for (const a of cfg.interface.addresses) await run('ip', ['addr', 'add', a, 'dev', h.wgIface], { netns: h.netns });
  await run('ip', ['link', 'set', h.wgIface, 'up'], { netns: h.netns });
  for (const r of cfg.peers[0]!.allowedIps) await run('ip', ['route', 'replace', r, 'dev', h.wgIface], { netns: h.netns });
  return peer;
}

/**
 * Builds the whole fabric on this host: a bridge, the control plane on SQLite, N backend
 * namespaces each with wireguard-go and an agent, M client namespaces with wireguard-go
 * configured from `peer add`-style configs (client i uses backend i mod N). Everything made
 * is recorded in the state file as it is made, so `down` removes it even after a crash.
 */
export async function labUp(opts: LabOptions): Promise<Lab> {
  const log = opts.log ?? (() => {});
  const plan = planLab(uniqueTag(2), await pickOctet(), opts.backends, opts.clients);
  const dir = resolve(labsRoot(opts.base ?? '.wgfabric'), plan.tag);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state: LabState = { plan, dir, pids: [], netns: [], links: [], startedAt: new Date().toISOString() };
  saveState(state);
  try {
    await run('ip', ['link', 'add', plan.bridge, 'type', 'bridge']);
    state.links.push(plan.bridge);
    saveState(state);
    await run('ip', ['addr', 'add', `${plan.hostAddress}/24`, 'dev', plan.bridge]);
    await run('ip', ['link', 'set', plan.bridge, 'up']);
    log(`lab ${plan.tag}: bridge ${plan.bridge} ${plan.subnet}`);
    await startServer(state);
    const token = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const api = new ApiClient({ baseUrl: plan.serverUrl, token });
    const first = plan.backends[0]!;
    const pool = await api.createPool({
      name: plan.pool.name, ipv4Prefix: plan.pool.ipv4Prefix, ipv6Prefix: plan.pool.ipv6Prefix, listenPort: plan.pool.listenPort,
      endpoint: `${first.address}:${plan.pool.listenPort}`, persistentKeepalive: 0,
    });
    log(`lab ${plan.tag}: control plane ${plan.serverUrl}, pool ${pool.name} (${pool.publicKey})`);
    const lab: Lab = { state, plan, api, pool, clientPeers: [] };
    for (const [i, h] of plan.backends.entries()) {
      await addHostNamespace(state, h);
      await api.createNode(plan.pool.name, { name: h.name, endpoint: `${h.address}:${plan.pool.listenPort}` });
      const t = await api.createToken({ name: `lab-${h.name}`, role: 'node', pool: plan.pool.name, node: h.name });
      writeFileSync(join(dir, `${h.name}.token`), t.secret + '\n', { mode: 0o600 });
      await startWireguardGo(state, h);
      startAgent(lab, i, opts.reconcileInterval);
      log(`lab ${plan.tag}: ${h.name} ${h.address} (${h.netns}) wireguard-go ${h.wgIface} + agent`);
    }
    for (const [j, h] of plan.clients.entries()) {
      await addHostNamespace(state, h);
      const b = plan.backends[j % plan.backends.length]!;
      lab.clientPeers.push(await setUpClient(lab, h, `${b.address}:${plan.pool.listenPort}`));
    }
    await waitForConvergence(lab, 60_000);
    log(`lab ${plan.tag}: ${plan.backends.length} backends in sync, ${plan.clients.length} clients configured`);
    return lab;
  } catch (e) {
    await teardown(state);
    throw e;
  }
}

/** Waits until every backend reports ready at (at least) the control plane's current revision. */
export async function waitForConvergence(lab: Lab, limitMs: number): Promise<number> {
  const started = Date.now();
  const { revision } = await lab.api.ready();
  await waitFor('every backend to apply the latest revision', async () => {
    const nodes = await lab.api.listNodes(lab.plan.pool.name, { limit: 1000 });
    return nodes.items.length === lab.plan.backends.length && nodes.items.every((n) => n.status?.ready && n.status.appliedRevision >= revision);
  }, limitMs);
  return Date.now() - started;
}

/** Reopens a lab made by `labUp` (possibly by another process) from its state file. */
export function openLab(state: LabState): Omit<Lab, 'pool' | 'clientPeers'> {
  const token = readFileSync(join(state.dir, 'admin.token'), 'utf8').trim();
  return { state, plan: state.plan, api: new ApiClient({ baseUrl: state.plan.serverUrl, token }) };
}

export async function labDown(lab: Pick<Lab, 'state'>): Promise<void> {
  await teardown(lab.state);
}
