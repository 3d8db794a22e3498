/**
 * bird2 in lab namespaces: the configs of the anycast router and of a speaker (backend or LB
 * instance), starting one bird with its own control socket and pid file (the control socket is
 * not per namespace), and reading the router's view back. Config renderers are pure.
 */
import { spawn } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FabricError } from '../protocol/errors.js';
import { run } from '../sys/exec.js';
import { NO_ATTRIBUTES } from '../announce/announcer.js';
import { renderBirdInclude } from '../announce/bird-config.js';

export const ROUTER_AS = 65000;
export const SPEAKER_AS = 65001;
/** The kernel table the router's bird writes its merged (ECMP) routes to; see anycast.ts for why not main. */
export const ROUTER_BIRD_TABLE = 200;
/** BFD timers of every lab session: 3 x 50 ms, so a dead speaker is noticed in about 150 ms. */
const BFD = 'protocol bfd { interface "*" { min rx interval 50 ms; min tx interval 50 ms; multiplier 3; }; }';

export interface BirdNeighbor {
  readonly name: string;
  readonly address: string;
}

/**
 * The router: one BGP session with BFD per neighbour, routes from all of them merged into one
 * multipath route (ECMP), and a receive policy for RFC 8326: a route carrying GRACEFUL_SHUTDOWN
 * gets local-pref 0, so it is used only when nothing else is left.
 */
export function renderRouterConfig(routerId: string, neighbors: readonly BirdNeighbor[], v6Neighbors: readonly BirdNeighbor[] = []): string {
  const sess = (n: BirdNeighbor, fam: 4 | 6) => `protocol bgp ${n.name.replace(/[^A-Za-z0-9]/g, '_')}${fam === 6 ? '_v6' : ''} from speaker${fam} { neighbor ${n.address} as ${SPEAKER_AS}; }`;
  return [
    `router id ${routerId};`, 'protocol device {}', BFD,
    `protocol kernel { kernel table ${ROUTER_BIRD_TABLE}; ipv4 { import none; export all; }; merge paths on; }`,
    `protocol kernel { kernel table ${ROUTER_BIRD_TABLE}; ipv6 { import none; export all; }; merge paths on; }`,
    'filter gshut_in { if (65535,0) ~ bgp_community then bgp_local_pref = 0; accept; }',
    `template bgp speaker4 { local as ${ROUTER_AS}; bfd on; ipv4 { import filter gshut_in; export none; }; }`,
    `template bgp speaker6 { local as ${ROUTER_AS}; bfd on; ipv6 { import filter gshut_in; export none; }; }`,
    ...neighbors.map((n) => sess(n, 4)), ...v6Neighbors.map((n) => sess(n, 6)), '',
  ].join('\n');
}

/** A speaker: one session (with BFD) to the router exporting only the announcer's routes (its include). */
export function renderSpeakerConfig(routerId: string, router: string, includeFile: string, prefix: string, routerV6?: string): string {
  return [
    `router id ${routerId};`, 'protocol device {}', BFD, `include "${includeFile}";`,
    `protocol bgp upstream { neighbor ${router} as ${ROUTER_AS}; local as ${SPEAKER_AS}; bfd on; ipv4 { import none; export filter ${prefix}_export; }; }`,
    ...(routerV6 ? [`protocol bgp upstream_v6 { neighbor ${routerV6} as ${ROUTER_AS}; local as ${SPEAKER_AS}; bfd on; ipv6 { import none; export filter ${prefix}_export; }; }`] : []),
    '',
  ].join('\n');
}

/** A withdrawn include, so a speaker's bird starts before its announcer has written one. */
export function writeEmptyInclude(file: string, prefix: string): void {
  writeFileSync(file, renderBirdInclude({ prefix, localAs: SPEAKER_AS, addresses: [], attributes: NO_ATTRIBUTES, enabled: false }), { mode: 0o644 });
}

export interface BirdProcess {
  readonly pid: number;
  readonly socket: string;
  readonly config: string;
}

/**
 * Starts bird in the foreground (-f) inside `netns` with config `<dir>/<name>.bird.conf`, socket
 * `<dir>/<name>.bird.ctl` and pid file `<dir>/<name>.bird.pid`; resolves once its socket answers.
 */
export async function startBird(
  netns: string, dir: string, name: string, config: string,
  spawnRecorded?: (what: string, args: string[], logFile: string, netns?: string) => number,
): Promise<BirdProcess> {
  const conf = join(dir, `${name}.bird.conf`);
  const socket = join(dir, `${name}.bird.ctl`);
  writeFileSync(conf, config, { mode: 0o644 });
  await run('bird', ['-p', '-c', conf], { errorCode: 'WGF_ERR_VALIDATION' }); // parse only: a config error is reported here, not as a dead daemon
  const args = ['bird', '-f', '-c', conf, '-s', socket, '-P', join(dir, `${name}.bird.pid`)];
  let pid: number;
  if (spawnRecorded) {
    pid = spawnRecorded(`bird ${name}`, args, join(dir, `${name}.bird.log`), netns);
  } else {
    const out = openSync(join(dir, `${name}.bird.log`), 'a');
    const child = spawn('ip', ['netns', 'exec', netns, ...args], { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    pid = child.pid!;
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await run('birdc', ['-s', socket, 'show', 'status'], { allowFailure: true });
    if (r.code === 0 && r.stdout.includes('Daemon is up')) break;
    if (Date.now() > deadline) throw new FabricError('WGF_ERR_UNAVAILABLE', `bird ${name} did not come up (see ${dir}/${name}.bird.log)`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return { pid, socket, config: conf };
}

/** One route of the router's table as `birdc show route all` prints it. */
export interface RouterRoute {
  readonly prefix: string;
  /** BGP protocol (session) it came from. */
  readonly from: string;
  readonly nextHop: string;
  readonly primary: boolean;
  readonly communities: readonly string[];
  readonly asPath: string;
}

/** Parses `birdc show route all` output (pure). */
export function parseShowRouteAll(text: string): RouterRoute[] {
  const out: RouterRoute[] = [];
  let prefix = '';
  let cur: { prefix: string; from: string; nextHop: string; primary: boolean; communities: string[]; asPath: string } | null = null;
  for (const line of text.split('\n')) {
    const head = /^(\S+\/\d+)?\s+unicast \[(\S+) [^\]]*\]( \*)?/.exec(line);
    if (head) {
      if (cur) out.push(cur);
      if (head[1]) prefix = head[1];
      cur = { prefix, from: head[2]!, nextHop: '', primary: head[3] !== undefined, communities: [], asPath: '' };
      continue;
    }
    if (!cur) continue;
    const via = /^\s+via (\S+)/.exec(line);
    if (via && !cur.nextHop) cur.nextHop = via[1]!;
    const comm = /^\s+BGP\.community: (.*)$/.exec(line);
    if (comm) cur.communities = [...comm[1]!.matchAll(/\((\d+),(\d+)\)/g)].map((m) => `${m[1]}:${m[2]}`);
    const path = /^\s+BGP\.as_path: (.*)$/.exec(line);
    if (path) cur.asPath = path[1]!.trim();
  }
  if (cur) out.push(cur);
  return out;
}

/** The router's BGP routes (birdc show route all), raw text and parsed. */
export async function routerRoutes(socket: string): Promise<{ text: string; routes: RouterRoute[] }> {
  const { stdout } = await run('birdc', ['-s', socket, 'show', 'route', 'all']);
  return { text: stdout, routes: parseShowRouteAll(stdout) };
}
