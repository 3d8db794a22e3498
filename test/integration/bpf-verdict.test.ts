/**
 * Verdicts of the BPF data path (wglb.bpf.c) without a NIC: the real program, loaded and fed by
 * BpfDataPath as `lb run --dataplane bpf` does, runs on crafted packets through
 * BPF_PROG_TEST_RUN (`bpftool prog run`) in a namespace of its own. Needs root; the namespace
 * (and with it the tc filter, the program and its maps) is deleted also on failure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BpfDataPath } from '../../src/lb/dataplane/bpf.js';
import { buildMaglevTable, DEFAULT_FLOW_SEED, flowHash, lookup, sortByName } from '../../src/lb/maglev.js';
import type { NftVip } from '../../src/lb/nft.js';
import { run } from '../../src/sys/exec.js';
import { generateKeyPair, toBase64 } from '../../src/wg/keys.js';
import { computeMac1, mac1Key } from '../../src/wg/macs.js';
import { Initiator } from '../../src/wg/noise.js';
import { WIREGUARD_GO_INITIATION_HEX, WIREGUARD_GO_SERVER_PUBLIC_KEY } from '../../src/wg/testing/wireguard-go-initiation.js';
import { addrsOf, checksumsOk, progRun, udpFrame, VERDICTS, wgMessage } from './fixtures/bpf-run.js';

const root = process.getuid?.() === 0;

const VIP = '198.18.251.2';
const PORT = 28100;
const SIZE = 251;
let clientN = 0;
const BACKENDS = [
  { name: 'b1', address: '198.18.250.10', port: 51820 },
  { name: 'b2', address: '198.18.250.11', port: 51821 },
  { name: 'b3', address: '198.18.250.12', port: 51822 },
];

function specOf(backends: typeof BACKENDS): NftVip {
  return { vip: VIP, port: PORT, affinity: 'src-ip-port', backends, table: buildMaglevTable(backends.map((b) => ({ name: b.name, weight: 1 })), SIZE) };
}

/** The backend the nft path (jhash + Maglev) picks for a new flow. */
function predicted(s: NftVip, src: string, sport: number): { address: string; port: number } {
  const b = sortByName(s.backends)[lookup(s.table, flowHash(src, sport, DEFAULT_FLOW_SEED))]!;
  return { address: b.address, port: b.port };
}

/** A fresh client address:port (a new flow). */
function client(): { src: string; sport: number } {
  clientN++;
  return { src: `198.18.250.${100 + (clientN % 100)}`, sport: 30000 + clientN };
}

