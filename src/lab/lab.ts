import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../client/api-client.js';
import { readCaFile } from '../client/tls.js';
import { renderClientConfig } from '../cli/client-config.js';
import { FabricError, isFabricError } from '../protocol/errors.js';
import type { Peer, Pool } from '../protocol/types.js';
import { run } from '../sys/exec.js';
import { uniqueTag } from '../sys/netns.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { parseConfig, renderConfig, renderSetconf } from '../wg/config.js';
import type { LbServiceStatus } from '../lb/service.js';
import { planLab, type LabHost, type LabLbTier, type LabPlan } from './plan.js';
import { labsRoot, roleTokenFile, saveState, teardown, type LabState } from './state.js';
import { makeLabTls } from './tls.js';
import { addLbBgpRouter, addLbSpeaker, lbAnnounceArgs, lbNamesOf, vipNextHops } from './anycast-lb.js';
import { addAnycastBackend, addAnycastRouter, anycastAgentArgs, anycastNextHops, withAnycast, type AnycastHooks } from './anycast.js';
import { startControlPlanes, type LabSteps } from './control-planes.js';
import { planControlPlanes, serverUrlsFor } from './plan-cp.js';
import { addLabDns, LAB_DNS_NAME, setLabResolver, type LabDnsHooks } from './dns.js';
import { addReturnRouter, setUpDsrBackend } from './dsr.js';

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
  /**
   * Put a load balancer (`wgfabric lb run`) in front of the backends: clients sit on their own
   * bridge behind it and reach the pool through its VIP (see LabLb in plan.ts).
   */
  readonly lb?: boolean;
  /**
   * LB instances (default 1). Two or more add a router namespace that spreads flows over them
   * with ECMP, and switch the return path to 'snat' (see LabLbTier in plan.ts).
   */
  readonly lbInstances?: number;
  /** Extra `lb run` flags (e.g. probe thresholds), appended to the lab's own. */
  readonly lbArgs?: readonly string[];
  /** Serve the control plane over HTTPS with a CA made for this lab (default true; see makeLabTls). */
  readonly tls?: boolean;
  /** 'etcd': an etcd cluster and `controlPlanes` server replicas (plan-cp.ts); default 'sqlite': one server. */
  readonly store?: 'sqlite' | 'etcd';
  /** etcd members and server replicas with store 'etcd' (default 3); 1 otherwise. */
  readonly controlPlanes?: number;
  /** Add the health-aware DNS server and make the clients use the pool's name (see src/lab/dns.ts). */
  readonly dns?: boolean;
  /** A BGP router (bird2) in front: every backend announces the anycast address (agent --announce bgp); see anycast.ts. */
  readonly anycast?: boolean;
  /** Drain wait of the pool's anycast settings (default 5 s in the lab). */
  readonly anycastDrainSeconds?: number;
  /** With `lb`: 'dsr' = direct server return (one instance, bpf; see src/lab/dsr.ts). */
  readonly lbReturnPath?: 'dsr';
  /** With `lb`: 'bgp' makes the LB instances announce the VIP to a bird router (anycast-lb.ts); implied by anycast + lb. */
  readonly lbAnnounce?: 'bgp';
}

/** A running lab: its layout, an admin API client and the client peers it made. */
export interface Lab {
  readonly state: LabState;
  readonly plan: LabPlan;
  readonly api: ApiClient;
  readonly pool: Pool;
  readonly clientPeers: Peer[];
}

async function pickOctet(avoid: readonly number[] = []): Promise<number> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show']);
  const { stdout: routes } = await run('ip', ['-4', 'route', 'show'], { allowFailure: true });
  for (let i = 0; i < 50; i++) {
    const octet = 1 + Math.floor(Math.random() * 250);
    if (!avoid.includes(octet) && !stdout.includes(`198.18.${octet}.`) && !routes.includes(`198.18.${octet}.`)) return octet;
  }
  throw new FabricError('WGF_ERR_UNAVAILABLE', 'no free 198.18.X.0/24 segment for a lab');
}

