/**
 * A mixed LB tier: two `wgfabric lb run` instances behind the lab's ECMP router (return path
 * snat), lb-1 on the nft data path and lb-2 on bpf, serving one VIP together. Shows that both hold
 * the same table and pick the same backend for every flow, that the tier moves from nft to bpf
 * (every flow onto lb-2) without a client losing its backend or its session, and that learned
 * receiver indices stay with the instance that learned them: a flow moved to another bpf instance
 * is hashed there (same table, same backend), no new handshake. No timed assertions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, lbStatus, setLbFrontLink, setVipRoute, startLb, type Lab } from '../../src/lab/lab.js';
import type { LabHost } from '../../src/lab/plan.js';
import { latestHandshakes, peerEndpoints, ping } from '../../src/lab/traffic.js';
import { BpfDataPath } from '../../src/lb/dataplane/bpf.js';
import { buildMaglevTable, DEFAULT_FLOW_SEED, flowHash, lookup, sortByName } from '../../src/lb/maglev.js';
import { run } from '../../src/sys/exec.js';
import { readKernelSlots } from './fixtures/kernel-slots.js';
import { until } from './fixtures/until.js';

const CLIENTS = 4;
const LB_ARGS = ['--fail-after', '3', '--probe-timeout-ms', '600'];
let lab: Lab;
let base: string;

const keyOf = (c: LabHost): string => lab.clientPeers[lab.plan.clients.indexOf(c)]!.publicKey;
const vip = (): string => lab.plan.lb!.vip;
const port = (): number => lab.plan.pool.listenPort;

function predicted(c: LabHost, size: number): string {
  const order = sortByName(lab.plan.backends.map((b) => ({ name: b.name, weight: 1 })));
  return order[lookup(buildMaglevTable(order, size), flowHash(c.address, c.listenPort!))]!.name;
}

/** Per client: the backend holding its latest handshake, and that handshake's time. */
async function owners(): Promise<Map<string, { backend: string; at: number }>> {
  const hs = await Promise.all(lab.plan.backends.map(async (b) => [b.name, await latestHandshakes(b.netns, b.wgIface)] as const));
  const out = new Map<string, { backend: string; at: number }>();
  for (const c of lab.plan.clients) {
    for (const [name, m] of hs) {
      const at = m.get(keyOf(c)) ?? 0;
      if (at > (out.get(c.name)?.at ?? 0)) out.set(c.name, { backend: name, at });
    }
  }
  return out;
}

/** The BPF data path of LB instance `i` (adopted, read-only use). */
async function bpfOf(i: number): Promise<BpfDataPath> {
  const dp = new BpfDataPath({ vip: vip(), port: port(), seed: DEFAULT_FLOW_SEED, returnPath: 'snat', instance: 'test', netns: lab.plan.lb!.instances[i]!.netns, adoptOnly: true });
  await dp.open();
  return dp;
}

/** Restarts LB instance `i` on `dataplane` and waits until it holds every backend. */
async function restartLb(i: number, dataplane: 'nft' | 'bpf'): Promise<void> {
  const lb = lab.plan.lb!.instances[i]!;
  const entry = [...lab.state.pids].reverse().find((p) => p.what === `lb ${lb.name}`);
  assert.ok(entry, `${lb.name} runs`);
  const gone = (): boolean => {
    try {
      process.kill(entry.pid, 0);
      return false;
    } catch {
      return true;
    }
  };
  process.kill(entry.pid, 'SIGTERM');
  await until(`${lb.name} to exit on SIGTERM`, async () => gone(), 20_000).catch(() => process.kill(entry.pid, 'SIGKILL'));
  await until(`${lb.name} to stop`, async () => gone() && (await lbStatus(lab, i)) === null, 60_000);
  startLb(lab, i, [...LB_ARGS, '--dataplane', dataplane]);
  try {
    await until(`${lb.name} on ${dataplane} with every backend`, async () => {
      const s = await lbStatus(lab, i);
      return s && s.dataplane === dataplane && s.backends.length === lab.plan.backends.length && s.backends.every((b) => b.inTable) ? s : null;
    }, 240_000);
  } catch (e) {
    console.log(`# ${lb.name} status: ${JSON.stringify(await lbStatus(lab, i))}\n# its log:\n${readFileSync(join(lab.state.dir, `${lb.name}.log`), 'utf8').split('\n').slice(-15).join('\n')}`);
    throw e;
  }
}

