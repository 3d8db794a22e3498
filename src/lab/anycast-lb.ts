/**
 * `lab up --anycast --lb` (`--announce bgp`): the LB tier's router runs bird2 instead of static
 * ECMP routes (or keepalived): a BGP session with BFD to every LB instance, which announces the
 * VIP with `lb run --announce bgp` through its own bird while it serves it. The router merges
 * the announcements into one multipath route, mirrored into a resilient nexthop group as in the
 * anycast lab (anycast.ts), so an instance that goes away moves only its own flows, and Maglev
 * keeps each moved flow's backend.
 */
import { run } from '../sys/exec.js';
import { birdFiles, startNexthopMirror, type AnycastHooks } from './anycast.js';
import { renderRouterConfig, renderSpeakerConfig, ROUTER_BIRD_TABLE, SPEAKER_AS, startBird, writeEmptyInclude } from './bird.js';
import type { LabLb, LabLbTier } from './plan.js';

/** The router's bird (sessions to every LB's front address) and the nexthop mirror of the VIP. */
export async function addLbBgpRouter(tier: LabLbTier, dir: string, spawn: AnycastHooks['spawn']): Promise<void> {
  const r = tier.router!;
  await startBird(r.netns, dir, 'router', renderRouterConfig(r.transitAddress, tier.instances.map((lb) => ({ name: lb.name, address: lb.frontAddress }))), spawn);
  startNexthopMirror(dir, r.netns, `${tier.vip}/32`, r.transitVethNs, spawn);
}

/** An LB instance's bird: one session (BFD) to the router, exporting only its announcer's include. */
export async function addLbSpeaker(tier: LabLbTier, dir: string, lb: LabLb, spawn: AnycastHooks['spawn']): Promise<void> {
  const f = birdFiles(dir, lb.name);
  writeEmptyInclude(f.include, 'wgf_anycast');
  await startBird(lb.netns, dir, lb.name, renderSpeakerConfig(lb.frontAddress, tier.router!.transitAddress, f.include, 'wgf_anycast'), spawn);
}

/** Extra `lb run` flags of an LB instance that announces its VIP. */
export function lbAnnounceArgs(dir: string, lb: LabLb): string[] {
  const f = birdFiles(dir, lb.name);
  return ['--announce', 'bgp', '--bird-socket', f.socket, '--bird-include', f.include, '--bird-local-as', String(SPEAKER_AS)];
}

/** The router's view of the VIP: next-hop addresses of bird's merged route (empty: no route). */
export async function vipNextHops(tier: LabLbTier): Promise<string[]> {
  const r = await run('ip', ['-4', 'route', 'show', 'table', String(ROUTER_BIRD_TABLE), `${tier.vip}/32`], { netns: tier.router!.netns, allowFailure: true });
  return [...r.stdout.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort();
}

/** The LB instance names behind next-hop addresses. */
export function lbNamesOf(tier: LabLbTier, hops: readonly string[]): string[] {
  return hops.map((h) => tier.instances.find((i) => i.frontAddress === h)?.name ?? h);
}