/** Starts a lab process detached, logging to `logFile` (inside `netns` when given); labDown ends it. */
export function spawnDetached(state: LabState, what: string, args: string[], logFile: string, netns?: string): number {
  const out = openSync(logFile, 'a');
  const argv = netns ? ['netns', 'exec', netns, ...args] : args.slice(1);
  const file = netns ? 'ip' : args[0]!;
  // Every lab process that talks to an HTTPS control plane (agents, LBs) trusts the lab CA.
  const env = state.tls ? { ...process.env, WGFABRIC_CA_FILE: state.tls.caFile } : process.env;
  const child = spawn(file, argv, { detached: true, stdio: ['ignore', out, out], env });
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
  await addNamespace(state, h.netns);
  await addLeg(state, h.netns, h.vethHost, h.vethNs, h.bridge ?? state.plan.bridge, `${h.address}/24`);
  if (h.gateway) await run('ip', ['route', 'add', 'default', 'via', h.gateway], { netns: h.netns });
}

/** A bridge on the host, recorded for teardown. */
async function addBridge(state: LabState, name: string, address?: string): Promise<void> {
  await run('ip', ['link', 'add', name, 'type', 'bridge']);
  state.links.push(name);
  saveState(state);
  if (address) await run('ip', ['addr', 'add', address, 'dev', name]);
  await run('ip', ['link', 'set', name, 'up']);
}

/** A namespace recorded for teardown, with lo up. */
export async function addNamespace(state: LabState, netns: string): Promise<void> {
  await run('ip', ['netns', 'add', netns]);
  state.netns.push(netns);
  saveState(state);
  await run('ip', ['link', 'set', 'lo', 'up'], { netns });
}

/** A veth from a host bridge into a namespace (host side recorded for teardown), both ends up, with an address inside. */
export async function addLeg(state: LabState, netns: string, host: string, inside: string, bridge: string, address: string): Promise<void> {
  await run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', inside, 'netns', netns]);
  state.links.push(host);
  saveState(state);
  await run('ip', ['link', 'set', host, 'master', bridge, 'up']);
  await run('ip', ['addr', 'add', address, 'dev', inside], { netns });
  await run('ip', ['link', 'set', inside, 'up'], { netns });
}

/**
 * The LB tier: the client bridge, each LB namespace (a leg on the backend bridge, a front leg
 * towards the clients, forwarding on) and, with two or more LBs, the ECMP router between the
 * clients and the LBs (see LabLbTier in plan.ts).
 */
async function addLbTier(state: LabState, tier: LabLbTier): Promise<void> {
  const p = state.plan;
  await addBridge(state, tier.clientBridge);
  const r = tier.router;
  if (r) await addBridge(state, r.transitBridge);
  for (const lb of tier.instances) {
    await addNamespace(state, lb.netns);
    await addLeg(state, lb.netns, lb.vethHost, lb.vethNs, p.bridge, `${lb.address}/24`);
    if (r) {
      await addLeg(state, lb.netns, lb.clientVethHost, lb.clientVethNs, r.transitBridge, `${lb.frontAddress}/24`);
      await run('ip', ['route', 'add', tier.clientSubnet, 'via', r.transitAddress], { netns: lb.netns });
    } else {
      await addLeg(state, lb.netns, lb.clientVethHost, lb.clientVethNs, tier.clientBridge, `${lb.frontAddress}/24`);
      await run('ip', ['addr', 'add', `${tier.vip}/32`, 'dev', lb.clientVethNs], { netns: lb.netns });
    }
    await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: lb.netns });
  }
  if (r) {
    await addNamespace(state, r.netns);
    await addLeg(state, r.netns, r.clientVethHost, r.clientVethNs, tier.clientBridge, `${tier.gateway}/24`);
    await addLeg(state, r.netns, r.transitVethHost, r.transitVethNs, r.transitBridge, `${r.transitAddress}/24`);
    await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: r.netns });
    // Hash on the 5-tuple (policy 1), as routers in front of LB tiers do, so flows of one client host spread too.
    await run('sysctl', ['-q', '-w', 'net.ipv4.fib_multipath_hash_policy=1'], { netns: r.netns });
    if (!tier.announce) await setVipRoute(state.plan, tier.instances.map((i) => i.name));
  }
  if (tier.returnRouter) await addReturnRouter(state, tier, { addNamespace: (ns) => addNamespace(state, ns), addLeg: (...a) => addLeg(state, ...a) });
}