/** Moves every flow to LB instance `to` (the other one withdrawn, its front link down), pinging across; returns the pings. */
async function moveAllTo(to: number) {
  const lbs = lab.plan.lb!.instances;
  const from = lbs.find((_, k) => k !== to)!;
  const pinging = Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 30, 0.1, 2)));
  await new Promise((r) => setTimeout(r, 1000));
  await setLbFrontLink(lab.plan, lbs[to]!.name, true);
  await setVipRoute(lab.plan, [lbs[to]!.name]);
  await setLbFrontLink(lab.plan, from.name, false);
  return pinging;
}

describe('mixed LB tier: an nft instance and a bpf instance serve one VIP (return path snat)', { timeout: 600_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-bp-mixed-'));
    const t0 = Date.now();
    lab = await labUp({ backends: 3, clients: CLIENTS, base, reconcileInterval: 2, lb: true, lbInstances: 2, lbArgs: LB_ARGS });
    await restartLb(1, 'bpf');
    await until('lb-1 (nft) with every backend', async () => {
      const s = await lbStatus(lab, 0);
      return s && s.backends.every((b) => b.inTable) && s.backends.length === lab.plan.backends.length ? s : null;
    }, 240_000);
    console.log(`# lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s: lb-1 nft, lb-2 bpf, VIP ${vip()}, return path ${lab.plan.lb!.returnPath}`);
  });
  after(async () => {
    if (lab) await labDown(lab); // the BPF programs go with the LB namespaces' interfaces
    rmSync(base, { recursive: true, force: true });
  });

  test('the nft instance and the bpf instance hold the same table and pick the same backend for every flow', async () => {
    const [s1, s2] = [(await lbStatus(lab, 0))!, (await lbStatus(lab, 1))!];
    assert.equal(s1.dataplane, 'nft');
    assert.equal(s2.dataplane, 'bpf');
    assert.equal(s1.tableSize, s2.tableSize);
    const show = (t: Awaited<ReturnType<typeof readKernelSlots>>) => (t ?? []).map((x) => (x ? `${x.address}:${x.port}` : 'hole'));
    const nftSlots = show(await readKernelSlots('nft', lab.plan.lb!.instances[0]!.netns, vip(), port()));
    const bpfSlots = show(await readKernelSlots('bpf', lab.plan.lb!.instances[1]!.netns, vip(), port()));
    assert.equal(nftSlots.length, s1.tableSize);
    assert.deepEqual(bpfSlots, nftSlots, 'slot for slot the same backend in the nft map and the BPF array');

    // Both instances in the ECMP route: the router spreads the flows over nft and bpf.
    const c0 = (await bpfOf(1)).counters();
    await Promise.all(lab.plan.clients.map((c) => until(`${c.name} to ping through the VIP`, async () => (await ping(c.netns, lab.plan.pool.serverTunnelIp, 1, 0.2, 2)).received === 1, 60_000)));
    const pinged = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 5, 0.2, 2)));
    const c1 = await (await bpfOf(1)).counters();
    const viaBpf = (c1.fwd_maglev! + c1.fwd_flow! + c1.fwd_index!) - ((await c0).fwd_maglev! + (await c0).fwd_flow! + (await c0).fwd_index!);
    const ct = await run('conntrack', ['-L', '-p', 'udp', '--orig-dst', vip(), '--orig-port-dst', String(port())], { netns: lab.plan.lb!.instances[0]!.netns, allowFailure: true });
    const viaNft = ct.stdout.split('\n').filter((l) => l.includes('udp')).length;
    const own = await owners();
    for (const c of lab.plan.clients) assert.equal(own.get(c.name)?.backend, predicted(c, s1.tableSize), `${c.name}'s session is on the backend the shared table predicts`);
    console.log(`# ${nftSlots.length} identical slots; flows through nft lb-1: ${viaNft} conntrack entries, through bpf lb-2: ${viaBpf} packets forwarded; `
      + `pings ${pinged.reduce((a, r) => a + r.received, 0)}/${pinged.reduce((a, r) => a + r.sent, 0)}; every client on its predicted backend: ${lab.plan.clients.map((c) => `${c.name}->${own.get(c.name)!.backend}`).join(' ')}`);
  });

  test('the tier moves from nft to bpf (every flow onto lb-2, snat): same backend, no new handshake', async () => {
    const before = await owners();
    const pinged = await moveAllTo(1);
    const afterMove = await owners();
    const lb2 = lab.plan.lb!.instances[1]!;
    const dp = await bpfOf(1);
    for (const [i, c] of lab.plan.clients.entries()) {
      const b = lab.plan.backends.find((x) => x.name === before.get(c.name)!.backend)!;
      const ep = (await peerEndpoints(b.netns, b.wgIface)).get(keyOf(c)) ?? '';
      assert.deepEqual(afterMove.get(c.name), before.get(c.name), `${c.name}: same backend, same handshake`);
      assert.ok(ep.startsWith(`${lb2.address}:`), `${c.name}: ${b.name} sees it from lb-2's address (bpf snat), not ${ep}`);
      assert.ok(pinged[i]!.received >= pinged[i]!.sent - 3, `${c.name} kept its session across the move (${pinged[i]!.received}/${pinged[i]!.sent})`);
    }
    const after = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 5, 0.2, 2)));
    after.forEach((r, i) => assert.equal(r.received, r.sent, `${lab.plan.clients[i]!.name} pings through bpf lb-2`));
    const flows = await dp.flows();
    console.log(`# nft -> bpf: pings across the move ${pinged.map((r) => `${r.received}/${r.sent}`).join(' ')}; after ${after.map((r) => `${r.received}/${r.sent}`).join(' ')}; `
      + `lb-2 flow table ${flows.length} flows, learned indices ${(await dp.indexes()).length}`);
  });

  test('learned indices stay with their instance: flows moved from bpf lb-2 to bpf lb-1 are hashed there, same backend, no new handshake', async () => {
    await restartLb(0, 'bpf');
    const before = await owners();
    const lb1 = await bpfOf(0);
    const k0 = await lb1.counters();
    const pinged = await moveAllTo(0);
    const afterMove = await owners();
    const k1 = await lb1.counters();
    const learned = await lb1.indexes();
    for (const [i, c] of lab.plan.clients.entries()) {
      assert.deepEqual(afterMove.get(c.name), before.get(c.name), `${c.name}: same backend, same handshake`);
      assert.ok(pinged[i]!.received >= pinged[i]!.sent - 3, `${c.name} kept its session across the move (${pinged[i]!.received}/${pinged[i]!.sent})`);
    }
    const d = (k: string): number => k1[k]! - k0[k]!;
    console.log(`# bpf -> bpf: pings ${pinged.map((r) => `${r.received}/${r.sent}`).join(' ')}; lb-1 steered fwd_maglev=${d('fwd_maglev')} fwd_flow=${d('fwd_flow')} fwd_index=${d('fwd_index')} `
      + `unknown_index=${d('unknown_index')}; indices learned on lb-1: ${learned.length}`);
    assert.ok(d('fwd_maglev') > 0, 'lb-1 hashed the moved flows');
    assert.equal(d('fwd_index'), 0, 'no receiver index moved with the flows (none learned on lb-1 before a handshake passes it)');
    await setLbFrontLink(lab.plan, lab.plan.lb!.instances[1]!.name, true);
    await setVipRoute(lab.plan, lab.plan.lb!.instances.map((l) => l.name));
  });
});
