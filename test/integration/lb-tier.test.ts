/**
 * The LB tier without a single point of failure: two `wgfabric lb run` instances behind an ECMP
 * router namespace (lab with lbInstances: 2, return path 'snat'), 3 backends, stock wireguard-go
 * clients. Shows that both instances hold the identical table and that a flow moved from one LB
 * instance to the other (route withdrawn, that LB's front link down) keeps its backend and its
 * WireGuard session: no new handshake anywhere. No timed assertions; measured times are printed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, lbStatus, setLbFrontLink, setVipRoute, type Lab } from '../../src/lab/lab.js';
import type { LabHost, LabLb } from '../../src/lab/plan.js';
import { latestHandshakes, peerEndpoints, ping } from '../../src/lab/traffic.js';
import { listTableJson } from '../../src/lb/nft-apply.js';
import { defaultNftTable } from '../../src/lb/controller.js';
import { slotMapName, slotsFromNftJson } from '../../src/lb/nft.js';
import { until } from './fixtures/until.js';
import { flowsByLb, predicted } from './fixtures/lb-flows.js';
import { assertNoSecretsInLogs } from './fixtures/log-secrets.js';

const BACKENDS = 3;
const CLIENTS = Number(process.env.WGF_LB_TIER_CLIENTS ?? 8);
let lab: Lab;
let base: string;

const lbs = (): readonly LabLb[] => lab.plan.lb!.instances;
const port = (): number => lab.plan.pool.listenPort;
const keyOf = (c: LabHost): string => lab.clientPeers[lab.plan.clients.indexOf(c)]!.publicKey;

/** Latest handshake (unix s, 0 = never) of every client key on every backend, and of every client with the pool. */
async function sessionSnapshot(): Promise<{ backends: Map<string, Map<string, number>>; clients: Map<string, number> }> {
  const backends = new Map<string, Map<string, number>>();
  for (const b of lab.plan.backends) backends.set(b.name, await latestHandshakes(b.netns, b.wgIface));
  const clients = new Map<string, number>();
  for (const c of lab.plan.clients) clients.set(c.name, [...(await latestHandshakes(c.netns, c.wgIface)).values()][0] ?? 0);
  return { backends, clients };
}

