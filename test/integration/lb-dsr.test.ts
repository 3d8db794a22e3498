/**
 * Direct server return on the lab (`lab up --lb --lb-return-path dsr`: `lb run --dataplane bpf
 * --return-path dsr`, backends holding the VIP on lo, answering through a return router): 3
 * backends, 6 stock wireguard-go clients. Spread as the Maglev table predicts, the backend sees
 * the real client address, the replies bypass the LB (its client leg sends nothing while pings
 * are answered; the program forwards but rewrites no reply), drain keeps established flows, a
 * killed backend's clients handshake again on the others. No timed assertions. The lab (and with
 * it every namespace, link, process and the BPF program) is taken down also on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown, labUp, lbStatus, type Lab } from '../../src/lab/lab.js';
import { ownersOf } from '../../src/lab/failover-core.js';
import type { LabHost } from '../../src/lab/plan.js';
import { latestHandshakes, peerEndpoints, ping } from '../../src/lab/traffic.js';
import { BpfDataPath } from '../../src/lb/dataplane/bpf.js';
import { DEFAULT_FLOW_SEED } from '../../src/lb/maglev.js';
import type { LbServiceStatus } from '../../src/lb/service.js';
import { run } from '../../src/sys/exec.js';
import { until } from './fixtures/until.js';
import { predictor } from './fixtures/lb-flows.js';

const BACKENDS = 3;
const CLIENTS = 6;
let lab: Lab;
let base: string;

const status = async (): Promise<LbServiceStatus> => (await until('the LB to answer /status', () => lbStatus(lab), 30_000)).value;
const keyOf = (c: LabHost): string => lab.clientPeers[lab.plan.clients.indexOf(c)]!.publicKey;
const inTable = async (): Promise<LbServiceStatus | null> => {
  const s = await status();
  return s.backends.length === BACKENDS && s.backends.every((b) => b.inTable) ? s : null;
};

/** The backend holding each client's most recent handshake. */
async function owners(): Promise<Map<string, string | undefined>> {
  const hs = new Map<string, Map<string, number>>();
  for (const b of lab.plan.backends) hs.set(b.name, await latestHandshakes(b.netns, b.wgIface));
  const owner = ownersOf(hs, new Map(lab.plan.clients.map((c) => [c.name, keyOf(c)])));
  return new Map([...owner].map(([c, b]) => [c, b ?? undefined]));
}

/** Packets sent and received by an interface inside a namespace. */
async function linkStats(netns: string, dev: string): Promise<{ tx: number; rx: number }> {
  const l = (JSON.parse((await run('ip', ['-j', '-s', 'link', 'show', dev], { netns })).stdout) as { stats64: { tx: { packets: number }; rx: { packets: number } } }[])[0]!;
  return { tx: l.stats64.tx.packets, rx: l.stats64.rx.packets };
}

/** Gives a client a new listen port (a new flow) and a fresh session (wg setconf replaces the peer). */
async function rebind(c: LabHost, port: number): Promise<void> {
  const file = join(lab.state.dir, `${c.name}.setconf`);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /ListenPort = \d+/);
  writeFileSync(file, text.replace(/ListenPort = \d+/, `ListenPort = ${port}`), { mode: 0o600 });
  await run('wg', ['setconf', c.wgIface, file], { netns: c.netns });
}

async function counters(): Promise<Record<string, number>> {
  const lb = lab.plan.lb!;
  const dp = new BpfDataPath({ vip: lb.vip, port: lab.plan.pool.listenPort, seed: DEFAULT_FLOW_SEED, returnPath: 'dsr', instance: 'dsr-read', netns: lb.instances[0]!.netns, adoptOnly: true });
  await dp.open();
  return dp.counters();
}

