import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AGENT_METRICS_PORT, labDown, labUp, type Lab } from '../../src/lab/lab.js';
import type { PeerBatchItem } from '../../src/protocol/api.js';
import { isFabricError } from '../../src/protocol/errors.js';
import type { Peer } from '../../src/protocol/types.js';
import { run } from '../../src/sys/exec.js';
import { UapiClient } from '../../src/wg/uapi.js';

/**
 * POST /v1/pools/{pool}/peers/batch against real wireguard-go devices: one batch that creates,
 * updates (allowed IPs, preshared key) and deletes peers, reusing a freed key and a freed
 * address in the same batch, reaches every backend whole (a sampler reading the devices all
 * along never sees a state between the one before and the one after), every agent reports its
 * revision as applied; a batch with one bad item changes nothing, on the control plane or on
 * any device.
 */
const BACKENDS = 2;
const tag = randomBytes(3).toString('hex');
const key = (): string => randomBytes(32).toString('base64');
const psk = (): string => randomBytes(32).toString('base64');
let lab: Lab;
let base: string;

/** What a device should hold per public key: allowed IPs (sorted) and the preshared key. */
type Want = Map<string, { allowedIps: string[]; psk?: string }>;
const render = (w: Want): string => [...w].sort(([a], [b]) => a.localeCompare(b))
  .map(([k, v]) => `${k} ${v.allowedIps.join(',')} ${v.psk ?? '-'}`).join('\n');

async function device(i: number): Promise<string> {
  const dev = await new UapiClient(lab.plan.backends[i]!.wgIface).get();
  const w: Want = new Map(dev.peers.map((p) => [p.publicKey, { allowedIps: [...p.allowedIps].sort(), ...(p.presharedKey ? { psk: p.presharedKey } : {}) }]));
  return render(w);
}

function wantOf(peers: Iterable<Peer>, psks: ReadonlyMap<string, string>): Want {
  const w: Want = new Map();
  for (const p of peers) {
    if (!p.enabled) continue;
    const s = psks.get(p.name);
    w.set(p.publicKey, { allowedIps: [...new Set([...p.addresses, ...p.allowedIps])].sort(), ...(s ? { psk: s } : {}) });
  }
  return w;
}

async function until(what: string, cond: () => Promise<boolean>, limitMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > limitMs) assert.fail(`timed out after ${limitMs} ms waiting for: ${what}`);
    await sleep(50);
  }
}

