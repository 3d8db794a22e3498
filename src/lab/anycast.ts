/**
 * `lab up --anycast`: a router namespace running bird2 in front of the backends (a BGP session
 * with BFD to every backend, multipath, GRACEFUL_SHUTDOWN honoured on receive), clients on their
 * own bridge behind it, every backend holding the anycast address on lo and announcing it with
 * `agent --announce bgp` through its own bird.
 *
 * Forwarding uses a resilient nexthop group, as data-centre routers use resilient ECMP: bird
 * writes its merged multipath route to kernel table 200, and a small mirror (ip monitor + ip
 * nexthop) keeps a `type resilient` group in the main table with the same next hops. A plain
 * multipath route re-hashes flows of the surviving next hops when one leaves (hash-threshold);
 * the resilient group moves only the departed next hop's buckets, so clients of the other
 * backends keep their backend (and their WireGuard session).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../sys/exec.js';
import { LAB_PREFIX, type LabHost, type LabPlan } from './plan.js';
import { renderRouterConfig, renderSpeakerConfig, ROUTER_BIRD_TABLE, SPEAKER_AS, startBird, writeEmptyInclude } from './bird.js';

export interface LabAnycast {
  /** The anycast address every backend holds and announces (IPv4 /32). */
  readonly address: string;
  readonly routerNetns: string;
  /** Router leg on the lab (backend) bridge. */
  readonly routerVethHost: string;
  readonly routerVethNs: string;
  readonly routerAddress: string;
  /** Router leg on the client bridge, with the clients' gateway address. */
  readonly clientBridge: string;
  readonly clientVethHost: string;
  readonly clientVethNs: string;
  readonly clientSubnet: string;
  readonly gateway: string;
}

export const ANYCAST_NEXTHOP_GROUP = 900;

/** The plan with an anycast tier: clients move behind the router on their own bridge. */
export function withAnycast(plan: LabPlan, clientOctet: number): LabPlan & { anycast: LabAnycast } {
  const n = (s: string) => `${LAB_PREFIX}${plan.tag}${s}`;
  const base = plan.subnet.split('.').slice(0, 3).join('.');
  const cbase = `198.18.${clientOctet}`;
  const anycast: LabAnycast = {
    address: `198.19.${clientOctet}.1`, routerNetns: n('ar'), routerVethHost: n('arh'), routerVethNs: n('arn'), routerAddress: `${base}.3`,
    clientBridge: n('acb'), clientVethHost: n('arch'), clientVethNs: n('arcn'), clientSubnet: `${cbase}.0/24`, gateway: `${cbase}.1`,
  };
  const clients = plan.clients.map((c, i): LabHost => ({ ...c, address: `${cbase}.${100 + i}`, bridge: anycast.clientBridge, gateway: anycast.gateway, listenPort: 40001 + i }));
  return { ...plan, clients, anycast };
}

/** Bird file names of a lab host (`<dir>/<name>.bird.*`). */
export function birdFiles(dir: string, name: string): { socket: string; include: string } {
  return { socket: join(dir, `${name}.bird.ctl`), include: join(dir, `${name}.announce.conf`) };
}

/** The mirror of table 200's anycast route into a resilient nexthop group (see the file comment). */
function mirrorScript(): string {
  return `#!/bin/bash
# wgfabric lab: mirror bird's ECMP route (table ${ROUTER_BIRD_TABLE}) into a resilient nexthop group.
ns=$1; prefix=$2; dev=$3; group=$4
sync() {
  hops=$(ip -n "$ns" -4 route show table ${ROUTER_BIRD_TABLE} "$prefix" | grep -o 'via [0-9.]*' | awk '{print $2}' | sort -u)
  if [ -z "$hops" ]; then ip -n "$ns" route del "$prefix" 2>/dev/null; return; fi
  ids=""
  for h in $hops; do id=$((1000 + \${h##*.})); ip -n "$ns" nexthop replace id $id via "$h" dev "$dev"; ids="$ids/$id"; done
  ids=\${ids#/}
  ip -n "$ns" nexthop replace id "$group" group "$ids" type resilient buckets 64 idle_timer 1 2>/dev/null \\
    || ip -n "$ns" nexthop add id "$group" group "$ids" type resilient buckets 64 idle_timer 1
  ip -n "$ns" route replace "$prefix" nhid "$group"
}
sync
ip -n "$ns" -4 monitor route | while read -r _; do sync; done
`;
}

