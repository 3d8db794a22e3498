/**
 * What the mac1 check of the BPF data path costs per initiation: BPF_PROG_TEST_RUN with
 * `repeat` (`bpftool prog run ... repeat N` prints the kernel's average ns per run) on the real
 * program, loaded by BpfDataPath in a namespace of its own, at tc and at XDP. The VIP has no
 * backend, so every run ends in a drop and leaves the packet as it was (a forwarded packet is
 * rewritten in place, and the next repeat would see the backend's address): a valid initiation
 * runs guard, mac1 check (when on), backend pick and drop_no_backend; with the check off and on,
 * the difference is the check. Also a forged initiation (dropped by the check) and a transport
 * message (never checked). Rounds alternate the modes; medians are printed. Needs root; the
 * namespace is removed at the end, also on failure.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BpfDataPath } from '../src/lb/dataplane/bpf.js';
import { DEFAULT_FLOW_SEED } from '../src/lb/maglev.js';
import { run } from '../src/sys/exec.js';
import { generateKeyPair, toBase64 } from '../src/wg/keys.js';
import { Initiator } from '../src/wg/noise.js';
import { udpFrame, VERDICTS, wgMessage } from '../test/integration/fixtures/bpf-run.js';

const VIP = '198.18.251.2';
const PORT = 47400;
const REPEAT = Number(process.env.WGF_BENCH_MAC1_REPEAT ?? 200_000);
const ROUNDS = Number(process.env.WGF_BENCH_MAC1_ROUNDS ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(ns: string, prog: number, frame: Buffer, ifindex: number, kind: 'tc' | 'xdp', dir: string): Promise<{ ret: number; ns: number }> {
  const ctx = Buffer.alloc(kind === 'tc' ? 192 : 24);
  if (kind === 'tc') {
    ctx.writeUInt32LE(ifindex, 36);
    ctx.writeUInt32LE(ifindex, 40);
  } else {
    ctx.writeUInt32LE(frame.length, 4);
    ctx.writeUInt32LE(ifindex, 12);
  }
  writeFileSync(join(dir, 'in'), frame);
  writeFileSync(join(dir, 'ctx'), ctx);
  const r = await run('bpftool', ['prog', 'run', 'id', String(prog), 'data_in', join(dir, 'in'), 'data_out', join(dir, 'out'), 'ctx_in', join(dir, 'ctx'), 'repeat', String(REPEAT)], { netns: ns });
  const m = /Return value: (\d+), duration[^:]*: (\d+)ns/.exec(r.stdout + r.stderr);
  if (!m) throw new Error(`bpftool prog run printed no duration: ${r.stdout} ${r.stderr}`);
  return { ret: Number(m[1]), ns: Number(m[2]) };
}

export async function benchMac1(report: (line: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) {
    report('mac1: skipped (needs root)');
    return;
  }
  const pool = generateKeyPair();
  const valid = Buffer.from(new Initiator({ privateKey: generateKeyPair().privateKey, peerPublicKey: pool.publicKey }).createInitiation().message);
  const forged = Buffer.from(valid);
  forged[120] = forged[120]! ^ 1;
  const dir = mkdtempSync(join(tmpdir(), 'wgf-mac-bench-'));
  const figures: Record<string, string> = {};
  try {
    for (const attach of ['tc', 'xdp'] as const) {
      const ns = `wgf-mac-b${attach}${randomBytes(2).toString('hex')}`;
      try {
        await run('ip', ['netns', 'add', ns]);
        await run('ip', ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], { netns: ns });
        await run('ip', ['addr', 'add', '198.18.250.1/24', 'dev', 'v0'], { netns: ns });
        for (const d of ['v0', 'v1', 'lo']) await run('ip', ['link', 'set', d, 'up'], { netns: ns });
        await run('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: ns });
        for (const [a, mac] of [['198.18.250.10', '02:00:00:00:fa:0a'], ['198.18.250.20', '02:00:00:00:fa:14']]) {
          await run('ip', ['neigh', 'replace', a!, 'lladdr', mac!, 'dev', 'v0', 'nud', 'permanent'], { netns: ns });
        }
        const ifindex = (JSON.parse((await run('ip', ['-j', 'link', 'show', 'v1'], { netns: ns })).stdout) as { ifindex: number }[])[0]!.ifindex;
        const dp = new BpfDataPath({
          vip: VIP, port: PORT, seed: DEFAULT_FLOW_SEED, returnPath: 'via-lb', instance: 'macbench', netns: ns,
          ...(attach === 'xdp' ? { interfaces: ['v0', 'v1'], attach, xdpVeth: true } : { interfaces: ['v1'] }),
          guard: { perSourceRate: 0, perSourceBurst: 0, globalRate: 0, globalBurst: 0 },
        });
        await dp.open();
        await dp.write(undefined, { vip: VIP, port: PORT, affinity: 'src-ip-port', backends: [], table: new Int32Array(251).fill(-1) });
        let prog = dp.programId!;
        if (attach === 'xdp') prog = (JSON.parse((await run('ip', ['-j', 'link', 'show', 'v1'], { netns: ns })).stdout) as { xdp?: { prog?: { id: number } } }[])[0]!.xdp!.prog!.id;
        const frame = (p: Buffer): Buffer => udpFrame('198.18.250.20', 40000, VIP, PORT, p);
        const V = VERDICTS[attach];
        const c0 = await dp.counters();
        const t: Record<string, number[]> = { off: [], on: [], forged: [], transport: [] };
        for (let r = 0; r < ROUNDS; r++) {
          await dp.setPoolKey(undefined);
          const off = await timed(ns, prog, frame(valid), ifindex, attach, dir);
          const tr = await timed(ns, prog, frame(wgMessage(4, 32)), ifindex, attach, dir);
          await dp.setPoolKey(toBase64(pool.publicKey));
          const on = await timed(ns, prog, frame(valid), ifindex, attach, dir);
          const bad = await timed(ns, prog, frame(forged), ifindex, attach, dir);
          if ([off, on, bad, tr].some((x) => x.ret !== V.drop)) {
            throw new Error(`unexpected verdicts at ${attach}: off ${off.ret}, on ${on.ret}, forged ${bad.ret}, transport ${tr.ret}`);
          }
          t.off!.push(off.ns);
          t.on!.push(on.ns);
          t.forged!.push(bad.ns);
          t.transport!.push(tr.ns);
        }
        const c1 = await dp.counters();
        const d = (k: string): number => c1[k]! - c0[k]!;
        if (d('drop_mac1') !== ROUNDS * REPEAT || d('drop_no_backend') !== 3 * ROUNDS * REPEAT) throw new Error(`unexpected counters at ${attach}: drop_mac1 +${d('drop_mac1')}, drop_no_backend +${d('drop_no_backend')}`);
        const [off, on, bad, tr] = [median(t.off!), median(t.on!), median(t.forged!), median(t.transport!)];
        report(`mac1 at ${attach}: initiation ${off} ns/run with the check off, ${on} ns with it on (valid mac1, then no backend); forged initiation dropped by the check in ${bad} ns; transport ${tr} ns (never checked); medians of ${ROUNDS} rounds x ${REPEAT} runs (min..max on: ${Math.min(...t.on!)}..${Math.max(...t.on!)})`);
        report(`mac1 at ${attach}: the check costs ${on - off} ns per initiation (on/off ${(on / off).toFixed(2)}); counters drop_mac1 +${d('drop_mac1')} drop_no_backend +${d('drop_no_backend')}`);
        figures[attach] = `${on - off} ns`;
        await dp.detach();
      } finally {
        await run('ip', ['netns', 'delete', ns], { allowFailure: true });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report(`mac1 check cost per initiation (BPF_PROG_TEST_RUN): tc ${figures.tc}, xdp ${figures.xdp}`);
}
