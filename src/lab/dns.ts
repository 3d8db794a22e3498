/**
 * The lab's health-aware DNS (`lab up --dns`): an authoritative Knot DNS server in its own
 * namespace on the lab bridge, serving the zone `lab.test` from a config and data directory
 * under the lab directory (own control socket and pid file, so labs and the host's own knot
 * never share one), `wgfabric dns run` beside it keeping `vpn.lab.test` on the in-service
 * backends with TSIG-signed updates, and clients whose WireGuard Endpoint is that name: each
 * client namespace resolves through the lab's server via /etc/netns/<ns>/resolv.conf (which
 * `ip netns exec` mounts over /etc/resolv.conf), removed at teardown.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FabricError } from '../protocol/errors.js';
import { run } from '../sys/exec.js';
import { LAB_PREFIX, type LabPlan } from './plan.js';
import { roleTokenFile, saveState, type LabState } from './state.js';

export const LAB_DNS_ZONE = 'lab.test';
export const LAB_DNS_NAME = `vpn.${LAB_DNS_ZONE}`;
export const LAB_DNS_TTL = 5;

/** Names, addresses and files of a lab's DNS server (pure: from the plan and the lab directory). */
export interface LabDns {
  readonly netns: string;
  readonly vethHost: string;
  readonly vethNs: string;
  /** The server's address on the lab bridge (port 53 in its own namespace). */
  readonly address: string;
  readonly zone: string;
  readonly name: string;
  readonly ttl: number;
  /** Knot's config, zone file, database, pid file and control socket live here. */
  readonly dir: string;
  readonly keyFile: string;
  readonly controlSocket: string;
}

export function planLabDns(plan: Pick<LabPlan, 'tag' | 'subnet'>, labDir: string): LabDns {
  const base = plan.subnet.replace(/\.0\/24$/, '');
  const dir = join(labDir, 'knot');
  return {
    netns: `${LAB_PREFIX}${plan.tag}dn`, vethHost: `${LAB_PREFIX}${plan.tag}dnh`, vethNs: `${LAB_PREFIX}${plan.tag}dnn`, address: `${base}.53`,
    zone: LAB_DNS_ZONE, name: LAB_DNS_NAME, ttl: LAB_DNS_TTL, dir, keyFile: join(labDir, 'dns-tsig.key'), controlSocket: join(dir, 'knot.sock'),
  };
}

/**
 * knot.conf of the lab server: listens on its address, one zone whose only writer is the TSIG
 * key `keyName` (updates signed with anything else are refused), zone changes kept in the
 * journal only (the zone file is never rewritten). Pure.
 */
export function renderKnotConf(d: Pick<LabDns, 'address' | 'dir' | 'zone'>, keyName: string, secretB64: string, port = 53): string {
  return [
    'server:', `    listen: ${d.address}@${port}`, `    rundir: "${d.dir}"`, `    pidfile: "${join(d.dir, 'knot.pid')}"`,
    'log:', '  - target: stderr', '    any: info',
    'database:', `    storage: "${join(d.dir, 'db')}"`,
    'key:', `  - id: ${keyName}`, '    algorithm: hmac-sha256', `    secret: ${secretB64}`,
    'acl:', '  - id: wgfabric-update', `    key: ${keyName}`, '    action: update',
    'template:', '  - id: default', `    storage: "${d.dir}"`, '    file: "%s.zone"', '    zonefile-sync: -1', '    zonefile-load: whole', '    journal-content: changes',
    'zone:', `  - domain: ${d.zone}`, '    acl: wgfabric-update',
    '',
  ].join('\n');
}

/** The zone file: SOA (minimum 5 s: negative answers are cached briefly too), NS, the server's own A record. Pure. */
export function renderLabZone(d: Pick<LabDns, 'zone' | 'address'>): string {
  return [`$ORIGIN ${d.zone}.`, '$TTL 60', `@ SOA ns.${d.zone}. hostmaster.${d.zone}. 1 60 60 600 5`, `@ NS ns.${d.zone}.`, `ns A ${d.address}`, ''].join('\n');
}

/** Hooks into lab.ts: its namespace/leg helpers and process spawner (so this file owns no copies). */
export interface LabDnsHooks {
  addNamespace(state: LabState, netns: string): Promise<void>;
  addLeg(state: LabState, netns: string, host: string, inside: string, bridge: string, address: string): Promise<void>;
  spawn(state: LabState, what: string, args: string[], logFile: string, netns?: string): number;
  /** `wgfabric` argv prefix (node + bin). */
  readonly bin: readonly string[];
}

