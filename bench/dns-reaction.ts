/**
 * How fast `dns run` (DnsUpdater) reacts to a node's agent reporting not ready / ready again
 * and to a drain, following its pool through the change and readiness streams (the default)
 * against the former 500 ms polling (`--follow poll`), in one run: two updaters (probes off,
 * each with its own in-memory zone that records every RFC 2136 update) follow one pool of a
 * real server (SQLite store, HTTP on localhost, same process) at once. Reaction = the API call
 * (agent status PUT or node PATCH) is sent -> that updater's next zone update. Calls are
 * spaced by a random 0..600 ms so the poll's phase is uniform.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DnsAnnouncer } from '../src/announce/dns.js';
import { ApiClient } from '../src/client/api-client.js';
import type { RecordSet, UpdatePlan } from '../src/dns/plan.js';
import { DnsUpdater } from '../src/dns/updater.js';
import type { FollowMode } from '../src/follow/source.js';
import { healthConfig } from '../src/lb/health.js';
import { agentReport, localPlane, reaction } from './local-plane.js';
import { stat } from './stats.js';

const ROUNDS = 12;

/** One updater with its own zone; nextUpdate() resolves at its next zone update. */
function updater(base: string, token: string, follow: FollowMode) {
  const addresses = new Set<string>();
  let waiter: ((t: number) => void) | undefined;
  const zone = {
    records: async (): Promise<RecordSet> => ({ addresses: [...addresses].sort(), ttl: addresses.size ? 10 : null }),
    update: async (_z: string, _n: string, plan: UpdatePlan): Promise<void> => {
      for (const a of plan.remove) addresses.delete(a);
      for (const a of plan.add) addresses.add(a);
      const w = waiter;
      waiter = undefined;
      w?.(performance.now());
    },
  };
  const u = new DnsUpdater({
    api: new ApiClient({ baseUrl: base, token }), announcer: new DnsAnnouncer({ client: zone, zone: 'bench.test', name: 'vpn.bench.test', ttl: 10 }),
    pool: 'bench', source: 'nodes', probe: false, instance: `b${follow}`, health: healthConfig({ intervalMs: 200, timeoutMs: 300, fall: 2, rise: 1 }),
    readyMaxAgeMs: 600_000, follow, pollMs: 500, resyncMs: 3_600_000,
  });
  return { u, addresses, nextUpdate: () => new Promise<number>((resolve) => (waiter = resolve)) };
}

export async function benchDnsReaction(out: (line: string) => void): Promise<void> {
  const { base, token, admin, close } = await localPlane('10.78.0.0/16');
  const ups = { stream: updater(base, token, 'stream'), poll: updater(base, token, 'poll') };
  try {
    for (const x of Object.values(ups)) await x.u.start();
    while (Object.values(ups).some((x) => x.addresses.size < 3)) await sleep(20);
    await sleep(500);

    const times = { ready: { stream: [] as number[], poll: [] as number[] }, drain: { stream: [] as number[], poll: [] as number[] } };
    for (let i = 0; i < ROUNDS; i++) {
      for (const kind of ['ready', 'drain'] as const) {
        await sleep(Math.random() * 600);
        const next = { stream: ups.stream.nextUpdate(), poll: ups.poll.nextUpdate() };
        const t0 = performance.now();
        if (kind === 'ready') await admin.putNodeStatus('bench', 'n1', agentReport(i % 2 === 1));
        else await admin.updateNode('bench', 'n2', { adminState: i % 2 === 0 ? 'draining' : 'active' });
        const [s, p] = await Promise.all([next.stream, next.poll]);
        times[kind].stream.push(s - t0);
        times[kind].poll.push(p - t0);
      }
    }
    let met = true;
    for (const kind of ['ready', 'drain'] as const) {
      const ratio = stat(times[kind].stream).median / stat(times[kind].poll).median;
      if (!(ratio < 1)) met = false;
      out(`dns-reaction: ${kind === 'ready' ? 'agent not ready/ready' : 'drain/undrain'} (API call -> zone update, ${ROUNDS} each): stream ${reaction(times[kind].stream)}; poll 500 ms ${reaction(times[kind].poll)}; stream/poll median = ${ratio.toFixed(3)}x`);
    }
    out(`dns-reaction: target (the streaming updater reacts faster than the 500 ms poll, median, both kinds): ${met ? 'met' : 'NOT met'}`);
  } finally {
    for (const x of Object.values(ups)) await x.u.stop();
    await close();
  }
}
