import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Registry } from 'prom-client';
import type { Agent, LogFn } from '../agent/agent.js';
import { AgentAnnounce } from '../agent/announce.js';
import { registerAnnounceMetrics } from '../announce/metrics.js';
import type { BirdWatchdog } from '../announce/watchdog.js';
import { FabricError } from '../protocol/errors.js';
import { parseKey } from '../wg/keys.js';
import { bgpSpeakerOptions, setUpBirdSpeaker, type BgpSpeakerFlags } from './announce-bgp.js';

export interface AgentAnnounceFlags extends BgpSpeakerFlags {
  probeKeyFile?: string;
}

/** The `--announce` flags of `wgfabric agent`. */
export function announceOptions(cmd: Command): Command {
  return bgpSpeakerOptions(cmd, "the pool's anycast addresses (pool --anycast)")
    .option('--probe-key-file <file>', 'private key of this agent\'s probe peer (agentprobe-<node> in the pool): the self-probe on the anycast address');
}

/** Builds the announcement side when --announce bgp; null for none. Throws WGF_ERR_VALIDATION naming the missing flag. */
export async function setUpAnnounce(f: AgentAnnounceFlags, agent: () => Agent, log: LogFn): Promise<{ announce: AgentAnnounce; watchdog: BirdWatchdog } | null> {
  if (f.announce === 'bgp' && !f.probeKeyFile) throw new FabricError('WGF_ERR_VALIDATION', '--announce bgp needs --probe-key-file', { field: 'probe-key-file' });
  let probeKey;
  if (f.announce === 'bgp') {
    try {
      probeKey = parseKey(readFileSync(f.probeKeyFile!, 'utf8').trim(), '--probe-key-file');
    } catch (e) {
      throw new FabricError('WGF_ERR_VALIDATION', `--probe-key-file ${f.probeKeyFile}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  let announce: AgentAnnounce | null = null;
  const speaker = await setUpBirdSpeaker(f, [], () => announce?.watchdogFired());
  if (!speaker) return null;
  announce = new AgentAnnounce({ agent: agent(), announcer: speaker.announcer, probeKey: probeKey!, intervalMs: Math.max(20, f.announceInterval), onBeat: () => speaker.watchdog.beat(), log });
  return { announce, watchdog: speaker.watchdog };
}

export function announceMetrics(registry: Registry, a: AgentAnnounce | undefined): void {
  if (a) registerAnnounceMetrics(registry, a);
}