describe(`LB tier: 2 LB instances behind an ECMP router, ${BACKENDS} backends, ${CLIENTS} clients`, { timeout: 600_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-lbtier-'));
    const t0 = Date.now();
    // This suite is about flows moving between LB instances, not detection: probes tolerant of a
    // stalled LB process on a loaded machine keep a false "down" from cutting the flows it watches.
    lab = await labUp({ backends: BACKENDS, clients: CLIENTS, base, reconcileInterval: 2, lb: true, lbInstances: 2, lbArgs: ['--fail-after', '3', '--probe-timeout-ms', '600'] });
    console.log(`# lab with 2 LBs up in ${((Date.now() - t0) / 1000).toFixed(1)} s: VIP ${lab.plan.lb!.vip} routed by ${lab.plan.lb!.router!.netns}, return path ${lab.plan.lb!.returnPath}`);
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('both LB instances hold the identical Maglev table in the kernel', async () => {
    // Both must have probed every backend up first: before that, one may still hold a smaller table.
    const statuses = await Promise.all(lbs().map(async (_, i) => (await until(`lb-${i + 1} with every backend in its table`, async () => {
      const st = await lbStatus(lab, i);
      return st && st.backends.length === BACKENDS && st.backends.every((b) => b.inTable) ? st : null;
    }, 30_000)).value));
    assert.equal(statuses[0]!.tableSize, statuses[1]!.tableSize);
    const map = slotMapName(lab.plan.lb!.vip, port());
    const tables = await Promise.all(lbs().map(async (lb) => {
      const slots = slotsFromNftJson(await listTableJson('inet', defaultNftTable(lab.plan.lb!.vip, port()), { netns: lb.netns }), map);
      assert.ok(slots, `${lb.name} has the slot map ${map}`);
      return slots.map((s) => (s ? `${s.address}:${s.port}` : 'hole'));
    }));
    assert.equal(tables[0]!.length, statuses[0]!.tableSize, 'every slot is filled');
    assert.ok(!tables[0]!.includes('hole'));
    assert.deepEqual(tables[1], tables[0], 'slot for slot the same backend on both instances');
    const per = new Map<string, number>();
    for (const t of tables[0]!) per.set(t, (per.get(t) ?? 0) + 1);
    console.log(`# both instances: ${tables[0]!.length} slots, ${[...per].map(([b, n]) => `${b}=${n}`).join(', ')}`);
  });

  test('a flow moved from one LB instance to the other keeps its backend: no new handshake', async () => {
    const tableSize = (await lbStatus(lab, 0))!.tableSize;
    const results = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 3, 0.2, 2)));
    results.forEach((r, i) => assert.ok(r.received > 0, `${lab.plan.clients[i]!.name} gets answers through the VIP`));

    const byLb = await flowsByLb(lab);
    const backendByAddr = new Map(lab.plan.backends.map((b) => [b.address, b.name]));
    const lbOfClient = new Map<string, string>();
    for (const c of lab.plan.clients) {
      const holders = [...byLb].filter(([, m]) => m.has(c.address)).map(([lb]) => lb);
      assert.equal(holders.length, 1, `${c.name}'s flow is on exactly one LB instance (${holders.join(', ') || 'none'})`);
      lbOfClient.set(c.name, holders[0]!);
      const backend = backendByAddr.get(byLb.get(holders[0]!)!.get(c.address)!);
      assert.equal(backend, predicted(lab, c, tableSize), `${c.name} (${c.address}:${c.listenPort}) DNATed to the backend the table predicts`);
    }
    const spread = lbs().map((lb) => `${lb.name}=${lab.plan.clients.filter((c) => lbOfClient.get(c.name) === lb.name).length}`);
    console.log(`# ECMP spread of ${CLIENTS} client flows: ${spread.join(', ')}`);

    // Fail the LB instance carrying the most flows: withdraw it from the router's ECMP route (as
    // a health check or BGP withdrawal would) and take its front link down.
    const counts = lbs().map((lb) => lab.plan.clients.filter((c) => lbOfClient.get(c.name) === lb.name).length);
    const victim = lbs()[counts[0]! >= counts[1]! ? 0 : 1]!;
    const survivor = lbs().find((lb) => lb !== victim)!;
    const movers = lab.plan.clients.filter((c) => lbOfClient.get(c.name) === victim.name);
    assert.ok(movers.length > 0);
    const before = await sessionSnapshot();

    const flows = Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 40, 0.1, 2)));
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = Date.now();
    await setVipRoute(lab.plan, [survivor.name]);
    await setLbFrontLink(lab.plan, victim.name, false);
    console.log(`# ${victim.name} withdrawn and its front link down (${Date.now() - t0} ms); ${movers.length} flows move to ${survivor.name}: ${movers.map((c) => c.name).join(' ')}`);
    const pinged = await flows;

    const afterMove = await flowsByLb(lab);
    const now = await sessionSnapshot();
    for (const c of movers) {
      const backend = predicted(lab, c, tableSize);
      const b = lab.plan.backends.find((x) => x.name === backend)!;
      const r = pinged[lab.plan.clients.indexOf(c)]!;
      const ep = (await peerEndpoints(b.netns, b.wgIface)).get(keyOf(c));
      console.log(`# ${c.name}: ${victim.name} -> ${survivor.name}, backend ${backend}, endpoint on the backend now ${ep}, `
        + `${r.received}/${r.sent} pings answered across the move, handshake ${before.backends.get(backend)!.get(keyOf(c))} -> ${now.backends.get(backend)!.get(keyOf(c))}`);
      assert.equal(backendByAddr.get(afterMove.get(survivor.name)!.get(c.address) ?? ''), backend, `${survivor.name} DNATs ${c.name}'s flow to the same backend`);
      assert.equal(now.backends.get(backend)!.get(keyOf(c)), before.backends.get(backend)!.get(keyOf(c)), `${c.name}: no new handshake on ${backend}`);
      assert.equal(now.clients.get(c.name), before.clients.get(c.name), `${c.name}: no new handshake on the client`);
      for (const other of lab.plan.backends.filter((x) => x.name !== backend)) {
        assert.equal(now.backends.get(other.name)!.get(keyOf(c)) ?? 0, 0, `${c.name} never reached ${other.name}`);
      }
      assert.equal(ep, `${survivor.address}:${c.listenPort}`, `${backend} roamed ${c.name}'s endpoint to ${survivor.name}'s address (SNAT)`);
      // Only replies already in flight to the failed LB can be lost; a new handshake would cost far more.
      assert.ok(r.received >= r.sent - 2, `${c.name} kept its session across the move (${r.received}/${r.sent})`);
    }
    const stay = lab.plan.clients.filter((c) => !movers.includes(c));
    for (const c of stay) {
      const r = pinged[lab.plan.clients.indexOf(c)]!;
      assert.equal(r.received, r.sent, `${c.name} on ${survivor.name} lost nothing`);
    }
    console.log(`# flows already on ${survivor.name}: ${stay.map((c) => `${c.name} ${pinged[lab.plan.clients.indexOf(c)]!.received}/${pinged[lab.plan.clients.indexOf(c)]!.sent}`).join(', ') || 'none'}`);

    // Bring the instance back: ECMP hashes the same flows to it again, and they move back the same way.
    await setLbFrontLink(lab.plan, victim.name, true);
    await setVipRoute(lab.plan, lbs().map((lb) => lb.name));
    const back = await Promise.all(movers.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 10, 0.1, 2)));
    const again = await sessionSnapshot();
    const final = await flowsByLb(lab);
    movers.forEach((c, i) => {
      const backend = predicted(lab, c, tableSize);
      assert.ok(back[i]!.received > 0, `${c.name} answered after the LB came back`);
      assert.equal(backendByAddr.get(final.get(victim.name)!.get(c.address) ?? ''), backend, `${c.name} is back on ${victim.name}, same backend`);
      assert.equal(again.backends.get(backend)!.get(keyOf(c)), before.backends.get(backend)!.get(keyOf(c)), `${c.name}: still no new handshake`);
    });
    console.log(`# ${victim.name} back in the ECMP route: ${movers.map((c, i) => `${c.name} ${back[i]!.received}/${back[i]!.sent}`).join(', ')}; no new handshakes`);
  });

  test('no API token, private key or preshared key in any log line of this lab', () => {
    const r = assertNoSecretsInLogs(lab.state.dir);
    console.log(`scanned ${r.files} log files for ${r.secrets} known secrets and any token text: nothing found`);
  });
});
