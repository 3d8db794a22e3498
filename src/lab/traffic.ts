import { run } from '../sys/exec.js';

export interface PingResult {
  readonly sent: number;
  readonly received: number;
  readonly avgMs: number | null;
}

/** Pings `target` from inside a namespace; never throws for lost packets. */
export async function ping(netns: string, target: string, count = 3, intervalS = 0.2, waitS = 1): Promise<PingResult> {
  const { stdout } = await run('ping', ['-n', '-q', '-c', String(count), '-i', String(intervalS), '-W', String(waitS), target], { netns, allowFailure: true, timeoutMs: (count * intervalS + waitS + 5) * 1000 });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  const avg = /= [\d.]+\/([\d.]+)\//.exec(stdout);
  return { sent: m ? Number(m[1]) : count, received: m ? Number(m[2]) : 0, avgMs: avg ? Number(avg[1]) : null };
}

/** Latest handshake per peer of a device, from `wg show IFACE latest-handshakes` (unix seconds, 0 = never). */
export async function latestHandshakes(netns: string, iface: string): Promise<Map<string, number>> {
  const { stdout } = await run('wg', ['show', iface, 'latest-handshakes'], { netns, allowFailure: true });
  const out = new Map<string, number>();
  for (const line of stdout.trim().split('\n')) {
    const [k, t] = line.split('\t');
    if (k && t) out.set(k, Number(t));
  }
  return out;
}

/** Endpoint per peer of a device, from `wg show IFACE endpoints` ("addr:port", or null for "(none)"). */
export async function peerEndpoints(netns: string, iface: string): Promise<Map<string, string | null>> {
  const { stdout } = await run('wg', ['show', iface, 'endpoints'], { netns, allowFailure: true });
  const out = new Map<string, string | null>();
  for (const line of stdout.trim().split('\n')) {
    const [k, e] = line.split('\t');
    if (k && e) out.set(k, e === '(none)' ? null : e);
  }
  return out;
}