for (const attach of ['tc', 'xdp'] as const) describe(`BPF data path verdicts at ${attach} (BPF_PROG_TEST_RUN)`, { skip: root ? false : 'needs root' }, () => {
  const NS = `wgf-bp-${attach}${randomBytes(3).toString('hex')}`;
  const V = VERDICTS[attach];
  let dp: BpfDataPath;
  let ifindex: number;
  let progId: number;
  let spec: NftVip;

  async function send(src: string, sport: number, payload: Buffer, dst = VIP, dport = PORT, frame?: Buffer) {
    return progRun(NS, progId, frame ?? udpFrame(src, sport, dst, dport, payload), ifindex, attach);
  }

  async function delta(name: string, f: () => Promise<unknown>): Promise<number> {
    const before = (await dp.counters())[name]!;
    await f();
    return (await dp.counters())[name]! - before;
  }

  before(async () => {
    await run('ip', ['netns', 'add', NS]);
    await run('ip', ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], { netns: NS });
    await run('ip', ['addr', 'add', '198.18.250.1/24', 'dev', 'v0'], { netns: NS });
    for (const d of ['v0', 'v1', 'lo']) await run('ip', ['link', 'set', d, 'up'], { netns: NS });
    await run('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: NS });
    ifindex = (JSON.parse((await run('ip', ['-j', 'link', 'show', 'v1'], { netns: NS })).stdout) as { ifindex: number }[])[0]!.ifindex;
    dp = new BpfDataPath({
      vip: VIP, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', instance: 'bpv', netns: NS,
      ...(attach === 'xdp' ? { interfaces: ['v0', 'v1'], attach, xdpVeth: true } : { interfaces: ['v1'] }),
      guard: { perSourceRate: 1, perSourceBurst: 3, globalRate: 0, globalBurst: 0 }, indexTtlMs: 1500,
    });
    await dp.open();
    progId = dp.programId!;
    if (attach === 'xdp') {
      assert.equal(dp.attachMode, 'xdp');
      assert.deepEqual([...dp.xdp!.redirect].sort(), ['v0', 'v1']);
      progId = (JSON.parse((await run('ip', ['-j', 'link', 'show', 'v1'], { netns: NS })).stdout) as { xdp?: { prog?: { id: number } } }[])[0]!.xdp!.prog!.id;
      // XDP forwards only to resolved neighbours: backends and clients .10-.199 get one; .250 has none.
      const neigh = Array.from({ length: 190 }, (_, i) => `neigh replace 198.18.250.${10 + i} lladdr 02:00:00:00:fa:${(10 + i).toString(16).padStart(2, '0')} dev v0 nud permanent`);
      await run('ip', ['-batch', '-'], { netns: NS, input: neigh.join('\n') + '\n' });
    }
    spec = specOf(BACKENDS);
    await dp.write(undefined, spec);
  });
  after(async () => {
    await run('ip', ['netns', 'delete', NS], { allowFailure: true });
  });

  test('the table reads back as written, and new flows go where nft jhash + Maglev sends them', async () => {
    const slots = await dp.readSlots();
    assert.equal(slots?.length, SIZE);
    const sorted = sortByName(BACKENDS);
    for (let s = 0; s < SIZE; s++) assert.deepEqual(slots![s], { address: sorted[spec.table[s]!]!.address, port: sorted[spec.table[s]!]!.port });
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const c = client();
      const r = await send(c.src, c.sport, wgMessage(1, 148, { sender: 1000 + i }));
      assert.equal(r.ret, V.forward);
      const a = addrsOf(r.out);
      assert.deepEqual({ address: a.dst, port: a.dport }, predicted(spec, c.src, c.sport), `flow ${c.src}:${c.sport}`);
      assert.equal(a.src, c.src, 'via-lb keeps the client address');
      assert.equal(a.ttl, 63);
      assert.ok(checksumsOk(r.out), 'IP and UDP checksums still verify');
      seen.add(a.dst);
    }
    assert.equal(seen.size, 3, 'all backends get flows');
  });

  const sizes: [string, number, number, string | null][] = [
    ['initiation 148', 1, 148, null], ['initiation 147', 1, 147, 'drop_size'], ['initiation 149', 1, 149, 'drop_size'],
    ['response 92', 2, 92, null], ['response 93', 2, 93, 'drop_size'], ['cookie 64', 3, 64, null], ['cookie 60', 3, 60, 'drop_size'],
    ['transport 32', 4, 32, null], ['transport 48', 4, 48, null], ['transport 1440', 4, 1440, null], ['transport 31', 4, 31, 'drop_size'],
    ['transport 40', 4, 40, 'drop_size'], ['type 0', 0, 32, 'drop_type'], ['type 5', 5, 148, 'drop_type'], ['type 255', 255, 64, 'drop_type'],
    ['empty', 0, 0, 'drop_size'], ['3 bytes', 4, 3, 'drop_size'],
  ];
  for (const [name, type, size, reason] of sizes) {
    test(`guard: ${name} -> ${reason ?? 'forwarded'}`, async () => {
      const c = client();
      let r: { ret: number; out: Buffer } | undefined;
      const d = await delta(reason ?? 'drop_size', async () => { r = await send(c.src, c.sport, wgMessage(type, size, { receiver: 0xdead0000 + clientN })); });
      assert.equal(r!.ret, reason ? V.drop : V.forward);
      assert.equal(d, reason ? 1 : 0);
    });
  }

  test('guard: bytes 1..3 must be zero', async () => {
    for (const i of [1, 2, 3]) {
      const m = wgMessage(1, 148);
      m[i] = 1;
      const c = client();
      const d = await delta('drop_reserved', async () => assert.equal((await send(c.src, c.sport, m)).ret, V.drop));
      assert.equal(d, 1);
    }
  });

  test('other ports of the VIP and other destinations are left to the stack', async () => {
    const c = client();
    assert.equal((await send(c.src, c.sport, Buffer.from('junk'), VIP, PORT + 1)).ret, V.pass);
    assert.equal((await send(c.src, c.sport, Buffer.from('junk'), '198.18.250.1', 53)).ret, V.pass);
  });

  test('learned receiver index: a roaming client (new address and port) keeps its backend; unknown indices fall back to Maglev', async () => {
    const c = client();
    const first = await send(c.src, c.sport, wgMessage(1, 148, { sender: 7 }));
    const backend = addrsOf(first.out);
    // The backend answers with a response whose sender index is its own index for this session.
    const index = 0x51d00000 + clientN;
    const learned = await delta('learned', async () => {
      const reply = await send(backend.dst, backend.dport, wgMessage(2, 92, { sender: index, receiver: 7 }), c.src, c.sport);
      assert.equal(reply.ret, V.forward);
      const a = addrsOf(reply.out);
      assert.deepEqual([a.src, a.sport, a.dst, a.dport], [VIP, PORT, c.src, c.sport], 'the reply leaves from VIP:port');
      assert.ok(checksumsOk(reply.out));
    });
    assert.equal(learned, 1);
    assert.ok((await dp.indexes()).some((i) => i.index === index && i.target.address === backend.dst));
    // Roam to sources Maglev would send elsewhere: transport and cookie follow the index.
    let moved = 0;
    for (let i = 0; i < 30 && moved < 3; i++) {
      const r = client();
      if (predicted(spec, r.src, r.sport).address === backend.dst) continue;
      moved++;
      for (const m of [wgMessage(4, 64, { receiver: index }), wgMessage(3, 64, { receiver: index })]) {
        const out = await send(r.src, r.sport, m);
        assert.equal(addrsOf(out.out).dst, backend.dst, `roamed to ${r.src}:${r.sport}: same backend`);
      }
    }
    assert.equal(moved, 3);
    // An index nobody learned: Maglev, counted.
    const u = client();
    const unknown = await delta('unknown_index', async () => {
      const out = await send(u.src, u.sport, wgMessage(4, 32, { receiver: 0x0badf00d }));
      assert.equal(addrsOf(out.out).dst, predicted(spec, u.src, u.sport).address);
    });
    assert.equal(unknown, 1);
  });

  test('learned indices expire (index TTL) and fall back to the flow table / Maglev', async () => {
    const c = client();
    const b = addrsOf((await send(c.src, c.sport, wgMessage(1, 148))).out);
    const index = 0x7e570000 + clientN;
    await send(b.dst, b.dport, wgMessage(2, 92, { sender: index }), c.src, c.sport);
    let r = client();
    while (predicted(spec, r.src, r.sport).address === b.dst) r = client();
    assert.equal(addrsOf((await send(r.src, r.sport, wgMessage(4, 32, { receiver: index }))).out).dst, b.dst);
    await sleep(1700);
    let r2 = client();
    while (predicted(spec, r2.src, r2.sport).address === b.dst) r2 = client();
    assert.equal(addrsOf((await send(r2.src, r2.sport, wgMessage(4, 32, { receiver: index }))).out).dst, predicted(spec, r2.src, r2.sport).address);
  });

  test('a learned initiation from a backend (type 1 from the backend) is learned too', async () => {
    const c = client();
    const b = addrsOf((await send(c.src, c.sport, wgMessage(1, 148))).out);
    const index = 0x1a170000 + clientN;
    await send(b.dst, b.dport, wgMessage(1, 148, { sender: index }), c.src, c.sport);
    let r = client();
    while (predicted(spec, r.src, r.sport).address === b.dst) r = client();
    assert.equal(addrsOf((await send(r.src, r.sport, wgMessage(2, 92, { sender: 9, receiver: index }))).out).dst, b.dst);
  });

  test('rate limit per source: burst 3 initiations pass, the rest are dropped and counted', async () => {
    const c = client();
    const verdicts: number[] = [];
    const d = await delta('drop_rate_source', async () => {
      for (let i = 0; i < 6; i++) verdicts.push((await send(c.src, c.sport + i, wgMessage(1, 148))).ret);
    });
    assert.deepEqual(verdicts.slice(0, 3), [V.forward, V.forward, V.forward]);
    assert.ok(verdicts.slice(3).every((v) => v === V.drop), `later initiations dropped: ${verdicts.join(',')}`);
    assert.equal(d, 3);
    // Transport from the same source is not rate-limited.
    assert.equal((await send(c.src, c.sport, wgMessage(4, 32))).ret, V.forward);
  });

  test('global rate cap: distinct sources beyond the global burst are dropped', async () => {
    dp.setGuard({ perSourceRate: 0, perSourceBurst: 0, globalRate: 1, globalBurst: 4 });
    await dp.write(spec, spec);
    const verdicts: number[] = [];
    const d = await delta('drop_rate_global', async () => {
      for (let i = 0; i < 8; i++) {
        const c = client();
        verdicts.push((await send(c.src, c.sport, wgMessage(1, 148))).ret);
      }
    });
    assert.equal(verdicts.filter((v) => v === V.forward).length, 4, verdicts.join(','));
    assert.equal(d, 4);
    dp.setGuard({ perSourceRate: 1, perSourceBurst: 3, globalRate: 0, globalBurst: 0 });
    await dp.write(spec, spec);
  });

  test('flow table: an established flow keeps its backend across a table change until its flows are deleted', async () => {
    const c = client();
    const b = addrsOf((await send(c.src, c.sport, wgMessage(1, 148))).out);
    const gone = BACKENDS.find((x) => x.address === b.dst)!;
    const smaller = specOf(BACKENDS.filter((x) => x !== gone));
    const w = await dp.write(spec, smaller);
    assert.equal(w.mode, 'delta');
    assert.ok(w.slots > 0 && w.slots < SIZE, `only the slots of ${gone.name} rewritten (${w.slots})`);
    assert.equal(addrsOf((await send(c.src, c.sport, wgMessage(4, 32))).out).dst, gone.address, 'kept (drain)');
    assert.ok((await dp.listFlowTargets(VIP, PORT)).some((t) => t.address === gone.address && t.port === gone.port));
    const n = await dp.deleteFlowsTo(VIP, PORT, gone.address, gone.port);
    assert.ok(n >= 1);
    assert.ok(!(await dp.listFlowTargets(VIP, PORT)).some((t) => t.address === gone.address));
    const after = addrsOf((await send(c.src, c.sport, wgMessage(4, 32))).out);
    assert.notEqual(after.dst, gone.address, 'cut: re-hashed to a live backend');
    assert.equal(after.dst, predicted(smaller, c.src, c.sport).address);
    await dp.write(smaller, spec);
  });

  test('no backends: packets to the VIP are dropped and counted', async () => {
    const empty: NftVip = { vip: VIP, port: PORT, affinity: 'src-ip-port', backends: [], table: new Int32Array(SIZE).fill(-1) };
    await dp.write(spec, empty);
    const c = client();
    const d = await delta('drop_no_backend', async () => assert.equal((await send(c.src, c.sport, wgMessage(1, 148))).ret, V.drop));
    assert.equal(d, 1);
    await dp.write(undefined, spec);
  });

  test('mac1: with the pool key set, a real initiation passes; a flipped bit in the message or in mac1, or another pool\'s key, is dropped as drop_mac1; no key: not checked', async () => {
    const pool = generateKeyPair();
    const other = generateKeyPair();
    const initiation = (to: Uint8Array): Buffer => Buffer.from(new Initiator({ privateKey: generateKeyPair().privateKey, peerPublicKey: to }).createInitiation().message);
    const verdict = async (m: Buffer): Promise<{ ret: number; mac1: number }> => {
      const c = client();
      let ret = -1;
      const mac1 = await delta('drop_mac1', async () => { ret = (await send(c.src, c.sport, m)).ret; });
      return { ret, mac1 };
    };
    assert.equal(dp.mac1().verify, false, 'no key yet');
    await dp.setPoolKey(toBase64(pool.publicKey));
    assert.deepEqual(dp.mac1(), { verify: true });
    try {
      const good = initiation(pool.publicKey);
      assert.ok(computeMac1(good, mac1Key(pool.publicKey)).every((b, i) => b === good[116 + i]), 'the initiator wrote mac1 (TS implementation agrees)');
      assert.deepEqual(await verdict(good), { ret: V.forward, mac1: 0 }, 'valid mac1 passes');
      // An initiation captured from stock wireguard-go, with the key of the server it was made for.
      await dp.setPoolKey(WIREGUARD_GO_SERVER_PUBLIC_KEY);
      const real = Buffer.from(WIREGUARD_GO_INITIATION_HEX, 'hex');
      assert.deepEqual(await verdict(real), { ret: V.forward, mac1: 0 }, 'wireguard-go\'s initiation passes under its server\'s key');
      const realBad = Buffer.from(real);
      realBad[60] = realBad[60]! ^ 0x80;
      assert.deepEqual(await verdict(realBad), { ret: V.drop, mac1: 1 }, 'and one flipped bit drops it');
      await dp.setPoolKey(toBase64(pool.publicKey));
      for (const [what, byte] of [['message byte 0x2c', 0x2c], ['sender index', 4], ['message byte 115', 115], ['mac1 first byte', 116], ['mac1 last byte', 131]] as const) {
        const m = Buffer.from(initiation(pool.publicKey));
        m[byte] = m[byte]! ^ 0x10;
        assert.deepEqual(await verdict(m), { ret: V.drop, mac1: 1 }, `one flipped bit in ${what}: dropped as drop_mac1`);
      }
      const mac2 = Buffer.from(initiation(pool.publicKey));
      mac2[140] = mac2[140]! ^ 1;
      assert.deepEqual(await verdict(mac2), { ret: V.forward, mac1: 0 }, 'mac2 is left to the backends');
      assert.deepEqual(await verdict(initiation(other.publicKey)), { ret: V.drop, mac1: 1 }, 'another VIP\'s (pool\'s) key: dropped');
      const forged = wgMessage(1, 148, { sender: 0xf0f0 });
      assert.deepEqual(await verdict(forged), { ret: V.drop, mac1: 1 }, 'random mac1: dropped');
      // Only initiations carry a mac1 the LB can check: other types go on as before.
      assert.deepEqual(await verdict(wgMessage(4, 32)), { ret: V.forward, mac1: 0 });
      assert.deepEqual(await verdict(wgMessage(3, 64)), { ret: V.forward, mac1: 0 });
    } finally {
      await dp.setPoolKey(undefined);
    }
    assert.equal(dp.mac1().verify, false);
    assert.deepEqual(await verdict(initiation(other.publicKey)), { ret: V.forward, mac1: 0 }, 'no key: not checked');
  });

  test('xdp: what XDP cannot finish goes to tc untouched (partial checksum, unresolved neighbour); what it does is counted', { skip: attach !== 'xdp' }, async () => {
    const fwd = await delta('xdp_fwd', async () => assert.equal((await send('198.18.250.20', 40000, wgMessage(1, 148))).ret, V.forward));
    assert.equal(fwd, 1);
    // A local socket's packet over a veth: the UDP checksum holds only the pseudo-header sum.
    const frame = udpFrame('198.18.250.21', 40001, VIP, PORT, wgMessage(1, 148));
    const pseudo = [frame.readUInt16BE(26), frame.readUInt16BE(28), frame.readUInt16BE(30), frame.readUInt16BE(32), 17, frame.readUInt16BE(38)].reduce((a, b) => a + b);
    frame.writeUInt16BE(((pseudo & 0xffff) + (pseudo >>> 16)) & 0xffff, 40);
    const before = await dp.counters();
    assert.equal((await send('', 0, Buffer.alloc(0), VIP, PORT, frame)).ret, V.pass);
    const afterPartial = await dp.counters();
    assert.equal(afterPartial.xdp_pass! - before.xdp_pass!, 1);
    assert.equal(afterPartial.fwd_maglev! + afterPartial.fwd_flow! - before.fwd_maglev! - before.fwd_flow!, 0, 'left to tc: not counted as forwarded');
    assert.ok(!(await dp.flows()).some((f) => f.client.address === '198.18.250.21'), 'no flow written');
    // A reply to a client without a neighbour entry: passed, nothing learned (tc will learn it).
    const b = addrsOf((await send('198.18.250.250', 40002, wgMessage(1, 148))).out);
    const learned = await delta('learned', async () => {
      assert.equal((await send(b.dst, b.dport, wgMessage(2, 92, { sender: 0x9a550000, receiver: 1 }), '198.18.250.250', 40002)).ret, V.pass);
    });
    assert.equal(learned, 0);
  });

  test('restart: a second data path adopts the attached program with its flows', async () => {
    const again = new BpfDataPath({ vip: VIP, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', instance: 'bpv2', netns: NS,
      ...(attach === 'xdp' ? { interfaces: ['v0', 'v1'], attach, xdpVeth: true } : { interfaces: ['v1'] }) });
    await again.open();
    assert.equal(again.adopted, true);
    assert.equal(again.attachMode, attach);
    assert.equal(again.programId, dp.programId);
    assert.ok((await again.listFlowTargets(VIP, PORT)).length > 0);
  });
});