/**
 * With an ECMP router: points the router's VIP route at these LB instances (by name), e.g. all
 * of them, or all but one to withdraw it as a failing LB (or BGP) would. Flows whose nexthop
 * changes move to another LB.
 */
export async function setVipRoute(plan: LabPlan, lbNames: readonly string[]): Promise<void> {
  const tier = plan.lb;
  const r = tier?.router;
  if (!tier || !r) throw new FabricError('WGF_ERR_VALIDATION', 'this lab has no ECMP router (labUp with lbInstances >= 2)');
  const hops = lbNames.map((name) => {
    const lb = tier.instances.find((i) => i.name === name);
    if (!lb) throw new FabricError('WGF_ERR_VALIDATION', `no LB instance ${name} in this lab`);
    return lb.frontAddress;
  });
  if (hops.length === 0) throw new FabricError('WGF_ERR_VALIDATION', 'the VIP route needs at least one LB instance');
  const via = hops.length === 1 ? ['via', hops[0]!] : hops.flatMap((h) => ['nexthop', 'via', h]);
  await run('ip', ['route', 'replace', `${tier.vip}/32`, ...via], { netns: r.netns });
}

/**
 * Takes an LB instance's front link (towards the router) down or up, as a failing or recovering
 * LB host would. Up restores the route to the clients that the kernel dropped with the link.
 */
export async function setLbFrontLink(plan: LabPlan, lbName: string, up: boolean): Promise<void> {
  const tier = plan.lb;
  const lb = tier?.instances.find((i) => i.name === lbName);
  if (!tier?.router || !lb) throw new FabricError('WGF_ERR_VALIDATION', `no LB instance ${lbName} behind a router in this lab`);
  await run('ip', ['link', 'set', lb.clientVethNs, up ? 'up' : 'down'], { netns: lb.netns });
  if (up) await run('ip', ['route', 'replace', tier.clientSubnet, 'via', tier.router.transitAddress], { netns: lb.netns });
}

function lbOf(lab: Pick<Lab, 'plan'>, index: number) {
  const lb = lab.plan.lb?.instances[index];
  if (!lb) throw new FabricError('WGF_ERR_VALIDATION', `this lab has no load balancer #${index + 1} (labUp with lb: true, lbInstances)`);
  return lb;
}

/** Starts LB instance `index` in its namespace (used by `up` and by tests that restart it). */
export function startLb(lab: Pick<Lab, 'state' | 'plan'>, index = 0, extraArgs: readonly string[] = []): number {
  const lb = lbOf(lab, index);
  const tier = lab.plan.lb!;
  return spawnDetached(lab.state, `lb ${lb.name}`, [
    process.execPath, BIN, 'lb', 'run', '--server', serverUrlsFor(lab.plan, index), '--token-file', roleTokenFile(lab.state, lb.name),
    '--pool', lab.plan.pool.name, '--vip', `${tier.vip}:${lab.plan.pool.listenPort}`, '--instance', lb.instance,
    '--return-path', tier.returnPath, '--key-file', join(lab.state.dir, `${lb.name}.key`), '--listen', lb.listen, '--ready-max-age-ms', '5000',
    ...(tier.announce ? lbAnnounceArgs(lab.state.dir, lb) : []), ...(tier.returnPath === 'dsr' ? ['--dataplane', 'bpf'] : []), ...extraArgs,
  ], join(lab.state.dir, `${lb.name}.log`), lb.netns);
}

