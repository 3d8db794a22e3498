/**
 * The BPF data path on the lab with stock wireguard-go clients: a bounded flood of junk and of
 * forged initiations at the VIP while 10 clients ping (no ping lost, drop counters printed; the
 * program checks mac1 with the pool's key, on by default: the clients' real initiations pass, the
 * forged ones are all dropped as drop_mac1 before any backend or rate bucket);
 * roaming (source port change, then source address change, mid-ping: same backend, same
 * handshake); and the same port change on the nft data path for comparison (printed, not
 * asserted: there the flow is hashed again and lands on another backend about 2 times in 3).
 * No timed assertions; everything the test creates is removed also on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown, labUp, lbStatus, startLb, type Lab } from '../../src/lab/lab.js';
import type { LabHost } from '../../src/lab/plan.js';
import { latestHandshakes, peerEndpoints, ping } from '../../src/lab/traffic.js';
import { BpfDataPath } from '../../src/lb/dataplane/bpf.js';
import { DEFAULT_GUARD_LIMITS } from '../../src/lb/dataplane/bpf-maps.js';
import { buildMaglevTable, DEFAULT_FLOW_SEED, flowHash, lookup, sortByName } from '../../src/lb/maglev.js';
import { run } from '../../src/sys/exec.js';
import { generateKeyPair, parseKey } from '../../src/wg/keys.js';
import { Initiator } from '../../src/wg/noise.js';
import { natRebind } from './fixtures/roaming.js';
import { until } from './fixtures/until.js';

const CLIENTS = 10;
let lab: Lab;
let base: string;
const FLOOD_NS = `wgf-bp-f${randomBytes(3).toString('hex')}`;
const FLOOD_LINK = `wgfbp${randomBytes(3).toString('hex')}`;

const keyOf = (c: LabHost): string => lab.clientPeers[lab.plan.clients.indexOf(c)]!.publicKey;

/** The backend holding the client's most recent handshake and that handshake's time. */
async function ownerOf(c: LabHost): Promise<{ backend: string | undefined; at: number }> {
  let best: { backend: string | undefined; at: number } = { backend: undefined, at: 0 };
  for (const b of lab.plan.backends) {
    const t = (await latestHandshakes(b.netns, b.wgIface)).get(keyOf(c)) ?? 0;
    if (t > best.at) best = { backend: b.name, at: t };
  }
  return best;
}