describe('lab with direct server return on the bpf data path (3 backends, 6 clients)', { timeout: 600_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-dsr-'));
    const t0 = Date.now();
    lab = await labUp({ backends: BACKENDS, clients: CLIENTS, base, reconcileInterval: 2, lb: true, lbReturnPath: 'dsr' });
    console.log(`# dsr lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s: VIP ${lab.plan.lb!.vip}, return router ${lab.plan.lb!.returnRouter!.address}`);
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('1. spread as the Maglev table predicts; each backend sees its clients\' real addresses', async () => {
    const { value: s } = await until('every backend in the table', inTable);
    assert.equal(s.dataplane, 'bpf');
    assert.equal(s.returnPath, 'dsr', 'lb status shows the return path');
    const { value: reports } = await until('the LB reports its return path', async () => {
      const r = (await lab.api.listLbStatus(lab.plan.pool.name)).items;
      return r.length > 0 && r.every((x) => x.returnPath === 'dsr') ? r : null;
    });
    assert.equal(reports.length, 1);
    const predict = predictor(lab.plan.backends.map((b) => b.name), s.tableSize);
    const r = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 3, 0.2, 2)));
    r.forEach((x, i) => assert.ok(x.received > 0, `${lab.plan.clients[i]!.name} gets answers through the VIP`));
    const own = await owners();
    const spread = new Map<string, string[]>();
    for (const c of lab.plan.clients) {
      const want = predict(c);
      assert.equal(own.get(c.name), want, `${c.name} handshook with the predicted backend`);
      spread.set(want, [...(spread.get(want) ?? []), c.name]);
      const b = lab.plan.backends.find((x) => x.name === want)!;
      const ep = (await peerEndpoints(b.netns, b.wgIface)).get(keyOf(c));
      assert.equal(ep, `${c.address}:${c.listenPort}`, `${want} sees ${c.name}'s real address`);
    }
    console.log(`# spread: ${[...spread].map(([b, cs]) => `${b}: ${cs.join(' ')}`).join('; ')}`);
    assert.ok(spread.size > 1, 'clients spread over more than one backend');
  });

  test('1b. the agents hold the VIP (agent --vip): on lo, ARP sysctls set, reported in place; a deleted VIP comes back at the next reconcile', async () => {
    const vip = lab.plan.lb!.vip;
    const onLo = async (b: LabHost) => (await run('ip', ['-o', 'addr', 'show', 'dev', 'lo'], { netns: b.netns })).stdout.includes(` ${vip}/32 `);
    const sysctl = async (b: LabHost, k: string) => (await run('cat', [`/proc/sys/net/ipv4/conf/all/${k}`], { netns: b.netns })).stdout.trim();
    for (const b of lab.plan.backends) {
      assert.ok(await onLo(b), `${b.name} holds ${vip} on lo`);
      assert.deepEqual([await sysctl(b, 'arp_ignore'), await sysctl(b, 'arp_announce')], ['1', '2'], `${b.name}: arp_ignore 1, arp_announce 2`);
      const { value: st } = await until(`${b.name} reports its VIP in place`, async () => (await lab.api.getNode(lab.plan.pool.name, b.name)).status?.dsr?.inPlace && (await lab.api.getNode(lab.plan.pool.name, b.name)).status);
      assert.deepEqual(st.dsr?.vips, [vip]);
    }
    const b = lab.plan.backends[0]!;
    const before = (await lab.api.getNode(lab.plan.pool.name, b.name)).status!.dsr!.repairs;
    await run('ip', ['addr', 'del', `${vip}/32`, 'dev', 'lo'], { netns: b.netns }); // drift: someone flushes lo
    const { ms } = await until(`${b.name}'s agent puts ${vip} back`, () => onLo(b), 120_000);
    const { value: repairs } = await until(`${b.name} reports the repair`, async () => {
      const r = (await lab.api.getNode(lab.plan.pool.name, b.name)).status?.dsr?.repairs ?? 0;
      return r > before ? r : null;
    });
    console.log(`# ${b.name}: VIP back on lo after ${ms} ms (reconcile every 2 s); repairs reported ${before} -> ${repairs}`);
    assert.match(readFileSync(join(lab.state.dir, `${b.name}.agent.log`), 'utf8'), /dsr: repairing drift of the VIPs on lo/);
  });

  test('2. replies bypass the LB: pings answered, the LB\'s client leg sends (almost) nothing, no reply rewritten', async () => {
    const lb = lab.plan.lb!.instances[0]!;
    const rr = lab.plan.lb!.returnRouter!;
    const [lb0, rr0, c0] = [await linkStats(lb.netns, lb.clientVethNs), await linkStats(rr.netns, rr.clientVethNs), await counters()];
    const r = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 20, 0.05, 2)));
    const [lb1, rr1, c1] = [await linkStats(lb.netns, lb.clientVethNs), await linkStats(rr.netns, rr.clientVethNs), await counters()];
    const answered = r.reduce((n, x) => n + x.received, 0);
    const d = (k: string): number => c1[k]! - c0[k]!;
    console.log(`# ${answered}/${CLIENTS * 20} pings answered; LB client leg: received ${lb1.rx - lb0.rx}, sent ${lb1.tx - lb0.tx}; `
      + `return router client leg sent ${rr1.tx - rr0.tx}; bpf counters: fwd_dsr +${d('fwd_dsr')} fwd_flow +${d('fwd_flow')} fwd_maglev +${d('fwd_maglev')} reply +${d('reply')} learned +${d('learned')}`);
    assert.equal(answered, CLIENTS * 20, 'every ping answered');
    assert.ok(d('fwd_dsr') >= answered, 'every request went through the program (direct server return)');
    assert.equal(d('reply'), 0, 'no reply passed the program');
    assert.ok(lb1.rx - lb0.rx >= answered, 'the LB received the requests on its client leg');
    assert.ok(lb1.tx - lb0.tx < answered / 10, 'the LB sent (almost) nothing to the clients: replies did not pass it');
    assert.ok(rr1.tx - rr0.tx >= answered, 'the replies went out through the return router');
  });

  test('3. drain: the drained node keeps its established flows and gets no new ones', async () => {
    await until('every backend in the table', inTable);
    const own = await owners();
    const count = (b: string): number => lab.plan.clients.filter((c) => own.get(c.name) === b).length;
    const drained = lab.plan.backends.map((b) => b.name).sort((a, b) => count(b) - count(a))[0]!;
    const mine = lab.plan.clients.filter((c) => own.get(c.name) === drained);
    const flows = Promise.all(mine.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 40, 0.1, 2)));
    await sleep(500);
    await lab.api.updateNode(lab.plan.pool.name, drained, { adminState: 'draining' });
    const { ms } = await until(`${drained} leaves the table`, async () => (await status()).backends.find((b) => b.name === drained)!.inTable ? null : true);
    // A new flow whose hash the full table sends to the drained node lands on the one the table without it predicts.
    const other = lab.plan.clients.find((c) => own.get(c.name) !== drained)!;
    const full = predictor(lab.plan.backends.map((b) => b.name), (await status()).tableSize);
    const without = predictor(lab.plan.backends.map((b) => b.name).filter((n) => n !== drained), (await status()).tableSize);
    let port = 42600;
    while (full({ ...other, listenPort: port }) !== drained) port++;
    const want = without({ ...other, listenPort: port });
    const hsDrained = (await latestHandshakes(lab.plan.backends.find((b) => b.name === drained)!.netns, lab.plan.backends.find((b) => b.name === drained)!.wgIface)).get(keyOf(other)) ?? 0;
    await rebind(other, port);
    assert.ok((await ping(other.netns, lab.plan.pool.serverTunnelIp, 3, 0.2, 2)).received > 0, `${other.name}'s new flow gets answers`);
    await until(`${other.name}'s new flow on ${want}`, async () => (await owners()).get(other.name) === want, 20_000);
    const b = lab.plan.backends.find((x) => x.name === drained)!;
    assert.equal((await latestHandshakes(b.netns, b.wgIface)).get(keyOf(other)) ?? 0, hsDrained, 'the drained node saw no handshake of the new flow');
    console.log(`# new flow ${other.address}:${port} (full table: ${drained}) landed on ${want}`);
    await rebind(other, other.listenPort!);
    assert.ok((await ping(other.netns, lab.plan.pool.serverTunnelIp, 3, 0.2, 2)).received > 0, `${other.name} back on its own port`);
    const kept = await flows;
    kept.forEach((k, i) => console.log(`# ${mine[i]!.name} on drained ${drained} (out of the table after ${ms} ms): ${k.received}/${k.sent} pings answered across the drain`));
    kept.forEach((k, i) => assert.equal(k.received, k.sent, `${mine[i]!.name} keeps its flow on the drained node`));
    assert.deepEqual(mine.map((c) => own.get(c.name)), mine.map(() => drained));
    const after = await owners();
    for (const c of mine) assert.equal(after.get(c.name), drained, `${c.name} is still on ${drained}`);
    await lab.api.updateNode(lab.plan.pool.name, drained, { adminState: 'active' });
    await until(`${drained} back in the table`, inTable);
  });

  test('4. a backend\'s wireguard-go killed: its clients handshake again on the live backends', async () => {
    const s0 = (await until('every backend in the table', inTable)).value;
    const own = await owners();
    const count = (b: string): number => lab.plan.clients.filter((c) => own.get(c.name) === b).length;
    const dead = lab.plan.backends.map((b) => b.name).sort((a, b) => count(b) - count(a))[0]!;
    const orphans = lab.plan.clients.filter((c) => own.get(c.name) === dead);
    assert.ok(orphans.length > 0);
    const predict = predictor(lab.plan.backends.map((b) => b.name).filter((n) => n !== dead), s0.tableSize);
    const killAt = Date.now();
    const pid = [...lab.state.pids].reverse().find((p) => p.what === `wireguard-go ${dead}`)!.pid;
    process.kill(pid, 'SIGKILL');
    await until(`${dead} leaves the table`, async () => (await status()).backends.find((b) => b.name === dead)!.inTable ? null : true, 60_000);
    const times = await Promise.all(orphans.map(async (c) => {
      await until(`${c.name} through again`, async () => (await ping(c.netns, lab.plan.pool.serverTunnelIp, 1, 0.2, 1)).received > 0, 120_000, 0);
      return Date.now() - killAt;
    }));
    const after = await owners();
    orphans.forEach((c, i) => console.log(`# ${c.name} (was on ${dead}) through again ${(times[i]! / 1000).toFixed(1)} s after the kill, now on ${after.get(c.name)} (table predicts ${predict(c)})`));
    for (const c of orphans) {
      assert.notEqual(after.get(c.name), dead);
      assert.equal(after.get(c.name), predict(c), `${c.name} moved to the backend the table without ${dead} predicts`);
      const b = lab.plan.backends.find((x) => x.name === after.get(c.name))!;
      assert.equal((await peerEndpoints(b.netns, b.wgIface)).get(keyOf(c)), `${c.address}:${c.listenPort}`, 'the new backend sees the real client address');
    }
  });
});
