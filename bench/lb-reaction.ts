/**
 * How fast an LB reacts to a drain and to a weight change, following its pool through the
 * change stream (the default) against the former 500 ms polling, in one run: two LB engines
 * (LbService with a recording nft applier and a fake prober, instances `bstream` and
 * `bpoll`) follow one pool of a real server (SQLite store, HTTP on localhost, same process) at
 * once, so every API call is measured on both. Reaction = the PATCH is sent -> that LB's
 * next table write (the delta that drains the node or moves its slots). Calls are spaced by a
 * random 0..600 ms so the poll's phase is uniform. Then both stay idle and the requests each
 * makes to the server are counted.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../src/client/api-client.js';
import { healthConfig } from '../src/lb/health.js';
import { LbService } from '../src/lb/service.js';
import type { FollowMode } from '../src/follow/source.js';
import { FakeConntrack } from '../src/lb/testing/fake-conntrack.js';
import { localPlane, reaction } from './local-plane.js';
import { stat } from './stats.js';

const ROUNDS = 12;
const IDLE_MS = 10_000;

/** One LB engine with a hook on its table writes and a count of its requests. */
function lb(base: string, token: string, follow: FollowMode) {
  const requests: { at: number; line: string }[] = [];
  let waiter: ((t: number) => void) | undefined;
  // The table write is timed when the controller hands the script to the data path (no nft
  // run: its cost is the same for both modes and is measured by `npm run bench -- lb`).
  const applier = {
    apply: async (_script: string) => {
      const w = waiter;
      waiter = undefined;
      w?.(performance.now());
    },
  };
  const api = new ApiClient({
    baseUrl: base, token, fetch: (input, init) => {
      requests.push({ at: performance.now(), line: `${init?.method ?? 'GET'} ${new URL(String(input)).pathname}` });
      return fetch(input, init);
    },
  });
  const svc = new LbService({
    api, pool: 'bench', vip: '198.18.1.2', port: 51820, instance: `b${follow}`, follow, health: healthConfig({ intervalMs: 200, timeoutMs: 300, fall: 2, rise: 3 }),
    applier, conntrack: new FakeConntrack(), readyMaxAgeMs: 600_000, flowsMs: 0, prober: async () => ({ ok: true, rttMs: 1 }),
  });
  return {
    svc, requests,
    /** Resolves with the time of the next table write. */
    nextWrite: () => new Promise<number>((resolve) => (waiter = resolve)),
  };
}

export async function benchLbReaction(out: (line: string) => void): Promise<void> {
  const { base, token, admin, close } = await localPlane('10.77.0.0/16');
  const lbs = { stream: lb(base, token, 'stream'), poll: lb(base, token, 'poll') };
  try {
    for (const l of Object.values(lbs)) await l.svc.start();
    const inTable = (l: ReturnType<typeof lb>) => l.svc.status().backends.filter((b) => b.inTable).length;
    while (Object.values(lbs).some((l) => inTable(l) < 3)) await sleep(20);
    await sleep(500);

    const times = { drain: { stream: [] as number[], poll: [] as number[] }, weight: { stream: [] as number[], poll: [] as number[] } };
    for (let i = 0; i < ROUNDS; i++) {
      for (const kind of ['drain', 'weight'] as const) {
        await sleep(Math.random() * 600);
        const writes = { stream: lbs.stream.nextWrite(), poll: lbs.poll.nextWrite() };
        const t0 = performance.now();
        const patch = kind === 'drain' ? { adminState: i % 2 === 0 ? 'draining' as const : 'active' as const } : { weight: i % 2 === 0 ? 3 : 1 };
        await admin.updateNode('bench', kind === 'drain' ? 'n1' : 'n2', patch);
        const [s, p] = await Promise.all([writes.stream, writes.poll]);
        times[kind].stream.push(s - t0);
        times[kind].poll.push(p - t0);
      }
    }
    for (const kind of ['drain', 'weight'] as const) {
      const ratio = stat(times[kind].stream).median / stat(times[kind].poll).median;
      out(`lb-reaction: ${kind === 'drain' ? 'drain/undrain' : 'weight change'} (API PATCH -> table write, ${ROUNDS} each): stream ${reaction(times[kind].stream)}; poll 500 ms ${reaction(times[kind].poll)}; stream/poll median = ${ratio.toFixed(3)}x`);
    }

    await sleep(1000);
    const from = performance.now();
    await sleep(IDLE_MS);
    for (const [mode, l] of Object.entries(lbs)) {
      const idle = l.requests.filter((r) => r.at >= from && r.at < from + IDLE_MS);
      const reads = idle.filter((r) => r.line.startsWith('GET')).length;
      out(`lb-reaction: idle ${mode}: ${(idle.length / (IDLE_MS / 1000)).toFixed(2)} requests/s to the server (${(reads / (IDLE_MS / 1000)).toFixed(2)}/s reads, the rest status-report heartbeats) over ${IDLE_MS / 1000} s`);
    }
  } finally {
    for (const l of Object.values(lbs)) await l.svc.stop();
    await close();
  }
}