/** The /status of LB instance `index`, or null while it does not answer. */
export async function lbStatus(lab: Pick<Lab, 'plan'>, index = 0): Promise<LbServiceStatus | null> {
  try {
    const res = await fetch(`${lbOf(lab, index).statusUrl}/status`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? ((await res.json()) as LbServiceStatus) : null;
  } catch {
    return null;
  }
}

/**
 * Starts a host's wireguard-go (used by `up` and by tests that kill and restart one). Only
 * when none runs for that host: a killed one leaves its UAPI socket file behind, which is
 * removed first so the wait below sees the new daemon's socket, not the stale one.
 */
export async function startWireguardGo(state: LabState, h: LabHost): Promise<void> {
  rmSync(`/var/run/wireguard/${h.wgIface}.sock`, { force: true });
  spawnDetached(state, `wireguard-go ${h.name}`, ['wireguard-go', '-f', h.wgIface], join(state.dir, `${h.name}.wg.log`), h.netns);
  await waitFor(`wireguard-go ${h.wgIface}`, () => existsSync(`/var/run/wireguard/${h.wgIface}.sock`), 10_000);
}

/** Starts one backend's agent (used by `up` and by tests that restart an agent). */
export function startAgent(lab: Lab, index: number, reconcileInterval = 30): number {
  const h = lab.plan.backends[index]!;
  return spawnDetached(lab.state, `agent ${h.name}`, [
    process.execPath, BIN, 'agent', '--server', serverUrlsFor(lab.plan, index), '--token-file', join(lab.state.dir, `${h.name}.token`),
    '--pool', lab.plan.pool.name, '--node', h.name, '--interface', h.wgIface, '--listen', `${h.address}:${AGENT_METRICS_PORT}`,
    '--reconcile-interval', String(reconcileInterval), '--report-interval', '1', '--session-interval', '2', '--session-bytes-interval', '2',
    ...(lab.plan.anycast ? anycastAgentArgs(lab.state.dir, h) : []),
    ...(lab.plan.lb?.returnPath === 'dsr' ? ['--vip', lab.plan.lb.vip] : []), // the agent keeps the VIP on lo (src/agent/vip.ts)
  ], join(lab.state.dir, `${h.name}.agent.log`), h.netns);
}

/** Starts the control plane of a lab (used by `up` and by tests that restart it). */
export async function startServer(state: LabState): Promise<number> {
  const p = state.plan;
  const pid = spawnDetached(state, 'server', [
    process.execPath, BIN, 'server', '--data-dir', join(state.dir, 'data'), '--listen', `${p.hostAddress}:7080`,
    '--bootstrap-token-file', join(state.dir, 'admin.token'),
    ...(state.tls ? ['--tls-cert', state.tls.certFile, '--tls-key', state.tls.keyFile] : []),
  ], join(state.dir, 'server.log'));
  const health = labApi(state);
  await waitFor('the control plane', async () => {
    try {
      return (await health.health()).status === 'ok';
    } catch (e) {
      if (isFabricError(e) && e.details?.['tls']) throw e; // a certificate problem does not go away by waiting
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
  const cfg = parseConfig(text);
  // A fixed listen port (clients behind the LB) makes each client's flow hash predictable.
  if (h.listenPort !== undefined) cfg.interface.listenPort = h.listenPort;
  writeFileSync(file, h.listenPort === undefined ? text : renderConfig(cfg), { mode: 0o600 });
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
  if (opts.dns && opts.lb) throw new FabricError('WGF_ERR_VALIDATION', 'lab up --dns does not combine with --lb yet: the DNS lab publishes backends, not LB VIPs');
  const octet = await pickOctet();
  const lbBgp = opts.lb && (opts.anycast || opts.lbAnnounce === 'bgp');
  // BGP needs the routed tier (a router in front): two instances at least.
  const lbInstances = lbBgp ? Math.max(2, opts.lbInstances ?? 2) : opts.lbInstances ?? 1;
  let lbPlan: { clientOctet: number; instances: number; transitOctet?: number; returnPath?: 'dsr' } | undefined;
  if (opts.lb) {
    const clientOctet = await pickOctet([octet]);
    lbPlan = { clientOctet, instances: lbInstances, ...(lbInstances > 1 ? { transitOctet: await pickOctet([octet, clientOctet]) } : {}), ...(opts.lbReturnPath ? { returnPath: opts.lbReturnPath } : {}) };
  }
  const scheme = opts.tls === false ? 'http' : 'https';
  const planned0 = planLab(uniqueTag(2), octet, opts.backends, opts.clients, lbPlan, scheme);
  if (opts.lbAnnounce && !opts.lb) throw new FabricError('WGF_ERR_VALIDATION', '--announce bgp is for the LB tier: add --lb', { field: 'announce' });
  const planned: LabPlan = lbBgp && planned0.lb ? { ...planned0, lb: { ...planned0.lb, announce: 'bgp' } } : planned0;
  // With --lb the LB instances announce (anycast-lb.ts); without it every backend does (anycast.ts).
  const lab0: LabPlan = opts.anycast && !opts.lb ? withAnycast(planned, await pickOctet([octet])) : planned;
  if (opts.store !== 'etcd' && (opts.controlPlanes ?? 1) !== 1) {
    throw new FabricError('WGF_ERR_VALIDATION', '--control-planes above 1 needs --store etcd (replicas share one etcd cluster; SQLite is one file)', { field: 'controlPlanes' });
  }
  const cp = opts.store === 'etcd' ? planControlPlanes(lab0.tag, `198.18.${octet}`, lab0.hostAddress, opts.controlPlanes ?? 3, scheme) : undefined;
  const plan: LabPlan = cp ? { ...lab0, serverUrl: cp.replicas[0]!.url, controlPlanes: cp } : lab0;
  const dir = resolve(labsRoot(opts.base ?? '.wgfabric'), plan.tag);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state: LabState = { plan, dir, pids: [], netns: [], links: [], startedAt: new Date().toISOString() };
  saveState(state);
  try {
    await addBridge(state, plan.bridge, `${plan.hostAddress}/24`);
    log(`lab ${plan.tag}: bridge ${plan.bridge} ${plan.subnet}`);
    const hooks: AnycastHooks = {
      spawn: (what, args, logFile, netns) => spawnDetached(state, what, args, logFile, netns),
      addNamespace: (ns) => addNamespace(state, ns), addBridge: (b) => addBridge(state, b),
      addLeg: (ns, host, inside, bridge, address) => addLeg(state, ns, host, inside, bridge, address),
    };
    if (plan.anycast) {
      await addAnycastRouter({ ...plan, anycast: plan.anycast }, dir, hooks);
      log(`lab ${plan.tag}: anycast ${plan.anycast.address}, BGP router ${plan.anycast.routerNetns} (bird2, BFD, ECMP), clients ${plan.anycast.clientSubnet}`);
    }
    if (plan.lb) {
      await addLbTier(state, plan.lb);
      for (const i of plan.lb.instances) log(`lab ${plan.tag}: load balancer ${i.name} ${i.netns} ${i.address}, front ${i.frontAddress}`);
      if (plan.lb.router) log(`lab ${plan.tag}: ECMP router ${plan.lb.router.netns} ${plan.lb.gateway}, transit ${plan.lb.router.transitSubnet}`);
      if (plan.lb.announce) {
        await addLbBgpRouter(plan.lb, dir, hooks.spawn);
        for (const i of plan.lb.instances) await addLbSpeaker(plan.lb, dir, i, hooks.spawn);
        log(`lab ${plan.tag}: BGP router ${plan.lb.router!.netns} (bird2, BFD, ECMP); every LB instance announces ${plan.lb.vip} (lb run --announce bgp)`);
      }
      log(`lab ${plan.tag}: client bridge ${plan.lb.clientBridge} ${plan.lb.clientSubnet}, VIP ${plan.lb.vip}, return path ${plan.lb.returnPath}`);
    }
    if (opts.tls !== false) {
      state.tls = await makeLabTls(dir, plan);
      saveState(state);
    }
    if (plan.controlPlanes) await startControlPlanes(state, LAB_STEPS, BIN, log);
    else await startServer(state);
    const api = labApi(state, readFileSync(join(dir, 'admin.token'), 'utf8').trim());
    const first = plan.backends[0]!;
    const pool = await api.createPool({
      name: plan.pool.name, ipv4Prefix: plan.pool.ipv4Prefix, ipv6Prefix: plan.pool.ipv6Prefix, listenPort: plan.pool.listenPort,
      endpoint: `${opts.dns ? LAB_DNS_NAME : plan.lb ? plan.lb.vip : plan.anycast ? plan.anycast.address : first.address}:${plan.pool.listenPort}`, persistentKeepalive: 0,
      ...(plan.anycast ? { anycast: { addresses: [plan.anycast.address], drainSeconds: opts.anycastDrainSeconds ?? 5 } } : {}),
      ...(plan.lb?.announce ? { anycast: { drainSeconds: opts.anycastDrainSeconds ?? 5 } } : {}), // the LB instances' drain wait
    });
    log(`lab ${plan.tag}: control plane ${serverUrlsFor(plan)}, pool ${pool.name} (${pool.publicKey})`);
    const lab: Lab = { state, plan, api, pool, clientPeers: [] };
    // Backends are built side by side (each step waits on `ip`, the API or a daemon's socket,
    // not on the CPU); with anycast one after the other, as they share the BGP router's setup.
    await eachBackend(plan.backends, !plan.anycast, async (h, i) => {
      await addHostNamespace(state, h);
      // 'via-lb': replies to clients go back through the (single) LB, which un-NATs them. With
      // 'snat' they go to the LB's own address on this segment: no route needed.
      if (plan.lb?.returnPath === 'via-lb') await run('ip', ['route', 'add', plan.lb.clientSubnet, 'via', plan.lb.instances[0]!.address], { netns: h.netns });
      if (plan.lb?.returnPath === 'dsr') await setUpDsrBackend(h, plan.lb);
      await api.createNode(plan.pool.name, { name: h.name, endpoint: `${h.address}:${plan.pool.listenPort}` });
      if (plan.anycast) {
        await addAnycastBackend({ ...plan, anycast: plan.anycast }, dir, h, hooks);
        const probe = generateKeyPair();
        await api.createPeer(plan.pool.name, { name: `agentprobe-${h.name}`, publicKey: toBase64(probe.publicKey), labels: { role: 'agent-probe' } });
        writeFileSync(join(dir, `${h.name}.probe.key`), toBase64(probe.privateKey) + '\n', { mode: 0o600 });
      }
      const t = await api.createToken({ name: `lab-${h.name}`, role: 'node', pool: plan.pool.name, node: h.name });
      writeFileSync(join(dir, `${h.name}.token`), t.secret + '\n', { mode: 0o600 });
      await startWireguardGo(state, h);
      startAgent(lab, i, opts.reconcileInterval);
      log(`lab ${plan.tag}: ${h.name} ${h.address} (${h.netns}) wireguard-go ${h.wgIface} + agent`);
    });
    for (const [i, lb] of (plan.lb?.instances ?? []).entries()) {
      await writeRoleToken(api, dir, lb.name);
      startLb(lab, i, opts.lbArgs);
      log(`lab ${plan.tag}: lb run in ${lb.netns}, status ${lb.statusUrl}/status`);
    }
    if (opts.dns) await writeRoleToken(api, dir, 'dns');
    await writeRoleToken(api, dir, 'operator'); // for the operator at the CLI (lab up prints it): not the admin token
    const dns = opts.dns ? await addLabDns(state, labDnsHooks, log) : undefined;
    for (const [j, h] of plan.clients.entries()) {
      await addHostNamespace(state, h);
      if (dns) setLabResolver(state, h.netns, dns);
      const b = plan.backends[j % plan.backends.length]!;
      const host = plan.lb ? plan.lb.vip : plan.anycast ? plan.anycast.address : b.address;
      lab.clientPeers.push(await setUpClient(lab, h, dns ? `${dns.name}:${plan.pool.listenPort}` : `${host}:${plan.pool.listenPort}`));
    }
    await waitForConvergence(lab, 60_000);
    for (const [i, lb] of (plan.lb?.instances ?? []).entries()) {
      await waitFor(`load balancer ${lb.name} to put every backend in its table`, async () => {
        const s = await lbStatus(lab, i);
        return s !== null && s.backends.length === plan.backends.length && s.backends.every((b) => b.inTable);
      }, 60_000);
      log(`lab ${plan.tag}: every backend is in ${lb.name}'s table`);
    }
    if (plan.lb?.announce) {
      const tier = plan.lb;
      await waitFor('the router to hold every LB instance as a next hop of the VIP', async () => (await vipNextHops(tier)).length === tier.instances.length, 60_000);
      log(`lab ${plan.tag}: the router holds ${tier.vip} via ${lbNamesOf(tier, await vipNextHops(tier)).join(', ')}`);
    }
    if (plan.anycast) {
      const p = { ...plan, anycast: plan.anycast };
      await waitFor('the router to hold every backend as a next hop of the anycast route', async () => (await anycastNextHops(p)).length === plan.backends.length, 60_000);
      log(`lab ${plan.tag}: the router holds ${plan.anycast.address} via ${(await anycastNextHops(p)).join(', ')}`);
    }
    log(`lab ${plan.tag}: ${plan.backends.length} backends in sync, ${plan.clients.length} clients configured`);
    return lab;
  } catch (e) {
    await teardown(state);
    throw e;
  }
}

/** Runs `step` for every backend, all at once when `parallel`; the first failure is thrown once all have settled. */
async function eachBackend(hosts: readonly LabHost[], parallel: boolean, step: (h: LabHost, i: number) => Promise<void>): Promise<void> {
  if (!parallel) {
    for (const [i, h] of hosts.entries()) await step(h, i);
    return;
  }
  const failed = (await Promise.allSettled(hosts.map((h, i) => step(h, i)))).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** What src/lab/dns.ts uses of this file. */
export const labDnsHooks: LabDnsHooks = { addNamespace, addLeg, spawn: spawnDetached, bin: [process.execPath, BIN] };

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

/**
 * The LB instances and the DNS updater of a lab each run with an operator token of their own
 * (<dir>/<role>.token, mode 0600, named lab-<role>), never with the bootstrap admin token.
 */
async function writeRoleToken(api: ApiClient, dir: string, role: string): Promise<void> {
  const t = await api.createToken({ name: `lab-${role}`, role: 'operator' });
  writeFileSync(join(dir, `${role}.token`), t.secret + '\n', { mode: 0o600 });
}

/** Reopens a lab made by `labUp` (possibly by another process) from its state file. */
export function openLab(state: LabState): Omit<Lab, 'pool' | 'clientPeers'> {
  const token = readFileSync(join(state.dir, 'admin.token'), 'utf8').trim();
  return { state, plan: state.plan, api: labApi(state, token) };
}

/** An API client of the lab's control plane, trusting the lab CA when it serves HTTPS. */
function labApi(state: LabState, token?: string): ApiClient {
  return new ApiClient({
    baseUrl: serverUrlsFor(state.plan), timeoutMs: token === undefined ? 2000 : 30_000,
    ...(token !== undefined ? { token } : {}), ...(state.tls ? { ca: readCaFile(state.tls.caFile) } : {}),
  });
}

/** The lab's building steps, for the control-plane bring-up and tests that restart its parts (control-planes.ts). */
export const LAB_STEPS: LabSteps = { spawn: spawnDetached, addNamespace, addLeg, waitFor };

export async function labDown(lab: Pick<Lab, 'state'>): Promise<void> {
  await teardown(lab.state);
}
