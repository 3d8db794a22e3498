/**
 * One contract for both LB data paths (src/lb/dataplane/port.ts): nft (nftables writer +
 * conntrack) and bpf (the tc program), each in a fresh set of namespaces with real packets:
 *
 *   client ns --veth-- lb ns (VIP) --veth-- 3 backend ns (a UDP sink each)
 *
 * The same cases, the same table, the same flows, the same expected verdicts: the kernel holds
 * the table written; every new flow reaches the backend jhash + Maglev predicts; a table change
 * written as a delta keeps established flows where they are and sends new ones by the new table;
 * the flow table lists the flows per backend; deleting a backend's flows re-hashes them. Both
 * paths must pass every case unchanged. Needs root; the namespaces (and with them the nft table,
 * the tc filter, the BPF program and its maps) are removed also on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { BpfDataPath } from '../../src/lb/dataplane/bpf.js';
import { nftTableWriter } from '../../src/lb/dataplane/nft-writer.js';
import type { DataPath, DataPathKind } from '../../src/lb/dataplane/port.js';
import { conntrackPort } from '../../src/lb/conntrack.js';
import { defaultNftTable } from '../../src/lb/controller.js';
import { buildMaglevTable, DEFAULT_FLOW_SEED, flowHash, lookup, sortByName } from '../../src/lb/maglev.js';
import { applyRuleset, listTableJson } from '../../src/lb/nft-apply.js';
import { slotMapName, slotsFromNftJson, type NftVip } from '../../src/lb/nft.js';
import { run } from '../../src/sys/exec.js';
import { Sandbox } from '../../src/sys/netns.js';

const root = process.getuid?.() === 0;
const PORT = 49120;
const SIZE = 251;
/** Source ports of the flows every case sends (one datagram each, WireGuard transport-shaped). */
const FIRST = Array.from({ length: 24 }, (_, i) => 49200 + i);
const SECOND = Array.from({ length: 24 }, (_, i) => 49300 + i);

interface Topo {
  readonly box: Sandbox;
  readonly lb: string;
  readonly client: { readonly ns: string; readonly address: string };
  readonly vip: string;
  readonly backends: { readonly name: string; readonly address: string; readonly port: number; readonly ns: string }[];
  readonly legs: string[];
  /** Per backend name: the source ports (client's) whose datagrams its sink got. */
  readonly got: Map<string, number[]>;
}

const SINK_JS = `const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => console.log(r.port));
s.bind(Number(process.argv[1]), () => console.log('ready'));`;

const SEND_JS = `const dgram = require('node:dgram');
const [vip, port, ...sports] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
const msg = Buffer.alloc(32); msg[0] = 4;
(async () => {
  for (const sp of sports) {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise((r) => s.bind(sp, r));
    await new Promise((r) => s.send(msg, port, vip, r));
    s.close();
  }
})();`;

async function topology(kind: DataPathKind): Promise<Topo> {
  const box = new Sandbox(`bpc${kind[0]}`);
  const octet = 1 + Math.floor(Math.random() * 250);
  const base = `198.18.${octet}`;
  const addNs = async (s: string): Promise<string> => {
    const ns = await box.addNetns(s);
    await run('sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'], { netns: ns });
    return ns;
  };
  const lb = await addNs('lb');
  await run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { netns: lb });
  const client = { ns: await addNs('cl'), address: `${base}.2` };
  const { ifB: front } = await box.veth({ ns: client.ns, addr: `${client.address}/28` }, { ns: lb, addr: `${base}.1/28` }, 'c');
  await run('ip', ['route', 'add', 'default', 'via', `${base}.1`], { netns: client.ns });
  const vip = `${base}.100`;
  await run('ip', ['addr', 'add', `${vip}/32`, 'dev', front], { netns: lb });
  const backends: Topo['backends'] = [];
  const legs = [front];
  const got = new Map<string, number[]>();
  for (let i = 0; i < 3; i++) {
    const net = 16 * (i + 1);
    const ns = await addNs(`b${i}`);
    legs.push((await box.veth({ ns, addr: `${base}.${net + 2}/28` }, { ns: lb, addr: `${base}.${net + 1}/28` }, `v${i}`)).ifB);
    await run('ip', ['route', 'add', 'default', 'via', `${base}.${net + 1}`], { netns: ns });
    const b = { name: `be-${i}`, address: `${base}.${net + 2}`, port: PORT, ns };
    backends.push(b);
    got.set(b.name, []);
    const sink: ChildProcess = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SINK_JS, String(PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
    box.defer(async () => void sink.kill('SIGKILL'));
    await new Promise<void>((resolve) => {
      let buf = '';
      sink.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) if (l === 'ready') resolve(); else got.get(b.name)!.push(Number(l));
      });
    });
  }
  return { box, lb, client, vip, backends, legs, got };
}

function specOf(t: Topo, names: readonly string[]): NftVip {
  const backends = sortByName(t.backends.filter((b) => names.includes(b.name)).map((b) => ({ name: b.name, address: b.address, port: b.port })));
  return { vip: t.vip, port: PORT, affinity: 'src-ip-port', backends, table: buildMaglevTable(backends.map((b) => ({ name: b.name, weight: 1 })), SIZE) };
}