/** The A records of the lab name as the lab server answers them (kdig from `netns`, or from the host). */
export async function labDnsAddresses(dns: Pick<LabDns, 'address' | 'name'>, netns?: string): Promise<string[]> {
  const { stdout } = await run('kdig', [`@${dns.address}`, dns.name, 'A', '+short', '+timeout=1', '+retry=0'], { allowFailure: true, ...(netns ? { netns } : {}) });
  return stdout.split('\n').map((l) => l.trim()).filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l)).sort();
}

/** Starts `wgfabric dns run` of the lab (used by up, and by tests that restart it). */
export function startLabDnsUpdater(state: LabState, dns: LabDns, hooks: LabDnsHooks): number {
  const p = state.plan;
  return hooks.spawn(state, 'dns updater', [
    ...hooks.bin, 'dns', 'run', '--server', p.serverUrl, '--token-file', roleTokenFile(state, 'dns'), '--pool', p.pool.name,
    '--zone', dns.zone, '--name', dns.name, '--dns-server', `${dns.address}:53`, '--tsig-key-file', dns.keyFile, '--ttl', String(dns.ttl),
    '--instance', `lab${p.tag}`, '--key-file', join(state.dir, 'dnsprobe.key'), '--ready-max-age-ms', '5000', '--resync-ms', '5000',
  ], join(state.dir, 'dns-updater.log'), dns.netns);
}

/**
 * Brings up the DNS namespace with knotd and the updater, then waits until the name holds
 * every backend. Everything made is recorded in the lab state for teardown.
 */
export async function addLabDns(state: LabState, hooks: LabDnsHooks, log: (s: string) => void): Promise<LabDns> {
  const dns = planLabDns(state.plan, state.dir);
  state.dns = dns;
  saveState(state);
  await hooks.addNamespace(state, dns.netns);
  await hooks.addLeg(state, dns.netns, dns.vethHost, dns.vethNs, state.plan.bridge, `${dns.address}/24`);
  mkdirSync(join(dns.dir, 'db'), { recursive: true, mode: 0o700 });
  const keyName = `wgfabric-lab${state.plan.tag}`;
  const secret = randomBytes(32).toString('base64');
  writeFileSync(dns.keyFile, `key "${keyName}" {\n\talgorithm hmac-sha256;\n\tsecret "${secret}";\n};\n`, { mode: 0o600 });
  writeFileSync(join(dns.dir, 'knot.conf'), renderKnotConf(dns, keyName, secret), { mode: 0o600 });
  writeFileSync(join(dns.dir, `${dns.zone}.zone`), renderLabZone(dns));
  hooks.spawn(state, 'knotd', ['knotd', '-c', join(dns.dir, 'knot.conf'), '-s', dns.controlSocket], join(state.dir, 'knot.log'), dns.netns);
  await waitUntil('knotd to answer', async () => (await run('kdig', [`@${dns.address}`, `ns.${dns.zone}`, 'A', '+short', '+timeout=1', '+retry=0'], { allowFailure: true })).stdout.includes(dns.address), 20_000);
  log(`lab ${state.plan.tag}: DNS server knotd ${dns.netns} ${dns.address}:53, zone ${dns.zone} (TSIG-signed updates only)`);
  startLabDnsUpdater(state, dns, hooks);
  const want = state.plan.backends.map((b) => b.address).sort().join(',');
  await waitUntil(`${dns.name} to hold every backend`, async () => (await labDnsAddresses(dns)).join(',') === want, 90_000);
  log(`lab ${state.plan.tag}: wgfabric dns run keeps ${dns.name} (TTL ${dns.ttl} s) on the in-service backends`);
  return dns;
}

/** Makes a client namespace resolve through the lab's server (/etc/netns/<ns>/resolv.conf, removed at teardown). */
export function setLabResolver(state: LabState, netns: string, dns: Pick<LabDns, 'address'>): void {
  const dir = `/etc/netns/${netns}`;
  mkdirSync(dir, { recursive: true });
  (state.paths ??= []).push(dir);
  saveState(state);
  writeFileSync(join(dir, 'resolv.conf'), `# wgfabric lab ${state.plan.tag}\nnameserver ${dns.address}\noptions timeout:1 attempts:2\n`);
}

async function waitUntil(what: string, cond: () => Promise<boolean>, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new FabricError('WGF_ERR_UNAVAILABLE', `lab: timed out waiting for ${what}`);
    await sleep(200);
  }
}
