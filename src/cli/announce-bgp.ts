/**
 * The BGP speaker flags and set-up every announcing role shares (`agent --announce bgp`,
 * `lb run --announce bgp`): bird's control socket, the include the process owns, the protocol
 * prefix and local AS, the check interval, and the dead-process watchdog beside it.
 */
import type { Command } from 'commander';
import { BirdAnnouncer } from '../announce/bird.js';
import { BirdWatchdog } from '../announce/watchdog.js';
import { FabricError } from '../protocol/errors.js';
import { positiveInt } from './context.js';

export interface BgpSpeakerFlags {
  announce: string; birdSocket?: string; birdInclude?: string; birdProtocolPrefix: string; birdLocalAs?: number;
  announceInterval: number; watchdogTimeout: number;
}

/** Adds --announce and the bird flags; `what` says what is announced (help text). */
export function bgpSpeakerOptions(cmd: Command, what: string): Command {
  return cmd
    .option('--announce <none|bgp>', `announce ${what} over BGP while this process serves it`, 'none')
    .option('--bird-socket <path>', "bird's control socket (bird -s PATH), with --announce bgp")
    .option('--bird-include <file>', 'the include file this process owns; bird.conf includes it and exports filter <prefix>_export')
    .option('--bird-protocol-prefix <name>', 'names of the static protocols (<prefix>4, <prefix>6) and export filter in the include', 'wgf_anycast')
    .option('--bird-local-as <asn>', 'local AS, for AS-path prepends', positiveInt('--bird-local-as'))
    .option('--announce-interval <ms>', 'milliseconds between announcement checks', positiveInt('--announce-interval'), 200)
    .option('--watchdog-timeout <ms>', 'the watchdog withdraws when this process has not checked for this long (or died)', positiveInt('--watchdog-timeout'), 1500);
}

/**
 * The bird announcer (started withdrawn: init) and its watchdog when --announce bgp; null for
 * none. `extra` names further flags the role needs. Throws WGF_ERR_VALIDATION naming the
 * missing or bad flag. `onWatchdogFired` tells the role's loop to re-assert its state.
 */
export async function setUpBirdSpeaker(f: BgpSpeakerFlags, extra: readonly (readonly [string, unknown])[], onWatchdogFired: () => void, role: 'agent' | 'lb' = 'agent'): Promise<{ announcer: BirdAnnouncer; watchdog: BirdWatchdog } | null> {
  if (f.announce === 'none') return null;
  if (f.announce !== 'bgp') throw new FabricError('WGF_ERR_VALIDATION', `--announce must be none or bgp, got "${f.announce}"`, { field: 'announce' });
  for (const [flag, v] of [['--bird-socket', f.birdSocket], ['--bird-include', f.birdInclude], ...extra] as const) {
    if (!v) throw new FabricError('WGF_ERR_VALIDATION', `--announce bgp needs ${flag}`, { field: flag.slice(2) });
  }
  const announcer = new BirdAnnouncer({ socket: f.birdSocket!, includeFile: f.birdInclude!, prefix: f.birdProtocolPrefix, localAs: f.birdLocalAs ?? null });
  await announcer.init();
  const watchdog = new BirdWatchdog(f.birdSocket!, [`${announcer.prefix}4`, `${announcer.prefix}6`], Math.max(0.2, f.watchdogTimeout / 1000), onWatchdogFired, role);
  return { announcer, watchdog };
}
