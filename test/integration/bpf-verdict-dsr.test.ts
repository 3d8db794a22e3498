/**
 * Verdicts of the BPF data path with direct server return (`--return-path dsr`), without a NIC:
 * the real program, loaded and fed by BpfDataPath, on crafted packets through BPF_PROG_TEST_RUN
 * in a namespace of its own (deleted also on failure). The packet must leave unchanged (VIP:port,
 * TTL, checksums) and be redirected; the chosen backend is the one nft's jhash + Maglev picks,
 * kept in the flow table; a backend behind a gateway is refused by user space
 * (WGF_ERR_DSR_OFF_LINK, nothing written) and dropped by the program (drop_dsr_off_link).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BpfDataPath } from '../../src/lb/dataplane/bpf.js';
import { buildMaglevTable, DEFAULT_FLOW_SEED, flowHash, lookup, sortByName } from '../../src/lb/maglev.js';
import type { NftVip } from '../../src/lb/nft.js';
import { run } from '../../src/sys/exec.js';
import { addrsOf, checksumsOk, progRun, TC_ACT_REDIRECT, TC_ACT_SHOT, TC_ACT_UNSPEC, udpFrame, wgMessage } from './fixtures/bpf-run.js';

const root = process.getuid?.() === 0;
const NS = `wgf-ds-v${randomBytes(3).toString('hex')}`;
const VIP = '198.18.251.2';
const PORT = 42600;
const SIZE = 251;
const BACKENDS = [
  { name: 'b1', address: '198.18.250.10', port: PORT },
  { name: 'b2', address: '198.18.250.11', port: PORT },
  { name: 'b3', address: '198.18.250.12', port: PORT },
];
let dp: BpfDataPath;
let ifindex: number;
let n = 0;

const specOf = (backends: { name: string; address: string; port: number }[]): NftVip =>
  ({ vip: VIP, port: PORT, affinity: 'src-ip-port', backends, table: buildMaglevTable(backends.map((b) => ({ name: b.name, weight: 1 })), SIZE) });

async function send(src: string, sport: number, payload: Buffer, dst = VIP, dport = PORT) {
  return progRun(NS, dp.programId!, udpFrame(src, sport, dst, dport, payload), ifindex);
}

describe('BPF data path verdicts with direct server return', { skip: root ? false : 'needs root' }, () => {
  before(async () => {
    await run('ip', ['netns', 'add', NS]);
    await run('ip', ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], { netns: NS });
    await run('ip', ['addr', 'add', '198.18.250.1/24', 'dev', 'v0'], { netns: NS });
    for (const d of ['v0', 'v1', 'lo']) await run('ip', ['link', 'set', d, 'up'], { netns: NS });
    await run('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: NS });
    // A backend subnet behind a (made-up) router: not on the LB's L2 segment.
    await run('ip', ['route', 'add', '198.18.249.0/24', 'via', '198.18.250.254'], { netns: NS });
    ifindex = (JSON.parse((await run('ip', ['-j', 'link', 'show', 'v1'], { netns: NS })).stdout) as { ifindex: number }[])[0]!.ifindex;
    dp = new BpfDataPath({ vip: VIP, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'dsr', instance: 'dsv', netns: NS, interfaces: ['v1'] });
    await dp.open();
    await dp.write(undefined, specOf(BACKENDS));
  });
  after(async () => {
    await run('ip', ['netns', 'delete', NS], { allowFailure: true });
  });

  test('every message type leaves unchanged (VIP:port, TTL, checksums), redirected, to the backend nft would pick, and stays there', async () => {
    const spec = specOf(BACKENDS);
    const seen = new Set<string>();
    const c0 = await dp.counters();
    for (let i = 0; i < 30; i++) {
      n++;
      const src = `198.18.250.${100 + (n % 100)}`;
      const sport = 30000 + n;
      const init = udpFrame(src, sport, VIP, PORT, wgMessage(1, 148, { sender: n }));
      const r = await progRun(NS, dp.programId!, init, ifindex);
      assert.equal(r.ret, TC_ACT_REDIRECT, `redirected ${JSON.stringify(await dp.counters())}`);
      assert.deepEqual(r.out.subarray(14), init.subarray(14), 'IP header and payload unchanged');
      const a = addrsOf(r.out);
      assert.deepEqual([a.src, a.sport, a.dst, a.dport, a.ttl], [src, sport, VIP, PORT, 64]);
      assert.ok(checksumsOk(r.out));
      const want = sortByName(spec.backends)[lookup(spec.table, flowHash(src, sport, DEFAULT_FLOW_SEED))]!;
      const flow = (await dp.flows()).find((f) => f.client.address === src && f.client.port === sport);
      assert.deepEqual(flow?.target, { address: want.address, port: want.port }, `flow ${src}:${sport} on the predicted backend`);
      seen.add(want.name);
      // The transport data of that flow: same verdict, no reply ever learned (replies bypass the LB).
      assert.equal((await send(src, sport, wgMessage(4, 64, { receiver: 0x7000 + n }))).ret, TC_ACT_REDIRECT);
    }
    assert.equal(seen.size, 3, 'all backends get flows');
    const c1 = await dp.counters();
    assert.equal(c1.fwd_dsr! - c0.fwd_dsr!, 60);
    assert.equal(c1.fwd_maglev! - c0.fwd_maglev!, 30);
    assert.equal(c1.learned! - c0.learned!, 0);
    assert.equal(c1.unknown_index! - c0.unknown_index!, 0, 'no receiver-index lookup with dsr');
  });

  test('a packet from a backend to a client is not touched (TC_ACT_UNSPEC): no reply rewriting with dsr', async () => {
    const f = (await dp.flows())[0]!;
    const r = await send(VIP, PORT, wgMessage(2, 92, { sender: 99, receiver: 1 }), f.client.address, f.client.port);
    assert.equal(r.ret, TC_ACT_UNSPEC);
    const r2 = await send(f.target.address, f.target.port, wgMessage(2, 92, { sender: 98, receiver: 1 }), f.client.address, f.client.port);
    assert.equal(r2.ret, TC_ACT_UNSPEC);
    assert.equal((await dp.indexes()).length, 0, 'no receiver index learned');
  });

  test('a backend behind a gateway or on another port: refused by user space (WGF_ERR_DSR_OFF_LINK, table unchanged)', async () => {
    const before = await dp.readSlots();
    for (const bad of [{ name: 'b4', address: '198.18.249.10', port: PORT }, { name: 'b4', address: '198.18.250.13', port: PORT + 1 }]) {
      await assert.rejects(dp.write(specOf(BACKENDS), specOf([...BACKENDS, bad])), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'WGF_ERR_DSR_OFF_LINK');
        console.log(`# refused: ${e.message}`);
        return true;
      });
    }
    assert.deepEqual(await dp.readSlots(), before, 'nothing written');
  });

  test('...and dropped by the program (drop_dsr_off_link) if such a backend is in the table anyway', async () => {
    // Written behind the check's back (a route that changed after the check).
    const off = [{ name: 'b1', address: '198.18.249.10', port: PORT }];
    const raw = new BpfDataPath({ vip: VIP, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', instance: 'dsv2', netns: NS, interfaces: ['v1'], adoptOnly: true });
    await raw.open();
    await raw.write(undefined, specOf(off));
    // via-lb's write turned dsr off: a second dsr writer writes the config again, told the
    // backend is already there (so it does not check its route).
    const dsr2 = new BpfDataPath({ vip: VIP, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'dsr', instance: 'dsv3', netns: NS, interfaces: ['v1'], adoptOnly: true });
    await dsr2.open();
    await dsr2.write(specOf(off), specOf(off));
    const before = (await dp.counters()).drop_dsr_off_link!;
    n++;
    const r = await send(`198.18.250.${100 + (n % 100)}`, 40000 + n, wgMessage(1, 148, { sender: n }));
    assert.equal(r.ret, TC_ACT_SHOT);
    assert.equal((await dp.counters()).drop_dsr_off_link! - before, 1);
  });
});
