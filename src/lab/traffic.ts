import { run } from '../sys/exec.js';

export interface PingResult {
  readonly sent: number;
  readonly received: number;
  readonly avgMs: number | null;
}

/**
 * Pings `target` from inside a namespace; never throws for lost packets. Each of the `count`
 * judged echoes gets at least `waitS` for its reply: ping's own -W covers only a ping that got
 * no reply at all (iputils waits max(2 x RTT, interval) after its last packet otherwise), so
 * enough untimed tail packets follow the judged ones, and only replies to the judged sequence
 * numbers count.
 */
export async function ping(netns: string, target: string, count = 3, intervalS = 0.2, waitS = 1): Promise<PingResult> {
  const tail = Math.min(100, Math.ceil(waitS / intervalS));
  const total = count + tail;
  const { stdout } = await run('ping', ['-n', '-c', String(total), '-i', String(intervalS), '-W', String(waitS), target], {
    netns, allowFailure: true, timeoutMs: (total * intervalS + waitS + 5) * 1000,
  });
  return pingResult(stdout, count);
}

/** The replies to sequence numbers 1..count in ping's output (duplicates counted once). Pure. */
export function pingResult(stdout: string, count: number): PingResult {
  const times = new Map<number, number>();
  for (const m of stdout.matchAll(/icmp_seq=(\d+)\b[^\n]*?time=([\d.]+) ms/g)) {
    const seq = Number(m[1]);
    if (seq >= 1 && seq <= count && !times.has(seq)) times.set(seq, Number(m[2]));
  }
  const rtts = [...times.values()];
  // Rounded to microseconds, as ping prints it.
  return { sent: count, received: times.size, avgMs: rtts.length ? Math.round((rtts.reduce((a, b) => a + b, 0) / rtts.length) * 1000) / 1000 : null };
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
