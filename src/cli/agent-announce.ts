import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Registry } from 'prom-client';
import type { Agent, LogFn } from '../agent/agent.js';
import { AgentAnnounce } from '../agent/announce.js';
import { registerAnnounceMetrics } from '../agent/announce-metrics.js';
import { BirdAnnouncer } from '../announce/bird.js';
import { BirdWatchdog } from '../announce/watchdog.js';
import { FabricError } from '../protocol/errors.js';
import { parseKey } from '../wg/keys.js';
import { positiveInt } from './context.js';

export interface AgentAnnounceFlags {
  announce: string; birdSocket?: string; birdInclude?: string; birdProtocolPrefix: string; birdLocalAs?: number;
  probeKeyFile?: string; announceInterval: number; watchdogTimeout: number;
}

/** The `--announce` flags of `wgfabric agent`. */
export function announceOptions(cmd: Command): Command {
  return cmd
    .option('--announce <none|bgp>', "announce the pool's anycast addresses (pool --anycast) while this node serves it", 'none')
    .option('--bird-socket <path>', "bird's control socket (bird -s PATH), with --announce bgp")
    .option('--bird-include <file>', 'the include file the agent owns; bird.conf includes it and exports filter <prefix>_export')
    .option('--bird-protocol-prefix <name>', 'names of the static protocols (<prefix>4, <prefix>6) and export filter in the include', 'wgf_anycast')
    .option('--bird-local-as <asn>', 'local AS, for AS-path prepends (pool --anycast-prepend)', positiveInt('--bird-local-as'))
    .option('--probe-key-file <file>', 'private key of this agent\'s probe peer (agentprobe-<node> in the pool): the self-probe on the anycast address')
    .option('--announce-interval <ms>', 'milliseconds between announcement checks (probe + decision)', positiveInt('--announce-interval'), 200)
    .option('--watchdog-timeout <ms>', 'the watchdog withdraws when the agent has not checked for this long (or died)', positiveInt('--watchdog-timeout'), 1500);
}

/** Builds the announcement side when --announce bgp; null for none. Throws WGF_ERR_VALIDATION naming the missing flag. */
export async function setUpAnnounce(f: AgentAnnounceFlags, agent: () => Agent, log: LogFn): Promise<{ announce: AgentAnnounce; watchdog: BirdWatchdog } | null> {
  if (f.announce === 'none') return null;
  if (f.announce !== 'bgp') throw new FabricError('WGF_ERR_VALIDATION', `--announce must be none or bgp, got "${f.announce}"`);
  for (const [flag, v] of [['--bird-socket', f.birdSocket], ['--bird-include', f.birdInclude], ['--probe-key-file', f.probeKeyFile]] as const) {
    if (!v) throw new FabricError('WGF_ERR_VALIDATION', `--announce bgp needs ${flag}`);
  }
  let probeKey;
  try {
    probeKey = parseKey(readFileSync(f.probeKeyFile!, 'utf8').trim(), '--probe-key-file');
  } catch (e) {
    throw new FabricError('WGF_ERR_VALIDATION', `--probe-key-file ${f.probeKeyFile}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const announcer = new BirdAnnouncer({ socket: f.birdSocket!, includeFile: f.birdInclude!, prefix: f.birdProtocolPrefix, localAs: f.birdLocalAs ?? null });
  await announcer.init();
  let announce: AgentAnnounce | null = null;
  const watchdog = new BirdWatchdog(f.birdSocket!, [`${announcer.prefix}4`, `${announcer.prefix}6`], Math.max(0.2, f.watchdogTimeout / 1000), () => announce?.watchdogFired());
  announce = new AgentAnnounce({ agent: agent(), announcer, probeKey, intervalMs: Math.max(20, f.announceInterval), onBeat: () => watchdog.beat(), log });
  return { announce, watchdog };
}

export function announceMetrics(registry: Registry, a: AgentAnnounce | undefined): void {
  if (a) registerAnnounceMetrics(registry, a);
}