/** The backend name jhash + Maglev give a new flow from the client's sport. */
function predicted(t: Topo, spec: NftVip, sport: number): string {
  return spec.backends[lookup(spec.table, flowHash(t.client.address, sport, DEFAULT_FLOW_SEED))]!.name;
}

/** Sends one datagram per source port and returns, per port, the backend whose sink got it. */
async function send(t: Topo, sports: readonly number[]): Promise<Map<number, string>> {
  for (const l of t.got.values()) l.length = 0;
  await run('ip', ['netns', 'exec', t.client.ns, process.execPath, '-e', SEND_JS, t.vip, String(PORT), ...sports.map(String)]);
  const out = new Map<number, string>();
  for (let i = 0; i < 100 && out.size < sports.length; i++) {
    await sleep(50);
    for (const [name, ports] of t.got) for (const p of ports) out.set(p, name);
  }
  return out;
}

/** The data path under test, opened on the lb namespace, with the table read back. */
async function openDataPath(kind: DataPathKind, t: Topo): Promise<DataPath> {
  if (kind === 'bpf') {
    const dp = new BpfDataPath({ vip: t.vip, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', instance: 'contract', netns: t.lb, interfaces: t.legs, guard: { perSourceRate: 1000, perSourceBurst: 1000, globalRate: 10000, globalBurst: 10000 } });
    await dp.open();
    return dp;
  }
  const table = defaultNftTable(t.vip, PORT);
  const writer = nftTableWriter({ table, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', incremental: true, applier: { apply: (s) => applyRuleset(s, { netns: t.lb }) } });
  const ct = conntrackPort({ netns: t.lb });
  return {
    kind: 'nft',
    write: (from, to) => writer.write(from, to),
    deleteFlowsTo: (...a) => ct.deleteFlowsTo(...a),
    listFlowTargets: (...a) => ct.listFlowTargets(...a),
    readSlots: async () => slotsFromNftJson(await listTableJson('inet', table, { netns: t.lb }), slotMapName(t.vip, PORT)),
    counters: async () => ({}),
  };
}

for (const kind of ['nft', 'bpf'] as const) {
  describe(`LB data path contract: ${kind}`, { skip: root ? false : 'needs root', timeout: 300_000 }, () => {
    let t: Topo;
    let dp: DataPath;
    const all = ['be-0', 'be-1', 'be-2'];
    before(async () => {
      t = await topology(kind);
      dp = await openDataPath(kind, t);
    });
    after(async () => {
      await t?.box.cleanup();
    });

    test('holds the table written, slot for slot', async () => {
      const spec = specOf(t, all);
      const w = await dp.write(undefined, spec);
      assert.equal(w.mode, 'full');
      const slots = await dp.readSlots();
      assert.ok(slots);
      assert.equal(slots.length, SIZE);
      slots.forEach((s, i) => assert.deepEqual(s && { address: s.address, port: s.port }, { address: spec.backends[spec.table[i]!]!.address, port: PORT }, `slot ${i}`));
      assert.equal((await dp.write(spec, spec)).mode, 'none', 'writing the same table again changes nothing');
    });

    test('every new flow reaches the backend jhash + Maglev predicts', async () => {
      const spec = specOf(t, all);
      const got = await send(t, FIRST);
      for (const p of FIRST) assert.equal(got.get(p), predicted(t, spec, p), `flow from port ${p}`);
      const per = all.map((n) => `${n}=${FIRST.filter((p) => got.get(p) === n).length}`);
      console.log(`# ${kind}: ${FIRST.length} new flows as predicted: ${per.join(' ')}`);
    });

    test('a table change written as a delta keeps established flows and hashes new ones by the new table', async () => {
      const from = specOf(t, all);
      const to = specOf(t, ['be-0', 'be-1']);
      const w = await dp.write(from, to);
      assert.equal(w.mode, 'delta');
      const again = await send(t, FIRST);
      for (const p of FIRST) assert.equal(again.get(p), predicted(t, from, p), `established flow from port ${p} stays (also on be-2, which left the table)`);
      const fresh = await send(t, SECOND);
      for (const p of SECOND) assert.equal(fresh.get(p), predicted(t, to, p), `new flow from port ${p} by the new table`);
      assert.ok(![...fresh.values()].includes('be-2'));
    });

    test('lists flows per backend, and deleting a backend\'s flows re-hashes them by the current table', async () => {
      const from = specOf(t, all);
      const to = specOf(t, ['be-0', 'be-1']);
      const targets = await dp.listFlowTargets(t.vip, PORT);
      const count = (name: string): number => targets.find((x) => x.address === t.backends.find((b) => b.name === name)!.address)?.flows ?? 0;
      const onBe2 = FIRST.filter((p) => predicted(t, from, p) === 'be-2');
      assert.equal(count('be-2'), onBe2.length, 'flows on be-2');
      assert.equal(count('be-0') + count('be-1') + count('be-2'), FIRST.length + SECOND.length, 'every flow listed once');
      const be2 = t.backends[2]!;
      assert.equal(await dp.deleteFlowsTo(t.vip, PORT, be2.address, be2.port), onBe2.length);
      const moved = await send(t, onBe2);
      for (const p of onBe2) assert.equal(moved.get(p), predicted(t, to, p), `flow from port ${p} re-hashed after its backend's flows were deleted`);
      console.log(`# ${kind}: ${onBe2.length} flows of be-2 deleted and re-hashed onto ${[...new Set(moved.values())].join(', ')}`);
    });
  });
}