async function appliedMetric(i: number): Promise<number> {
  const text = await (await fetch(`http://${lab.plan.backends[i]!.address}:${AGENT_METRICS_PORT}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('wgfabric_agent_applied_revision'));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe(`peer batch on real wireguard-go (${BACKENDS} backends, run ${tag})`, { timeout: 600_000 }, () => {
  const pool = (): string => lab.plan.pool.name;
  const n = (s: string): string => `pb-${tag}-${s}`;
  /** Preshared keys by peer name (the API never sends them back to an admin). */
  const psks = new Map<string, string>();
  const peers = new Map<string, Peer>();
  let current = '';

  before(async () => {
    base = mkdtempSync(join(tmpdir(), `wgf-fb-batch-${tag}-`));
    try {
      lab = await labUp({ backends: BACKENDS, clients: 0, base, reconcileInterval: 30 });
    } catch (e) {
      rmSync(base, { recursive: true, force: true });
      throw e;
    }
  });
  after(async () => {
    if (lab) await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  });

  test('1. a first batch of 8 creations reaches both devices exactly', async () => {
    psks.set(n('a1'), psk());
    const items: PeerBatchItem[] = Array.from({ length: 8 }, (_, i) => ({
      op: 'create', peer: { name: n(`a${i}`), publicKey: key(), ...(psks.has(n(`a${i}`)) ? { presharedKey: psks.get(n(`a${i}`))! } : {}) },
    }));
    const r = await lab.api.peerBatch(pool(), items);
    assert.equal(r.results.length, 8);
    for (const x of r.results) peers.set(x.name, x.peer!);
    const others = (await lab.api.listPeers(pool(), { limit: 1000 })).items.filter((p) => !p.name.startsWith(`pb-${tag}-`));
    for (const p of others) peers.set(p.name, p);
    current = render(wantOf(peers.values(), psks));
    for (let i = 0; i < BACKENDS; i++) await until(`backend ${i + 1} holds the first batch`, async () => (await device(i)) === current);
    console.log(`# first batch (revision ${r.revision}): ${peers.size} peers on both devices`);
  });

  test('2. one batch creating, updating and deleting peers (a freed key and a freed address reused) reaches every device whole, and every agent reports its revision', async () => {
    const a3 = peers.get(n('a3'))!;
    const a4 = peers.get(n('a4'))!;
    const v4 = (p: Peer): string => p.addresses.find((a) => !a.includes(':'))!;
    psks.set(n('a2'), psk());
    psks.set(n('a1'), psk()); // rotated
    psks.set(n('r4'), psk());
    const items: PeerBatchItem[] = [
      { op: 'update', name: n('a0'), patch: { allowedIps: [`172.31.${1 + Math.floor(Math.random() * 250)}.0/24`] } },
      { op: 'update', name: n('a1'), patch: { presharedKey: psks.get(n('a1'))! } },
      { op: 'update', name: n('a2'), patch: { presharedKey: psks.get(n('a2'))! } },
      { op: 'delete', name: n('a3') },
      { op: 'delete', name: n('a4') },
      // a4's key and both its addresses, freed above, taken again in the same batch
      { op: 'create', peer: { name: n('r4'), publicKey: a4.publicKey, addresses: [...a4.addresses], presharedKey: psks.get(n('r4'))! } },
      // a3's IPv4 address, freed above, given to a new key
      { op: 'create', peer: { name: n('n3'), publicKey: key(), addresses: [v4(a3)] } },
      { op: 'create', peer: { name: n('c8'), publicKey: key() } },
      { op: 'create', peer: { name: n('c9'), publicKey: key(), allowedIps: [`172.30.${1 + Math.floor(Math.random() * 250)}.0/24`] } },
      { op: 'update', name: n('a5'), patch: { enabled: false } },
    ];
    const before = current;
    const states = new Set<string>();
    let sampling = true;
    let samples = 0;
    // Reads both devices all along: every state seen must be the one before or the one after.
    const sampler = (async () => {
      while (sampling) {
        for (let i = 0; i < BACKENDS; i++) { states.add(await device(i)); samples++; }
      }
    })();
    const t0 = Date.now();
    const r = await lab.api.peerBatch(pool(), items);
    peers.delete(n('a3'));
    peers.delete(n('a4'));
    psks.delete(n('a3'));
    for (const x of r.results) if (x.peer) peers.set(x.name, x.peer);
    assert.deepEqual(peers.get(n('r4'))!.addresses, a4.addresses, 'r4 got the addresses a4 freed in the same batch');
    assert.equal(peers.get(n('r4'))!.publicKey, a4.publicKey);
    assert.ok(peers.get(n('n3'))!.addresses.includes(v4(a3)), 'n3 got the IPv4 address a3 freed in the same batch');
    assert.ok(r.results.every((x) => !x.peer || x.peer.revision === r.revision), 'every change carries the batch revision');
    const after = render(wantOf(peers.values(), psks));
    assert.notEqual(after, before);
    current = after;
    try {
      for (let i = 0; i < BACKENDS; i++) await until(`backend ${i + 1} holds the batch`, async () => (await device(i)) === after);
    } finally {
      sampling = false;
      await sampler;
    }
    const ms = Date.now() - t0;
    const between = [...states].filter((s) => s !== before && s !== after);
    assert.deepEqual(between, [], 'no device was ever seen holding part of the batch');
    for (const b of lab.plan.backends) {
      const { stdout } = await run('wg', ['show', b.wgIface, 'dump'], { netns: b.netns });
      const rows = stdout.trim().split('\n').slice(1).map((l) => l.split('\t'));
      const fromWg = render(new Map(rows.map((c) => [c[0]!, { allowedIps: c[3]!.split(',').sort(), ...(c[1] !== '(none)' ? { psk: c[1]! } : {}) }])));
      assert.equal(fromWg, after, `wg show ${b.wgIface} dump`);
      console.log(`# ${b.name}: wg show ${b.wgIface} dump -> ${rows.length} peers, exactly the expected set (keys, allowed IPs, preshared keys)`);
    }
    await until('every agent reports the batch revision applied', async () => {
      const nodes = (await lab.api.listNodes(pool(), { limit: 100 })).items;
      return nodes.length === BACKENDS && nodes.every((x) => (x.status?.appliedRevision ?? 0) >= r.revision);
    });
    for (let i = 0; i < BACKENDS; i++) assert.ok((await appliedMetric(i)) >= r.revision, `backend ${i + 1} metric wgfabric_agent_applied_revision >= ${r.revision}`);
    console.log(`# batch of ${items.length} items (revision ${r.revision}): on both devices whole after ${ms} ms; ${samples} device reads meanwhile saw ${states.size} state(s), none in between; both agents report revision >= ${r.revision}`);
  });

  test('3. a batch with one bad item: 422 naming it, the pool\'s peers and every device unchanged', async () => {
    const listed = async () => (await lab.api.listPeers(pool(), { limit: 1000 })).items.map((p) => `${p.name}@${p.revision}`).sort().join(' ');
    const before = await listed();
    const items: PeerBatchItem[] = [
      { op: 'create', peer: { name: n('x1'), publicKey: key() } },
      { op: 'update', name: n('a0'), patch: { allowedIps: ['172.29.1.0/24'] } },
      { op: 'delete', name: n('a6') },
      { op: 'delete', name: n('no-such-peer') },
    ];
    await assert.rejects(lab.api.peerBatch(pool(), items), (e) => {
      assert.ok(isFabricError(e, 'WGF_ERR_BATCH_REJECTED'), String(e));
      const failed = (e.details?.['failed'] ?? []) as { index: number; code: string }[];
      assert.deepEqual(failed.map((f) => [f.index, f.code]), [[3, 'WGF_ERR_NOT_FOUND']]);
      return true;
    });
    assert.equal(await listed(), before, 'no peer changed on the control plane');
    // A marker written after the rejected batch: once it is on a device, everything before it
    // has been applied there too; the device must then be the old set plus the marker only.
    const marker = await lab.api.createPeer(pool(), { name: n('marker'), publicKey: key() });
    peers.set(marker.name, marker);
    const want = render(wantOf(peers.values(), psks));
    for (let i = 0; i < BACKENDS; i++) await until(`backend ${i + 1} holds the marker`, async () => (await device(i)).includes(marker.publicKey));
    for (let i = 0; i < BACKENDS; i++) assert.equal(await device(i), want, `backend ${i + 1}: the old set plus the marker, nothing of the rejected batch`);
    console.log(`# rejected batch (item 3 WGF_ERR_NOT_FOUND): pool peers unchanged, both devices hold the previous set + the marker only`);
  });
});
