/**
 * The pure part of `wgfabric lab failover`: who serves which client (from each backend's
 * latest handshakes), which backend to kill, and what the measured failover amounts to (the
 * verdict and the summary lines). No I/O: failover.ts measures, this judges and formats.
 */

/** Per backend: client public key -> latest handshake (epoch seconds, 0 = never). */
export type Handshakes = ReadonlyMap<string, ReadonlyMap<string, number>>;

/** Each client's backend: the one holding its most recent handshake (null: none has one). */
export function ownersOf(handshakes: Handshakes, clientKeys: ReadonlyMap<string, string>): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const [client, key] of clientKeys) {
    let best: [string, number] | null = null;
    for (const [backend, m] of handshakes) {
      const t = m.get(key) ?? 0;
      if (t > 0 && (!best || t > best[1])) best = [backend, t];
    }
    out.set(client, best?.[0] ?? null);
  }
  return out;
}

/** The backend serving the most clients (the first in `backends` order on a tie); null when no client is served. */
export function pickVictim(backends: readonly string[], owners: ReadonlyMap<string, string | null>): string | null {
  let best: [string, number] | null = null;
  for (const b of backends) {
    const n = [...owners.values()].filter((o) => o === b).length;
    if (n > 0 && (!best || n > best[1])) best = [b, n];
  }
  return best?.[0] ?? null;
}

/** The clients the kill affects (served by `dead`) and the others, in client order. */
export function splitClients(clients: readonly string[], owners: ReadonlyMap<string, string | null>, dead: string): { affected: string[]; others: string[] } {
  return { affected: clients.filter((c) => owners.get(c) === dead), others: clients.filter((c) => owners.get(c) !== dead) };
}

/** What the failover measured (times in ms since the kill; null: did not happen within the limit). */
export interface FailoverResult {
  readonly killed: string;
  readonly limitMs: number;
  /** Per LB instance: when its /status showed the backend out of its table, and the reason it gave. */
  readonly lbOut: readonly { instance: string; ms: number | null; reason: string | null }[];
  /** The killed backend's clients: when each answered again, and on which backend. */
  readonly clients: readonly { client: string; ms: number | null; nowOn: string | null }[];
  /** The other clients' pings while it happened. */
  readonly others: readonly { client: string; sent: number; received: number }[];
  /** Time from restarting the killed backend until it was back in every LB table. */
  readonly backMs: number | null;
}

/** "+1.4s" (since the kill), or a note that it did not happen. */
export const secs = (ms: number | null): string => (ms === null ? 'not within the limit' : `+${(ms / 1000).toFixed(1)}s`);

/** Everything that should have happened and did not; empty = the failover worked. */
export function failoverProblems(r: FailoverResult): string[] {
  const p: string[] = [];
  const limit = `${Math.round(r.limitMs / 1000)}s`;
  if (r.clients.length === 0) p.push(`${r.killed} served no client: nothing was failed over`);
  for (const l of r.lbOut) if (l.ms === null) p.push(`LB ${l.instance} did not take ${r.killed} out of its table within ${limit}`);
  for (const c of r.clients) {
    if (c.ms === null) p.push(`${c.client} did not get through again within ${limit}`);
    else if (c.nowOn === r.killed) p.push(`${c.client} answered again but still on the killed ${r.killed}`);
    else if (c.nowOn === null) p.push(`${c.client} answered again but no backend shows its handshake`);
  }
  for (const o of r.others) if (o.sent > 0 && o.received === 0) p.push(`${o.client} (not on ${r.killed}) got no answer at all during the failover`);
  if (r.backMs === null) p.push(`${r.killed} was not back in every LB table within ${limit} of its restart`);
  return p;
}

const list = (xs: string[]): string => xs.join(', ');

/** The failover in a few lines, with its times (what demo.sh --check ends with). */
export function failoverSummary(r: FailoverResult): string[] {
  const problems = failoverProblems(r);
  const done = r.clients.filter((c) => c.ms !== null).map((c) => c.ms!);
  const o = r.others.reduce((a, x) => ({ sent: a.sent + x.sent, received: a.received + x.received }), { sent: 0, received: 0 });
  return [
    `failover ${problems.length === 0 ? 'OK' : 'FAILED'}: killed ${r.killed}`,
    `  out of the LB tables:   ${list(r.lbOut.map((l) => `${l.instance} ${secs(l.ms)}`))}`,
    `  its clients answering:  ${list(r.clients.map((c) => `${c.client} ${secs(c.ms)}${c.nowOn ? ` on ${c.nowOn}` : ''}`)) || 'none'}`
      + (done.length > 0 ? ` (slowest ${secs(Math.max(...done))})` : ''),
    `  the other clients:      ${o.received}/${o.sent} pings answered during the failover`,
    `  back in every table:    ${r.backMs === null ? 'no' : `${(r.backMs / 1000).toFixed(1)}s after its restart`}`,
    ...problems.map((x) => `  PROBLEM: ${x}`),
  ];
}