async function counters(): Promise<Record<string, number>> {
  const dp = new BpfDataPath({ vip: lab.plan.lb!.vip, port: lab.plan.pool.listenPort, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', instance: 'test', netns: lab.plan.lb!.instances[0]!.netns, adoptOnly: true });
  await dp.open();
  return dp.counters();
}

/** The backend a new flow from addr:port gets from the Maglev table (all backends, weight 1). */
function hashedTo(addr: string, port: number, size: number): string {
  const order = sortByName(lab.plan.backends.map((b) => ({ name: b.name, weight: 1 })));
  return order[lookup(buildMaglevTable(order, size), flowHash(addr, port))]!.name;
}

/** The first port from `from` whose flow from `addr` Maglev hashes to a backend other than `not`. */
function otherPort(addr: string, from: number, not: string | undefined, size: number): number {
  for (let p = from; p < from + 1000; p++) if (hashedTo(addr, p, size) !== not) return p;
  throw new Error(`no port from ${from} hashes ${addr} away from ${not}`);
}

/** The backend's view of the client's endpoint (address:port), on the backend `name`. */
async function endpointOn(name: string | undefined, c: LabHost): Promise<string | null | undefined> {
  const b = lab.plan.backends.find((x) => x.name === name);
  return b ? (await peerEndpoints(b.netns, b.wgIface)).get(keyOf(c)) : undefined;
}

/**
 * Pings through the VIP while the client first changes its listen port (`wg set`), then its NAT
 * rebinds it to a new source address (.octet of the client subnet) and port; returns who held the
 * session before and after, the pings across and after the changes, and how many packets the
 * BPF program steered by receiver index meanwhile (0 on nft).
 */
async function roam(c: LabHost, firstPort: number, octet: number) {
  const tier = lab.plan.lb!;
  const port = lab.plan.pool.listenPort;
  const bpf = (await lbStatus(lab))?.dataplane === 'bpf';
  await ping(c.netns, lab.plan.pool.serverTunnelIp, 2, 0.2, 3);
  const o0 = await ownerOf(c);
  assert.ok(o0.backend, `${c.name} has a backend`);
  const idx0 = bpf ? (await counters()).fwd_index! : 0;
  const newAddr = tier.clientSubnet.replace(/\.0\/24$/, `.${octet}`);
  // New tuples that Maglev hashes to another backend: only the WireGuard-aware steering keeps them.
  const size = (await lbStatus(lab))!.tableSize;
  const newPort = otherPort(c.address, firstPort, o0.backend, size);
  const natPort = otherPort(newAddr, 30000, o0.backend, size);
  const pinging = ping(c.netns, lab.plan.pool.serverTunnelIp, 60, 0.1, 2);
  await sleep(1500);
  await run('wg', ['set', c.wgIface, 'listen-port', String(newPort)], { netns: c.netns });
  console.log(`# ${c.name}: source port ${c.listenPort} -> ${newPort} (wg set listen-port)`);
  await sleep(1500);
  await natRebind(c, tier.vip, port, newAddr, natPort);
  console.log(`# ${c.name}: NAT rebinding, source ${c.address}:${newPort} -> ${newAddr}:${natPort}`);
  const during = await pinging;
  const after = await ping(c.netns, lab.plan.pool.serverTunnelIp, 5, 0.2, 3);
  const o1 = await ownerOf(c);
  const endpoint = await endpointOn(o1.backend, c);
  const indexSteered = bpf ? (await counters()).fwd_index! - idx0 : 0;
  return { o0, o1, during, after, endpoint, newAddr, newPort: natPort, indexSteered, hashed: [hashedTo(c.address, newPort, size), hashedTo(newAddr, natPort, size)] };
}

async function tableFull(kind: string): Promise<void> {
  await until(`the LB (${kind}) to hold every backend`, async () => {
    const s = await lbStatus(lab);
    return s && s.dataplane === kind && s.backends.length === lab.plan.backends.length && s.backends.every((b) => b.inTable) ? s : null;
  }, 90_000);
}

/** A bounded UDP sender run inside the flood namespace: `count` datagrams of `kind`, at most `limitS` seconds. */
const FLOOD_JS = `
const dgram = require('node:dgram');
const [vip, port, kind, count, pps, limitS] = process.argv.slice(1).map((x, i) => i < 1 || i === 2 ? x : Number(x));
const s = dgram.createSocket('udp4');
const end = Date.now() + limitS * 1000;
const perTick = Math.max(1, Math.round(pps / 1000));
let sent = 0;
function payload(i) {
  if (kind.startsWith('replay:')) return Buffer.from(kind.slice(7), 'hex');
  if (kind === 'forged') { const b = Buffer.alloc(148); require('node:crypto').randomFillSync(b); b[0] = 1; b[1] = b[2] = b[3] = 0; return b; }
  const sizes = [1, 17, 64, 92, 148, 200, 1400];
  const b = Buffer.alloc(sizes[i % sizes.length]); b[0] = [0, 1, 2, 3, 4, 5, 9][i % 7]; if (i % 5 === 0) b[1] = 1; return b;
}
function tick() {
  for (let k = 0; k < perTick && sent < count; k++, sent++) s.send(payload(sent), port, vip);
  if (sent < count && Date.now() < end) setTimeout(tick, 1); else setTimeout(() => { console.log(sent); s.close(); }, 200);
}
tick();
`;

/** Packets the kernel dropped from its per-CPU receive backlogs (all CPUs, /proc/net/softnet_stat column 2). */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').reduce((a, l) => a + parseInt(l.trim().split(/\s+/)[1] ?? '0', 16), 0);
}

describe('BPF data path on the lab: flood guard and WireGuard-aware roaming (nft for comparison)', { timeout: 600_000 }, () => {
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'wgf-bp-roam-'));
    const t0 = Date.now();
    lab = await labUp({ backends: 3, clients: CLIENTS, base, reconcileInterval: 2, lb: true, lbArgs: ['--dataplane', 'bpf'] });
    await tableFull('bpf');
    console.log(`# lab up on bpf in ${((Date.now() - t0) / 1000).toFixed(1)} s, VIP ${lab.plan.lb!.vip}`);
  });
  after(async () => {
    await run('ip', ['netns', 'delete', FLOOD_NS], { allowFailure: true });
    await run('ip', ['link', 'delete', FLOOD_LINK], { allowFailure: true });
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('flood: junk and forged initiations at the VIP while 10 clients ping; no ping lost, drops counted by reason', async () => {
    const tier = lab.plan.lb!;
    const addr = tier.clientSubnet.replace(/\.0\/24$/, '.250');
    await run('ip', ['netns', 'add', FLOOD_NS]);
    await run('ip', ['link', 'add', FLOOD_LINK, 'type', 'veth', 'peer', 'name', 'f0', 'netns', FLOOD_NS]);
    await run('ip', ['link', 'set', FLOOD_LINK, 'master', tier.clientBridge, 'up']);
    await run('ip', ['addr', 'add', `${addr}/24`, 'dev', 'f0'], { netns: FLOOD_NS });
    await run('ip', ['link', 'set', 'f0', 'up'], { netns: FLOOD_NS });
    await run('ip', ['route', 'add', 'default', 'via', tier.gateway], { netns: FLOOD_NS });
    // Every client holds a session first: the flood is about packets, not about first handshakes.
    await Promise.all(lab.plan.clients.map((c) => until(`${c.name} to ping through the VIP`, async () => (await ping(c.netns, lab.plan.pool.serverTunnelIp, 1, 0.2, 2)).received === 1, 60_000)));
    const before = await counters();
    const st = await lbStatus(lab);
    console.log(`# mac1 check: ${JSON.stringify(st?.mac1)}; before the flood: fwd_maglev=${before.fwd_maglev} fwd_flow=${before.fwd_flow} drop_mac1=${before.drop_mac1}`);
    assert.deepEqual(st?.mac1, { verify: true }, 'mac1 is checked by default (the pool key is known)');
    assert.ok(before.fwd_maglev! > 0, 'the clients\' initiations went through the program');
    assert.equal(before.drop_mac1, 0, 'every real wireguard-go initiation so far passed the mac1 check');
    const drops0 = backlogDrops();
    const pings = Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 40, 0.1, 2)));
    await sleep(500);
    const t0 = Date.now();
    const vipPort = String(lab.plan.pool.listenPort);
    // One real initiation (valid mac1 under the pool key) sent again and again: passes mac1, meets the rate buckets.
    const replay = Buffer.from(new Initiator({ privateKey: generateKeyPair().privateKey, peerPublicKey: parseKey(lab.pool.publicKey) }).createInitiation().message).toString('hex');
    const [junk, forged, replayed] = await Promise.all([
      run('ip', ['netns', 'exec', FLOOD_NS, process.execPath, '-e', FLOOD_JS, tier.vip, vipPort, 'junk', '30000', '15000', '5']),
      run('ip', ['netns', 'exec', FLOOD_NS, process.execPath, '-e', FLOOD_JS, tier.vip, vipPort, 'forged', '10000', '5000', '5']),
      run('ip', ['netns', 'exec', FLOOD_NS, process.execPath, '-e', FLOOD_JS, tier.vip, vipPort, `replay:${replay}`, '3000', '1000', '5']),
    ]);
    const floodS = (Date.now() - t0) / 1000;
    const results = await pings;
    const afterC = await counters();
    const d = Object.fromEntries(Object.entries(afterC).map(([k, v]) => [k, v - (before[k] ?? 0)]));
    console.log(`# flood: ${junk.stdout.trim()} junk + ${forged.stdout.trim()} forged initiations (random mac1) + ${replayed.stdout.trim()} copies of one valid initiation from ${addr} in ${floodS.toFixed(1)} s`);
    console.log(`# counter deltas: ${Object.entries(d).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    const sent = results.reduce((a, r) => a + r.sent, 0);
    const received = results.reduce((a, r) => a + r.received, 0);
    console.log(`# clients: ${received}/${sent} pings answered during the flood`);
    const backlog = backlogDrops() - drops0;
    console.log(`# kernel receive-backlog drops during the flood (before any program runs): ${backlog}`);
    if (backlog === 0) {
      results.forEach((r, i) => assert.equal(r.received, r.sent, `${lab.plan.clients[i]!.name} lost no ping`));
    } else {
      // The machine could not even queue the packets: no program sees those, the guard cannot help. Say so, and check the clients recovered.
      console.log(`# NOTE: the host dropped ${backlog} packets in its receive backlog (overloaded); pings lost: ${sent - received}`);
      const again = await Promise.all(lab.plan.clients.map((c) => ping(c.netns, lab.plan.pool.serverTunnelIp, 5, 0.2, 3)));
      again.forEach((r, i) => assert.equal(r.received, r.sent, `${lab.plan.clients[i]!.name} pings after the flood`));
    }
    assert.ok(d.drop_type! > 0 && d.drop_size! > 0 && d.drop_reserved! > 0, 'junk dropped by type, size and reserved bytes');
    // The sender stops at its time limit on a loaded machine: bound by what it did send.
    const forgedSent = Number(forged.stdout.trim());
    // Random mac1: every forged initiation the program saw is dropped by the mac1 check, before the
    // rate buckets (so they use up none of the real clients' budget).
    assert.ok(d.drop_mac1! >= forgedSent - backlog && d.drop_mac1! <= forgedSent, `forged initiations dropped as drop_mac1 (${d.drop_mac1} of ${forgedSent})`);
    // The copies of a valid initiation pass mac1; beyond the source's burst and rate they are rate-limited.
    const replaySent = Number(replayed.stdout.trim());
    const allowed = DEFAULT_GUARD_LIMITS.perSourceBurst + DEFAULT_GUARD_LIMITS.perSourceRate * Math.ceil(floodS + 2);
    assert.ok(d.drop_rate_source! >= replaySent - allowed - backlog && d.drop_rate_source! <= replaySent, `valid initiations beyond the source's burst and rate rate-limited (${d.drop_rate_source} of ${replaySent})`);
    // The clients' transport packets go by receiver index; what went by flow table or Maglev are
    // the copies the per-source bucket let through and the clients' own handshakes: no forged one.
    const passed = d.fwd_maglev! + d.fwd_flow!;
    console.log(`# initiations forwarded to a backend during the flood: ${passed} (valid copies within the per-source bucket: burst ${DEFAULT_GUARD_LIMITS.perSourceBurst}, ${DEFAULT_GUARD_LIMITS.perSourceRate}/s; the clients' own)`);
    assert.ok(passed <= allowed + 2 * CLIENTS, `at most the bucket's burst + rate x duration got through, no forged initiation (${passed})`);
  });

  test('roaming on bpf: a source port change, then a NAT rebinding to a new source address, mid-ping keep the backend and the handshake', async () => {
    const r = await roam(lab.plan.clients[0]!, 28000 + Math.floor(Math.random() * 900), 240);
    console.log(`# bpf roaming: ${r.during.received}/${r.during.sent} pings answered across both changes (lost ${r.during.sent - r.during.received}), then ${r.after.received}/${r.after.sent}; `
      + `backend ${r.o0.backend} -> ${r.o1.backend} (Maglev alone would have sent the new tuples to ${r.hashed.join(', then ')}), latest handshake ${r.o0.at} -> ${r.o1.at}; packets steered by receiver index: ${r.indexSteered}`);
    assert.equal(r.o1.backend, r.o0.backend, 'same backend');
    assert.equal(r.o1.at, r.o0.at, 'same handshake (latest handshake unchanged)');
    assert.equal(r.endpoint, `${r.newAddr}:${r.newPort}`, 'the backend sees the client at its new address and port');
    assert.equal(r.after.received, r.after.sent, 'the session carries on from the new address and port');
    assert.ok(r.indexSteered > 0, 'the transport packets were steered by their receiver index');
  });

  test('the same port change and NAT rebinding on the nft data path (printed for comparison)', async () => {
    const lb = [...lab.state.pids].reverse().find((p) => p.what.startsWith('lb '));
    assert.ok(lb);
    process.kill(lb.pid, 'SIGKILL'); // its BPF program stays attached; the nft LB detaches it
    await until('the bpf LB to stop', async () => (await lbStatus(lab)) === null, 30_000);
    startLb(lab, 0, ['--dataplane', 'nft']);
    await tableFull('nft');
    const r = await roam(lab.plan.clients[1]!, 28900 + Math.floor(Math.random() * 99), 241);
    console.log(`# nft roaming: ${r.during.received}/${r.during.sent} pings answered across both changes (lost ${r.during.sent - r.during.received}), then ${r.after.received}/${r.after.sent}; `
      + `backend ${r.o0.backend} -> ${r.o1.backend} (new tuples hashed to ${r.hashed.join(', then ')}), latest handshake ${r.o0.at} -> ${r.o1.at}${r.o1.at !== r.o0.at ? ' (a new handshake)' : ''}`);
    assert.ok(r.during.sent > 0);
  });
});