export interface AnycastHooks {
  /** Starts a detached process recorded in the lab state; returns its pid. */
  readonly spawn: (what: string, args: string[], logFile: string, netns?: string) => number;
  readonly addNamespace: (netns: string) => Promise<void>;
  readonly addBridge: (name: string) => Promise<void>;
  readonly addLeg: (netns: string, host: string, inside: string, bridge: string, address: string) => Promise<void>;
}

/** The router namespace, its bird (sessions to every backend) and the nexthop mirror. */
export async function addAnycastRouter(plan: LabPlan & { anycast: LabAnycast }, dir: string, h: AnycastHooks): Promise<void> {
  const a = plan.anycast;
  await h.addBridge(a.clientBridge);
  await h.addNamespace(a.routerNetns);
  await h.addLeg(a.routerNetns, a.routerVethHost, a.routerVethNs, plan.bridge, `${a.routerAddress}/24`);
  await h.addLeg(a.routerNetns, a.clientVethHost, a.clientVethNs, a.clientBridge, `${a.gateway}/24`);
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: a.routerNetns });
  await run('sysctl', ['-q', '-w', 'net.ipv4.fib_multipath_hash_policy=1'], { netns: a.routerNetns });
  const conf = renderRouterConfig(a.routerAddress, plan.backends.map((b) => ({ name: b.name, address: b.address })));
  await startBird(a.routerNetns, dir, 'router', conf, h.spawn);
  startNexthopMirror(dir, a.routerNetns, `${a.address}/32`, a.routerVethNs, h.spawn);
}

/** Mirrors the router's bird route for `prefix` (table 200) into the resilient nexthop group (see the file comment). */
export function startNexthopMirror(dir: string, netns: string, prefix: string, dev: string, spawn: AnycastHooks['spawn']): void {
  const script = join(dir, 'anycast-mirror.sh');
  writeFileSync(script, mirrorScript(), { mode: 0o755 });
  spawn('anycast nexthop mirror', ['bash', script, netns, prefix, dev, String(ANYCAST_NEXTHOP_GROUP)], join(dir, 'anycast-mirror.log'));
}

/** A backend's share: the anycast address on lo, the route back to the clients, its bird. */
export async function addAnycastBackend(plan: LabPlan & { anycast: LabAnycast }, dir: string, b: LabHost, h: AnycastHooks): Promise<void> {
  const a = plan.anycast;
  await run('ip', ['addr', 'add', `${a.address}/32`, 'dev', 'lo'], { netns: b.netns });
  await run('ip', ['route', 'add', a.clientSubnet, 'via', a.routerAddress], { netns: b.netns });
  const f = birdFiles(dir, b.name);
  writeEmptyInclude(f.include, 'wgf_anycast');
  await startBird(b.netns, dir, b.name, renderSpeakerConfig(b.address, a.routerAddress, f.include, 'wgf_anycast'), h.spawn);
}

/** Extra `wgfabric agent` flags of a backend in an anycast lab. */
export function anycastAgentArgs(dir: string, b: LabHost): string[] {
  const f = birdFiles(dir, b.name);
  return ['--announce', 'bgp', '--bird-socket', f.socket, '--bird-include', f.include, '--bird-local-as', String(SPEAKER_AS),
    '--probe-key-file', join(dir, `${b.name}.probe.key`)];
}

/** The router's forwarding view of the anycast address: next-hop addresses in the resilient group (empty: no route). */
export async function anycastNextHops(plan: LabPlan & { anycast: LabAnycast }): Promise<string[]> {
  const r = await run('ip', ['-4', 'route', 'show', 'table', String(ROUTER_BIRD_TABLE), `${plan.anycast.address}/32`], { netns: plan.anycast.routerNetns, allowFailure: true });
  return [...r.stdout.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort();
}
