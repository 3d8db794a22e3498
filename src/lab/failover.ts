/**
 * `wgfabric lab failover`: the demo's live failover on a lab with load balancers. Shows which
 * backend serves each client (by the latest WireGuard handshake), kills the wireguard-go of the
 * backend with the most clients, and prints as they happen, with times since the kill: every LB
 * instance taking it out of its table, and each of its clients getting through again on another
 * backend. Then starts the killed backend again and waits until it is back in every table.
 */
import { run } from '../sys/exec.js';
import type { LabHost } from './plan.js';
import { lbStatus, openLab, startWireguardGo } from './lab.js';
import type { LabState } from './state.js';
import { latestHandshakes, ping } from './traffic.js';

type OpenLab = ReturnType<typeof openLab>;

/** What the failover measured (times in ms since the kill). */
export interface FailoverResult {
  readonly killed: string;
  /** Per LB instance: when its /status showed the backend out, and the reason. */
  readonly lbOut: { instance: string; ms: number | null; reason: string | null }[];
  /** The killed backend's clients: when they got through again and where. */
  readonly clients: { client: string; ms: number | null; nowOn: string | null }[];
  /** The other clients' pings during the failover. */
  readonly others: { sent: number; received: number };
  /** Every client through again and every LB took the backend out. */
  readonly ok: boolean;
}

async function publicKeyOf(h: LabHost): Promise<string> {
  return (await run('wg', ['show', h.wgIface, 'public-key'], { netns: h.netns })).stdout.trim();
}

/** The backend holding each client's most recent handshake. */
async function owners(lab: OpenLab, keys: Map<string, string>): Promise<Map<string, string | null>> {
  const hs = new Map<string, Map<string, number>>();
  for (const b of lab.plan.backends) hs.set(b.name, await latestHandshakes(b.netns, b.wgIface).catch(() => new Map<string, number>()));
  const out = new Map<string, string | null>();
  for (const c of lab.plan.clients) {
    let best: [string, number] | null = null;
    for (const [b, m] of hs) {
      const t = m.get(keys.get(c.name)!) ?? 0;
      if (t > 0 && (!best || t > best[1])) best = [b, t];
    }
    out.set(c.name, best?.[0] ?? null);
  }
  return out;
}

const secs = (ms: number | null): string => (ms === null ? 'not within the limit' : `+${(ms / 1000).toFixed(1)}s`);

/** Runs the failover on an open lab with --lb; `print` gets each line as it happens. */
export async function labFailover(state: LabState, print: (line: string) => void, limitMs = 120_000): Promise<FailoverResult> {
  const lab = openLab(state);
  const instances = lab.plan.lb?.instances ?? [];
  if (instances.length === 0) throw new Error('this lab has no load balancer (lab up --lb or --lb-instances 2)');
  const target = lab.plan.pool.serverTunnelIp;
  const keys = new Map<string, string>();
  for (const c of lab.plan.clients) keys.set(c.name, await publicKeyOf(c));
  // Traffic first, so every client has a session, then who serves whom.
  const warm = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, target, 3, 0.2, 2)));
  const own = await owners(lab, keys);
  print('traffic through the VIP (client -> backend by its latest handshake, 3 pings):');
  lab.plan.clients.forEach((c, i) => print(`  ${c.name.padEnd(10)} -> ${(own.get(c.name) ?? '?').padEnd(10)} ${warm[i]!.received}/${warm[i]!.sent} answered${warm[i]!.avgMs === null ? '' : `, ${warm[i]!.avgMs.toFixed(2)} ms`}`));
  const count = (b: string) => lab.plan.clients.filter((c) => own.get(c.name) === b).length;
  const dead = lab.plan.backends.slice().sort((a, b) => count(b.name) - count(a.name))[0]!;
  const orphans = lab.plan.clients.filter((c) => own.get(c.name) === dead.name);
  const others = lab.plan.clients.filter((c) => own.get(c.name) !== dead.name);

  const pid = [...state.pids].reverse().find((p) => p.what === `wireguard-go ${dead.name}`)?.pid;
  if (pid === undefined) throw new Error(`no wireguard-go process of ${dead.name} in the lab state`);
  const othersPing = Promise.all(others.map((c) => ping(c.netns, target, 40, 0.25, 2)));
  await new Promise((r) => setTimeout(r, 1000));
  print(`\nkilling ${dead.name}'s wireguard-go (pid ${pid}); its clients: ${orphans.map((c) => c.name).join(', ') || 'none'}`);
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');

  const lbOut = instances.map((i) => ({ instance: i.instance, ms: null as number | null, reason: null as string | null }));
  const watchLbs = (async () => {
    while (Date.now() - t0 < limitMs && lbOut.some((l) => l.ms === null)) {
      for (const [k, l] of lbOut.entries()) {
        if (l.ms !== null) continue;
        const b = (await lbStatus(lab, k))?.backends.find((x) => x.name === dead.name);
        if (b && !b.inTable) {
          l.ms = Date.now() - t0;
          l.reason = b.reason;
          print(`  ${secs(l.ms)}  ${l.instance} took ${dead.name} out of its table (${b.reason})`);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const clients = await Promise.all(orphans.map(async (c) => {
    while (Date.now() - t0 < limitMs) {
      if ((await ping(c.netns, target, 1, 0.2, 1)).received > 0) {
        const ms = Date.now() - t0;
        const nowOn = (await owners(lab, keys)).get(c.name) ?? null;
        print(`  ${secs(ms)}  ${c.name} gets through again, now on ${nowOn ?? '?'}`);
        return { client: c.name, ms, nowOn };
      }
    }
    print(`  ${c.name} did not get through again within ${limitMs / 1000}s`);
    return { client: c.name, ms: null, nowOn: null };
  }));
  await watchLbs;
  const o = (await othersPing).reduce((a, r) => ({ sent: a.sent + r.sent, received: a.received + r.received }), { sent: 0, received: 0 });
  print(`  the other ${others.length} clients during the failover: ${o.received}/${o.sent} pings answered`);

  print(`\nstarting ${dead.name}'s wireguard-go again (its agent configures the fresh device)`);
  const t1 = Date.now();
  await startWireguardGo(state, dead);
  let back: number | null = null;
  while (Date.now() - t1 < limitMs) {
    const all = await Promise.all(instances.map((_, k) => lbStatus(lab, k)));
    if (all.every((s) => s?.backends.find((x) => x.name === dead.name)?.inTable)) {
      back = Date.now() - t1;
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  print(`  ${dead.name} ${back === null ? 'is not back in every table yet' : `back in every LB table after ${(back / 1000).toFixed(1)}s`}`);
  const ok = lbOut.every((l) => l.ms !== null) && clients.every((c) => c.ms !== null && c.nowOn !== dead.name) && back !== null;
  return { killed: dead.name, lbOut, clients, others: o, ok };
}
