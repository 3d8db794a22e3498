/**
 * `wgfabric lab failover`: the demo's live failover on a lab with load balancers. Shows which
 * backend serves each client (by the latest WireGuard handshake), kills the wireguard-go of the
 * backend with the most clients, and prints as they happen, with times since the kill: every LB
 * instance taking it out of its table, and each of its clients getting through again on another
 * backend. Then starts the killed backend again and waits until it is back in every table.
 * The judging and formatting is in failover-core.ts (pure, unit-tested).
 */
import { run } from '../sys/exec.js';
import type { LabHost } from './plan.js';
import { lbStatus, openLab, startWireguardGo } from './lab.js';
import type { LabState } from './state.js';
import { latestHandshakes, ping } from './traffic.js';
import { FabricError } from '../protocol/errors.js';
import { ownersOf, pickVictim, secs, splitClients, type FailoverResult } from './failover-core.js';

export type { FailoverResult } from './failover-core.js';

type OpenLab = ReturnType<typeof openLab>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function publicKeyOf(h: LabHost): Promise<string> {
  return (await run('wg', ['show', h.wgIface, 'public-key'], { netns: h.netns })).stdout.trim();
}

/** The backend holding each client's most recent handshake. */
async function owners(lab: OpenLab, keys: Map<string, string>): Promise<Map<string, string | null>> {
  const hs = new Map<string, Map<string, number>>();
  for (const b of lab.plan.backends) hs.set(b.name, await latestHandshakes(b.netns, b.wgIface).catch(() => new Map<string, number>()));
  return ownersOf(hs, keys);
}

/** Runs the failover on a lab with an LB; `print` gets each line as it happens. */
export async function labFailover(state: LabState, print: (line: string) => void, limitMs = 120_000): Promise<FailoverResult> {
  const lab = openLab(state);
  const instances = lab.plan.lb?.instances ?? [];
  if (instances.length === 0) throw new FabricError('WGF_ERR_VALIDATION', `lab ${state.plan.tag} has no load balancer: make one with lab up --lb-instances 2`);
  const target = lab.plan.pool.serverTunnelIp;
  const keys = new Map<string, string>();
  for (const c of lab.plan.clients) keys.set(c.name, await publicKeyOf(c));
  // Traffic first, so every client has a session, then who serves whom.
  const warm = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, target, 3, 0.2, 2)));
  const own = await owners(lab, keys);
  print('traffic through the VIP (client -> backend by its latest handshake, 3 pings):');
  lab.plan.clients.forEach((c, i) => print(`  ${c.name.padEnd(10)} -> ${(own.get(c.name) ?? '?').padEnd(10)} ${warm[i]!.received}/${warm[i]!.sent} answered${warm[i]!.avgMs === null ? '' : `, ${warm[i]!.avgMs.toFixed(2)} ms`}`));
  const deadName = pickVictim(lab.plan.backends.map((b) => b.name), own);
  if (deadName === null) throw new FabricError('WGF_ERR_UNAVAILABLE', 'no client has a handshake with any backend: no traffic through the VIP to fail over');
  const dead = lab.plan.backends.find((b) => b.name === deadName)!;
  const { affected, others } = splitClients(lab.plan.clients.map((c) => c.name), own, deadName);
  const hostOf = (n: string) => lab.plan.clients.find((c) => c.name === n)!;

  const pid = [...state.pids].reverse().find((p) => p.what === `wireguard-go ${dead.name}`)?.pid;
  if (pid === undefined) throw new FabricError('WGF_ERR_NOT_FOUND', `no wireguard-go process of ${dead.name} in the lab state`);
  // The others ping all along (4 per second for about 25 s): Maglev keeps them where they are.
  const othersPing = Promise.all(others.map(async (n) => ({ client: n, ...(await ping(hostOf(n).netns, target, 100, 0.25, 2)) })));
  await sleep(1000);
  print(`\nkilling ${dead.name}'s wireguard-go (pid ${pid}); its clients: ${affected.join(', ') || 'none'}`);
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');

  const lbOut = instances.map((i) => ({ instance: i.instance, ms: null as number | null, reason: null as string | null }));
  const watchLbs = (async () => {
    while (Date.now() - t0 < limitMs && lbOut.some((l) => l.ms === null)) {
      await Promise.all(lbOut.map(async (l, k) => {
        if (l.ms !== null) return;
        const b = (await lbStatus(lab, k))?.backends.find((x) => x.name === dead.name);
        if (b && !b.inTable) {
          l.ms = Date.now() - t0;
          l.reason = b.reason;
          print(`  ${secs(l.ms)}  ${l.instance} took ${dead.name} out of its table (${b.reason})`);
        }
      }));
      await sleep(100);
    }
  })();
  const clients = await Promise.all(affected.map(async (n) => {
    while (Date.now() - t0 < limitMs) {
      if ((await ping(hostOf(n).netns, target, 1, 0.2, 1)).received > 0) {
        const ms = Date.now() - t0;
        const nowOn = (await owners(lab, keys)).get(n) ?? null;
        print(`  ${secs(ms)}  ${n} gets through again, now on ${nowOn ?? '?'}`);
        return { client: n, ms, nowOn };
      }
    }
    print(`  ${n} did not get through again within ${limitMs / 1000}s`);
    return { client: n, ms: null, nowOn: null };
  }));
  await watchLbs;
  const o = await othersPing;
  print(`  the other ${others.length} clients meanwhile: ${o.map((x) => `${x.client} ${x.received}/${x.sent}`).join(', ') || 'none'} pings answered`);

  print(`\nstarting ${dead.name}'s wireguard-go again (its agent configures the fresh device)`);
  const t1 = Date.now();
  await startWireguardGo(state, dead);
  let backMs: number | null = null;
  while (Date.now() - t1 < limitMs) {
    const all = await Promise.all(instances.map((_, k) => lbStatus(lab, k)));
    if (all.every((s) => s?.backends.find((x) => x.name === dead.name)?.inTable)) {
      backMs = Date.now() - t1;
      break;
    }
    await sleep(200);
  }
  print(`  ${dead.name} ${backMs === null ? 'is not back in every table yet' : `back in every LB table after ${(backMs / 1000).toFixed(1)}s`}`);
  return { killed: dead.name, limitMs, lbOut, clients, others: o.map((x) => ({ client: x.client, sent: x.sent, received: x.received })), backMs };
}
