/**
 * Acceptance 6 of issue 13: two LB instances announcing the VIP over BGP (`lab up --anycast --lb`:
 * `lb run --announce bgp` with real bird2 in each LB namespace and on the router, BFD, ECMP via a
 * resilient nexthop group), 3 backends, stock wireguard-go clients. One instance is SIGKILLed:
 * its watchdog withdraws its route, the router drops its next hop, and its flows move to the
 * other instance keeping their backend with no new handshake; clients lose no ping beyond the
 * withdrawal window. Then the instance's drain: GRACEFUL_SHUTDOWN (65535:0) visible at the
 * router, then withdrawn. Times are printed, never asserted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown, labUp, lbStatus, startLb, type Lab } from '../../src/lab/lab.js';
import { birdFiles } from '../../src/lab/anycast.js';
import { lbNamesOf, vipNextHops } from '../../src/lab/anycast-lb.js';
import { routerRoutes } from '../../src/lab/bird.js';
import type { LabHost, LabLb } from '../../src/lab/plan.js';
import { latestHandshakes, ping } from '../../src/lab/traffic.js';
import type { AnnounceReport } from '../../src/protocol/announce.js';
import { run } from '../../src/sys/exec.js';
import { until } from './fixtures/until.js';
import { flowsByLb, predicted } from './fixtures/lb-flows.js';
import { assertNoSecretsInLogs } from './fixtures/log-secrets.js';

const BACKENDS = 3;
const CLIENTS = Number(process.env.WGF_LB_BGP_CLIENTS ?? 8);
const PING_INTERVAL_S = 0.1;
let lab: Lab;
let base: string;

const tier = () => lab.plan.lb!;
const lbs = (): readonly LabLb[] => tier().instances;
const keyOf = (c: LabHost): string => lab.clientPeers[lab.plan.clients.indexOf(c)]!.publicKey;
const hopNames = async (): Promise<string[]> => lbNamesOf(tier(), await vipNextHops(tier()));
const pidOf = (what: string): number => [...lab.state.pids].reverse().find((p) => p.what === what)!.pid;

async function announceOf(lb: LabLb, action?: 'drain' | 'undrain'): Promise<AnnounceReport> {
  const res = await fetch(`${lb.statusUrl}/announce${action ? `/${action}` : ''}`, { method: action ? 'POST' : 'GET', signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return (await res.json()) as AnnounceReport;
}

async function backendHandshakes(): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for (const b of lab.plan.backends) out.set(b.name, await latestHandshakes(b.netns, b.wgIface));
  return out;
}

describe('LB instances announcing the VIP over BGP (real bird2)', { skip: process.getuid?.() !== 0 ? 'needs root' : false, timeout: 600_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-bg-lbbgp-'));
    const t0 = Date.now();
    lab = await labUp({
      backends: BACKENDS, clients: CLIENTS, base, reconcileInterval: 2, lb: true, anycast: true, anycastDrainSeconds: 3,
      lbArgs: ['--fail-after', '3', '--probe-timeout-ms', '600'], log: (l) => console.log(l),
    });
    console.log(`# lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s: VIP ${tier().vip} announced by ${lbs().map((l) => l.name).join(', ')} to ${tier().router!.netns}`);
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('both instances announce: one ECMP route with both as next hops, state in /announce and in the control plane', async () => {
    assert.deepEqual(await hopNames(), lbs().map((l) => l.name).sort());
    const { text } = await routerRoutes(birdFiles(lab.state.dir, 'router').socket);
    console.log(`router: birdc show route all\n${text}`);
    for (const lb of lbs()) {
      const a = await announceOf(lb);
      assert.equal(a.state, 'announced', `${lb.name}: ${a.reason}`);
      assert.deepEqual(a.addresses, [tier().vip]);
    }
    const reports = await until('both instances reported their announcement', async () => {
      const r = (await lab.api.listLbStatus(lab.plan.pool.name, { limit: 10 })).items;
      return r.length === lbs().length && r.every((x) => x.announce?.state === 'announced') ? r : null;
    }, 30_000);
    console.log(`# control plane: ${reports.value.map((r) => `${r.instance} ${r.announce!.state} ${r.announce!.addresses.join(',')}`).join('; ')}`);
  });

  test('6. an LB instance SIGKILLed: its route goes, its flows move to the other keeping their backend, no new handshake', async () => {
    const tableSize = (await lbStatus(lab, 0))!.tableSize;
    // Clients came up while the instances were still announcing one by one, so a flow may have
    // moved once already and left an idle conntrack entry behind: forget them all, and let the
    // warm-up pings make fresh entries where the router sends each flow now (same backend: Maglev).
    for (const lb of lbs()) await run('conntrack', ['-D', '-p', 'udp', '-d', tier().vip], { netns: lb.netns, allowFailure: true });
    const warm = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 3, 0.2, 2)));
    warm.forEach((r, i) => assert.ok(r.received > 0, `${lab.plan.clients[i]!.name} answers through the VIP`));
    const byLb = await flowsByLb(lab);
    const backendByAddr = new Map(lab.plan.backends.map((b) => [b.address, b.name]));
    const lbOfClient = new Map<string, string>();
    for (const c of lab.plan.clients) {
      const holders = [...byLb].filter(([, m]) => m.has(c.address)).map(([lb]) => lb);
      assert.equal(holders.length, 1, `${c.name}'s flow is on exactly one LB instance (${holders.join(', ') || 'none'})`);
      lbOfClient.set(c.name, holders[0]!);
      assert.equal(backendByAddr.get(byLb.get(holders[0]!)!.get(c.address)!), predicted(lab, c, tableSize), `${c.name} DNATed to the backend the table predicts`);
    }
    const counts = lbs().map((lb) => lab.plan.clients.filter((c) => lbOfClient.get(c.name) === lb.name).length);
    console.log(`# ECMP spread of ${CLIENTS} client flows: ${lbs().map((lb, i) => `${lb.name}=${counts[i]}`).join(', ')}`);
    const victim = lbs()[counts[0]! >= counts[1]! ? 0 : 1]!;
    const survivor = lbs().find((lb) => lb !== victim)!;
    const movers = lab.plan.clients.filter((c) => lbOfClient.get(c.name) === victim.name);
    assert.ok(movers.length > 0);
    const before = await backendHandshakes();
    const clientHs = new Map(await Promise.all(lab.plan.clients.map(async (c) => [c.name, [...(await latestHandshakes(c.netns, c.wgIface)).values()][0] ?? 0] as const)));

    const count = 80;
    const flows = Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, count, PING_INTERVAL_S, 2)));
    await sleep(1500);
    const t0 = Date.now();
    process.kill(pidOf(`lb ${victim.name}`), 'SIGKILL');
    let goneMs = -1;
    while (goneMs < 0) {
      if (!(await hopNames()).includes(victim.name)) goneMs = Date.now() - t0;
      else if (Date.now() - t0 > 30_000) assert.fail(`${victim.name} still a next hop 30 s after its SIGKILL`);
      else await sleep(5);
    }
    console.log(`# ${victim.name} (lb run) SIGKILLed: its next hop gone from the router after ${goneMs} ms (watchdog -> birdc disable -> BGP withdraw); next hops now ${(await hopNames()).join(', ')}`);
    const pinged = await flows;
    const allowed = Math.ceil(goneMs / 1000 / PING_INTERVAL_S) + 2;

    const afterMove = await flowsByLb(lab);
    const now = await backendHandshakes();
    for (const c of movers) {
      const backend = predicted(lab, c, tableSize);
      const r = pinged[lab.plan.clients.indexOf(c)]!;
      const clientNow = [...(await latestHandshakes(c.netns, c.wgIface)).values()][0] ?? 0;
      console.log(`# ${c.name}: ${victim.name} -> ${survivor.name}, backend ${backend}, ${r.received}/${r.sent} pings answered (lost ${r.sent - r.received}, allowed ${allowed} for the ${goneMs} ms window), `
        + `handshake on ${backend} ${before.get(backend)!.get(keyOf(c))} -> ${now.get(backend)!.get(keyOf(c))}`);
      assert.equal(backendByAddr.get(afterMove.get(survivor.name)!.get(c.address) ?? ''), backend, `${survivor.name} DNATs ${c.name}'s flow to the same backend`);
      assert.equal(now.get(backend)!.get(keyOf(c)), before.get(backend)!.get(keyOf(c)), `${c.name}: no new handshake on ${backend}`);
      assert.equal(clientNow, clientHs.get(c.name), `${c.name}: no new handshake on the client`);
      for (const other of lab.plan.backends.filter((x) => x.name !== backend)) assert.equal(now.get(other.name)!.get(keyOf(c)) ?? 0, 0, `${c.name} never reached ${other.name}`);
      assert.ok(r.sent - r.received <= allowed, `${c.name} lost ${r.sent - r.received} pings, more than the withdrawal window explains (${allowed})`);
    }
    for (const c of lab.plan.clients.filter((x) => !movers.includes(x))) {
      const r = pinged[lab.plan.clients.indexOf(c)]!;
      assert.equal(r.received, r.sent, `${c.name} on ${survivor.name} lost nothing`);
    }
    console.log(`# flows already on ${survivor.name} lost nothing: ${lab.plan.clients.filter((x) => !movers.includes(x)).map((c) => c.name).join(' ') || 'none'}`);

    // The instance comes back (a restarted lb run re-announces once its table is loaded).
    const t1 = Date.now();
    startLb(lab, lbs().indexOf(victim), ['--fail-after', '3', '--probe-timeout-ms', '600']);
    await until(`${victim.name} announced again`, async () => (await hopNames()).includes(victim.name), 90_000);
    console.log(`# ${victim.name} restarted: next hop back after ${Date.now() - t1} ms`);
  });

  test('an LB instance drain: GRACEFUL_SHUTDOWN at the router, then withdrawn; undrain announces again', async () => {
    const lb = lbs()[0]!;
    const socket = birdFiles(lab.state.dir, 'router').socket;
    const t0 = Date.now();
    await announceOf(lb, 'drain');
    const gshut = await until('the drained instance\'s route carries 65535:0 at the router', async () => {
      const { text, routes } = await routerRoutes(socket);
      return routes.some((r) => r.nextHop === lb.frontAddress && r.communities.includes('65535:0')) ? text : null;
    }, 30_000);
    console.log(`# ${lb.name} drain: GRACEFUL_SHUTDOWN at the router after ${Date.now() - t0} ms:\n${gshut.value}`);
    await until('new flows avoid the drained instance (local-pref 0: out of the ECMP route)', async () => !(await hopNames()).includes(lb.name), 30_000);
    console.log(`# ${lb.name} out of the router's forwarding route ${Date.now() - t0} ms after the drain started; next hops ${(await hopNames()).join(', ')}`);
    await until('the drained instance withdrawn after the drain wait', async () => !(await routerRoutes(socket)).routes.some((r) => r.nextHop === lb.frontAddress), 60_000);
    // The LB sets its state once bird has taken the withdrawal: the router can see it first.
    const { value: a } = await until('the drained instance reports withdrawn', async () => {
      const r = await announceOf(lb);
      return r.state === 'withdrawn' ? r : null;
    }, 30_000);
    assert.equal(a.reason, 'drained');
    console.log(`# ${lb.name} route withdrawn at the router ${Date.now() - t0} ms after the drain started (pool drain wait 3 s)`);
    await announceOf(lb, 'undrain');
    await until('the instance announced again after undrain', async () => (await hopNames()).includes(lb.name), 30_000);
  });

  test('no API token, private key or preshared key in any log line of this lab', () => {
    const r = assertNoSecretsInLogs(lab.state.dir);
    console.log(`scanned ${r.files} log files for ${r.secrets} known secrets and any token text: nothing found`);
  });
});
