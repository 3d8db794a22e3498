/**
 * Packet rate through the load balancer's VIP against direct routing, on one topology
 * (bench/pps-topology.ts) in three modes:
 *
 *   client ns --veth-- lb ns (forwarding) --veth-- 3 backend ns (one UDP sink each)
 *
 * - direct: the client sends each flow straight to the backend Maglev picks for it
 *   (lookup(table, flowHash(client, sport)) on the LB's own table); the lb namespace only
 *   routes and tracks nothing.
 * - direct+ct: the same direct routing, with conntrack on in the lb namespace (a firewall-style
 *   `ct state established,related accept` forward chain) and nothing NATed: the cost any
 *   stateful LB pays, and most hosts with a firewall already pay.
 * - VIP: the lb namespace holds the real ruleset (renderRuleset + applyRuleset, M = 65537,
 *   3 backends) and the client sends to VIP:port: DNAT + conntrack in the LB.
 * - VIP bpf: the BPF data path (tc program, guard on) with the same table instead of nftables
 *   (bench/pps-topology.ts), where the program loads; bpf/direct is its figure.
 * - VIP xdp: the same program with its XDP side in front of tc (pre-checked: XDP forwarded every
 *   packet, none was left to tc); xdp/direct is its figure. At the end, junk (type 9) at the VIP
 *   on tc and on XDP gives the guard's drop rates. Payloads are WireGuard-transport-shaped
 *   in every mode so the guard forwards them.
 * - VIP dsr: the same program with direct server return (backends hold the VIP on lo; the packet
 *   leaves unchanged to the backend's MAC); dsr/direct is its figure, on its own line.
 * VIP/direct is the target figure; (direct+ct)/direct splits off what connection tracking
 * itself costs, VIP/(direct+ct) what the NAT adds on top (the jhash map lookup runs only on a
 * flow's first packet; an established flow pays conntrack's per-packet NAT rewrite). Mode
 * changes are one nft transaction of milliseconds (see bench/pps-topology.ts). Before each
 * variant, pre-checks send 20 paced packets per flow in each mode and fail loudly unless every
 * backend got exactly the packets Maglev predicts and the LB's conntrack agrees: every VIP flow
 * DNATed to its predicted backend, every direct+ct flow tracked un-NATed, no direct flow tracked.
 *
 * Load: C programs compiled at bench time into a temporary directory (bench/udp/blast.c:
 * sendmmsg over one socket per flow; bench/udp/sink.c: recvmmsg), 64-byte UDP payloads, both
 * counting over the same CLOCK_MONOTONIC window. Rounds cycle direct, direct+ct, VIP, direct,
 * ... after one warm-up of each. Variants: 8 flows (the headline), 1 and 64 flows.
 *
 * Two figures per pair of modes (say VIP over direct):
 * - received-rate ratio: median packets/s at the sinks, with the min..max of the per-round
 *   ratios as its noise. On a shared 2-core machine other processes take turns on the
 *   sender's core, so this one swings from round to round.
 * - CPU-normalised ratio: path CPU per packet, direct over VIP. Path CPU is the sender's own
 *   CPU time (exact, CLOCK_PROCESS_CPUTIME_ID) plus ksoftirqd's on its core, so time other
 *   tenants take is not counted; it is the rate ratio the path would show on a core of its own.
 * Why CPU: veth hands a packet to the next namespace in the sender's softirq, so the sender's
 * core (cpu 0; the sinks run on cpu 1) carries the send syscalls AND the whole data path: both
 * veth hops, forwarding, DNAT + conntrack, delivery into the sink's socket. The sender is
 * always the bottleneck, and the ratios compare the cost of that whole path with and
 * without the LB's work; an LB host that only forwards would feel the same added cost
 * ("DNAT + conntrack add N us/pkt") as a larger share. Flows are long-lived (their conntrack
 * entries stay across rounds), so this is the established-flow rate, not a new-flow rate.
 *
 * Needs root, gcc, nft, conntrack (skips with one line otherwise); about 90 s.
 * WGF_BENCH_VERBOSE=1 prints every round. Run: node --import tsx bench/pps.ts
 * For profiling only: WGF_PPS_FLOWS=8 runs that variant alone, WGF_PPS_MODES=bpf keeps only those
 * BPF modes; bench/pps-perf.ts gives the program's own ns per packet (bpf_stats) and perf data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { listArgs, parseFlows, parseShownCount } from '../src/lb/conntrack.js';
import { run } from '../src/sys/exec.js';
import { Sandbox, stopProcess } from '../src/sys/netns.js';
import { BACKENDS, buildTopology, compile, flows, isBpf, M, missingPrerequisite, type Mode, modesOf, PORT, setMode, type Topology } from './pps-topology.js';
import { stat, type Stat } from './stats.js';

const PAYLOAD = 64;
/** Datagrams per flow in a pre-check, paced one per flow per millisecond so none is lost. */
const CHECK_PER_FLOW = 20;
/** From handing out a round's window to its start: the sender ramps up. */
const RAMP_MS = 50;
/** The sender runs on this long after the window; the sinks read on for as long again. */
const TAIL_MS = 100;
/** Sink socket buffer: absorbs about 80 ms of a sink not being scheduled at 400k packets/s. */
const SINK_RCVBUF = 32 << 20;
/** The sender's packet bound per second of running, far above what one core reaches. */
const MAX_PPS = 5_000_000;
const TARGET = 0.9;
/** The issue's target for the BPF data path against direct routing. */
const BPF_TARGET = 0.95;

interface Variant {
  readonly flows: number;
  readonly rounds: number;
  readonly windowMs: number;
  readonly warmupMs: number;
}
/** The first variant is the headline; the others show how the flow count matters. */
const VARIANTS: readonly Variant[] = [
  { flows: 8, rounds: 5, windowMs: 3000, warmupMs: 500 },
  { flows: 1, rounds: 3, windowMs: 1000, warmupMs: 300 },
  { flows: 64, rounds: 3, windowMs: 1000, warmupMs: 300 },
];

type Report = (line: string) => void;

interface BlastOut { sent: number; total: number; errors: number; window_s: number; cpu_s: number }
interface SinkOut { packets: number; total: number; drops: number; window_s: number; cpu_s: number }

/** One measured round; rates and CPU shares are over its counting window. */
interface Round {
  readonly recvPps: number;
  readonly sentPps: number;
  /** Whole-run loss: 1 - datagrams the sinks read / datagrams the sender sent. */
  readonly lost: number;
  /** Datagrams the sink sockets dropped because their buffers were full. */
  readonly drops: number;
  readonly errors: number;
  /** Busy share of the sender's core, by anyone (/proc/stat). */
  readonly coreBusy: number;
  /** Share of the sender's core used by the path: the sender with its softirq work, plus ksoftirqd. */
  readonly pathShare: number;
  /** CPU nanoseconds of the path (as in pathShare) per packet sent: what other tenants cannot inflate. */
  readonly pathNs: number;
  readonly sinksCpu: number;
  readonly conntrack: number;
}

/** Child processes running right now, stopped by the sandbox cleanup (also on SIGINT). */
const live = new Set<ChildProcess>();
/** Set by SIGINT/SIGTERM: no new process may start once the run is being stopped. */
let aborted = false;

/** A counting window in absolute CLOCK_MONOTONIC nanoseconds (see bench/udp/blast.c). */
interface Window {
  readonly from: bigint;
  readonly to: bigint;
  readonly until: bigint;
}

/** A started blast or sink: it sets up, says it is ready, then waits for its window on stdin. */
interface Proc {
  /** Resolves when the program printed its ready line (or exited). */
  readonly ready: Promise<void>;
  /** Gives the program its window; it starts at once. */
  go(w: Window): void;
  /** Resolves with the program's last stdout line (its JSON report); rejects on a failure. */
  readonly done: Promise<string>;
  /** SIGTERM: a sink stops early and still reports. */
  stop(): void;
}

/** Runs a program in a namespace; `ip netns exec` execs it, so the child is the program itself. */
function start(ns: string, file: string, args: string[]): Proc {
  if (aborted) throw new Error('pps bench interrupted');
  const child = spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  let signalReady: () => void = () => {};
  const ready = new Promise<void>((r) => (signalReady = r));
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('\n')) signalReady();
  });
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  child.stdin.on('error', () => {}); // it may have exited already; `done` tells why
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      live.delete(child);
      signalReady();
      if (code === 0) return resolve(out.trim().split('\n').pop() ?? '');
      reject(new Error(`${file.split('/').pop()} in ${ns} failed (${signal ?? `exit ${code}`}): ${err.trim().slice(0, 300)}`));
    });
  });
  done.catch(() => {}); // awaited by the caller; this only keeps an abandoned one from crashing the run
  return {
    ready,
    done,
    go: (w) => void child.stdin.end(`${w.from} ${w.to} ${w.until}\n`),
    stop: () => void child.kill('SIGTERM'),
  };
}

/** One sink per backend (in backend order) and the sender, all set up and listening. */
async function startLoad(t: Topology, senderArgs: string[]): Promise<{ sinks: Proc[]; blast: Proc }> {
  const sinks = t.backends.map((b) => start(b.ns, t.bin.sink, ['--port', String(PORT), '--rcvbuf', String(SINK_RCVBUF), ...pin(t.cpu.sinks)]));
  const blast = start(t.client.ns, t.bin.blast, ['--src', t.client.address, '--size', String(PAYLOAD), ...senderArgs, ...pin(t.cpu.sender)]);
  await Promise.all([...sinks, blast].map((p) => p.ready));
  return { sinks, blast };
}

const nowNs = (): bigint => process.hrtime.bigint();
const untilNs = (t: bigint): Promise<void> => sleep(Math.max(0, Number(t - nowNs()) / 1e6));
const pin = (cpu: number | undefined): string[] => (cpu === undefined ? [] : ['--cpu', String(cpu)]);

/** Busy and total jiffies of one CPU from /proc/stat (busy excludes idle, iowait and steal). */
function cpuJiffies(cpu: number): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  const [user, nice, system, idle, iowait, irq, softirq, steal] = (line ?? '').trim().split(/\s+/).slice(1).map(Number);
  const busy = user! + nice! + system! + irq! + softirq!;
  return { busy, total: busy + idle! + iowait! + steal! };
}

/**
 * Softirq work the kernel defers to ksoftirqd is the path's work too, but it is not charged to
 * the sender: read that thread's exact runtime (ns) from /proc/PID/schedstat.
 */
function ksoftirqdPid(cpu: number): number | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === `ksoftirqd/${cpu}`) return Number(pid);
    } catch {
      // the process went away
    }
  }
  return undefined;
}
const runtimeNs = (pid: number | undefined): number =>
  pid === undefined ? 0 : Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);

/** One measured round of `mode` with n flows over a window of windowMs. */
export async function measureRound(t: Topology, mode: Mode, n: number, windowMs: number, extra: readonly string[] = []): Promise<Round> {
  await setMode(t, mode);
  const cpu = t.cpu.sender ?? 0;
  const softirqd = ksoftirqdPid(cpu);
  const { sinks, blast } = await startLoad(t, [
    ...flows(t, n, mode).flatMap((f) => ['--flow', f.arg]),
    '--max-packets', String(Math.ceil((MAX_PPS * (RAMP_MS + windowMs + TAIL_MS)) / 1000)), ...extra,
  ]);
  const from = nowNs() + BigInt(RAMP_MS * 1e6);
  const to = from + BigInt(windowMs * 1e6);
  const stop = to + BigInt(TAIL_MS * 1e6);
  for (const s of sinks) s.go({ from, to, until: stop + BigInt(TAIL_MS * 1e6) });
  blast.go({ from, to, until: stop });

  await untilNs(from);
  const cpuFrom = cpuJiffies(cpu);
  const softFrom = runtimeNs(softirqd);
  await untilNs(from + (to - from) / 2n); // probed in both modes, so it disturbs both alike
  const conntrack = Number((await run('conntrack', ['-C'], { netns: t.lb })).stdout.trim());
  await untilNs(to);
  const cpuTo = cpuJiffies(cpu);
  const softTo = runtimeNs(softirqd);

  const b = JSON.parse(await blast.done) as BlastOut;
  const ss = await Promise.all(sinks.map(async (s) => JSON.parse(await s.done) as SinkOut));
  const windowS = windowMs / 1000;
  const received = ss.reduce((sum, x) => sum + x.total, 0);
  const pathS = b.cpu_s + (softTo - softFrom) / 1e9;
  return {
    recvPps: ss.reduce((sum, x) => sum + x.packets, 0) / windowS,
    sentPps: b.sent / b.window_s,
    lost: b.total > 0 ? Math.max(0, 1 - received / b.total) : 0,
    drops: ss.reduce((sum, x) => sum + x.drops, 0),
    errors: b.errors,
    coreBusy: (cpuTo.busy - cpuFrom.busy) / Math.max(1, cpuTo.total - cpuFrom.total),
    pathShare: pathS / windowS,
    pathNs: (pathS * 1e9) / Math.max(1, b.sent),
    sinksCpu: ss.reduce((sum, x) => sum + x.cpu_s, 0) / windowS,
    conntrack,
  };
}

const split = (xs: readonly number[]): string => xs.join('/');

/**
 * The LB's UDP conntrack entries whose original destination is dst:PORT, as source port ->
 * reply source address (the backend a VIP flow was DNATed to; dst itself when not NATed), read by
 * parseFlows; a line it cannot read is an error, not a missing flow.
 */
async function trackedFlows(t: Topology, dst: string): Promise<Map<number, string>> {
  const res = await run('conntrack', listArgs(dst, PORT), { netns: t.lb, allowFailure: true });
  if (res.code !== 0 && parseShownCount(res.stderr) !== 0) throw new Error(`conntrack -L failed: ${res.stderr.trim()}`);
  const { flows: entries, skipped } = parseFlows(res.stdout);
  if (skipped.length > 0) throw new Error(`cannot read conntrack line (${skipped[0]!.reason}): ${skipped[0]!.line}`);
  return new Map(entries.map((f) => [f.original.sport, f.reply.src]));
}

/**
 * Sends CHECK_PER_FLOW paced datagrams per flow in `mode` and throws unless each backend got
 * exactly its Maglev share, and unless the LB's conntrack holds exactly the expected entries:
 * in VIP mode one per flow to VIP:PORT, DNATed to its predicted backend; in direct+ct mode one
 * per flow to its backend, not NATed; in direct mode none to any backend. Run it on a flushed
 * conntrack table, direct mode first (entries outlive the mode that made them).
 * Returns the per-backend packet split.
 */
async function precheck(t: Topology, mode: Mode, n: number): Promise<number[]> {
  await setMode(t, mode);
  const fs = flows(t, n, mode);
  const want = t.backends.map((_, i) => fs.filter((f) => f.backend === i).length * CHECK_PER_FLOW);
  const countersBefore = 'path' in t.bpf && mode === 'xdp' ? await t.bpf.path.counters() : undefined;
  const { sinks, blast } = await startLoad(t, [...fs.flatMap((f) => ['--flow', f.arg]), '--per-flow', String(CHECK_PER_FLOW)]);
  const now = nowNs();
  // Bounds only: the sinks count everything and are stopped once the sender is done.
  for (const s of sinks) s.go({ from: now, to: now + 5_000_000_000n, until: now + 5_000_000_000n });
  blast.go({ from: now, to: now, until: now + 4_000_000_000n });
  await blast.done;
  await sleep(100);
  for (const s of sinks) s.stop();
  const outs = await Promise.all(sinks.map(async (s) => JSON.parse(await s.done) as SinkOut));
  const got = outs.map((s) => s.total);
  if (got.some((g, i) => g !== want[i])) {
    throw new Error(`pps pre-check (${mode}, ${n} flows): backends ${t.backends.map((b) => b.name).join('/')} received ${split(got)} packets, Maglev predicts ${split(want)}`);
  }
  // Entries as "original destination:source port -> reply source", against what the mode predicts.
  const tracked: string[] = [];
  for (const dst of mode === 'vip' ? [t.vip] : isBpf(mode) ? [t.vip, ...t.backends.map((b) => b.address)] : t.backends.map((b) => b.address)) {
    for (const [sport, replySrc] of await trackedFlows(t, dst)) tracked.push(`${dst}:${sport} -> ${replySrc}`);
  }
  const expected = mode === 'direct' || isBpf(mode) ? [] : fs.map((f) => `${f.dst}:${f.sport} -> ${t.backends[f.backend]!.address}`);
  if (tracked.sort().join(', ') !== expected.sort().join(', ')) {
    throw new Error(`pps pre-check (${mode}, ${n} flows): the LB's conntrack holds [${tracked.join(', ')}], expected [${expected.join(', ')}]`);
  }
  if (countersBefore && 'path' in t.bpf) {
    // XDP itself forwarded every packet: none was left to tc.
    const c = await t.bpf.path.counters();
    const [fwd, pass] = [c.xdp_fwd! - countersBefore.xdp_fwd!, c.xdp_pass! - countersBefore.xdp_pass!];
    if (fwd < n * CHECK_PER_FLOW || pass > 0) throw new Error(`pps pre-check (xdp, ${n} flows): XDP forwarded ${fwd} of ${n * CHECK_PER_FLOW} packets and left ${pass} to tc`);
  }
  if (isBpf(mode) && 'path' in t.bpf) {
    // The program's own flow table: every flow on its predicted backend.
    const held = new Map((await t.bpf.path.flows()).map((f) => [f.client.port, f.target.address]));
    const wrong = fs.filter((f) => held.get(f.sport) !== t.backends[f.backend]!.address);
    if (wrong.length > 0) throw new Error(`pps pre-check (${mode}, ${n} flows): the BPF flow table holds ${wrong.map((f) => `${f.sport} -> ${held.get(f.sport) ?? 'nothing'}`).join(', ')}, not the predicted backends`);
  }
  return got;
}

const k = (pps: number): string => `${(pps / 1000).toFixed(1)}k`;
const pct = (x: number): string => `${(100 * x).toFixed(0)} %`;
const us = (ns: number): string => (ns / 1000).toFixed(2);
const r3 = (x: number): string => x.toFixed(3);
const spread = (s: Stat, f: (x: number) => string): string => `${f(s.median)} (min ${f(s.min)}, max ${f(s.max)})`;
const med = (rs: readonly Round[], f: (r: Round) => number): number => stat(rs.map(f)).median;
const label = (flows: number): string => `pps ${String(flows).padStart(2)} flow${flows === 1 ? ' ' : 's'}`;
const MODE_NAME: Record<Mode, string> = { direct: 'direct', 'direct+ct': 'direct+ct', vip: 'VIP nft', bpf: 'VIP bpf', xdp: 'VIP xdp', dsr: 'VIP dsr' };
const modeName = (mode: Mode): string => MODE_NAME[mode].padEnd(9);

/** WGF_BENCH_VERBOSE=1 prints every round. */
const VERBOSE = process.env.WGF_BENCH_VERBOSE === '1';
const roundLine = (r: Round): string => `received ${k(r.recvPps)} sent ${k(r.sentPps)} lost ${(100 * r.lost).toFixed(2)} % `
  + `sink drops ${r.drops}; core busy ${pct(r.coreBusy)}, path ${pct(r.pathShare)}, ${us(r.pathNs)} us/pkt; sinks ${pct(r.sinksCpu)}; conntrack ${r.conntrack}`;

function modeLine(v: Variant, mode: Mode, rs: readonly Round[]): string {
  const drops = rs.reduce((s, r) => s + r.drops, 0);
  const errors = rs.reduce((s, r) => s + r.errors, 0);
  const lost = Math.max(...rs.map((r) => r.lost));
  return `${label(v.flows)} ${modeName(mode)}: received ${spread(stat(rs.map((r) => r.recvPps)), k)} pps, `
    + `sent ${k(med(rs, (r) => r.sentPps))}, lost at most ${(100 * lost).toFixed(2)} %${drops > 0 ? ` (sink socket drops ${drops})` : ''}`
    + `${errors > 0 ? `, send errors ${errors}` : ''}; path CPU ${spread(stat(rs.map((r) => r.pathNs)), us)} us/pkt; `
    + `sender core busy ${pct(med(rs, (r) => r.coreBusy))}, of it the path ${pct(med(rs, (r) => r.pathShare))}; sinks ${pct(med(rs, (r) => r.sinksCpu))} of a core`
    + `${mode !== 'direct' ? `; conntrack -C in the LB ${Math.max(...rs.map((r) => r.conntrack))}` : ''}`;
}

/** Mode b over mode a in the same rounds: both figures, with their per-round spread. */
interface Ratio {
  /** Received-rate ratio b/a, and its per-round spread. */
  readonly rate: number;
  readonly rateRounds: Stat;
  /** CPU-normalised ratio: path CPU per packet a/b, and its per-round spread. */
  readonly cpu: number;
  readonly cpuRounds: Stat;
  /** Path CPU per packet b - a (ns). */
  readonly addedNs: number;
}

function ratio(a: readonly Round[], b: readonly Round[]): Ratio {
  const nsA = med(a, (r) => r.pathNs);
  const nsB = med(b, (r) => r.pathNs);
  return {
    rate: med(b, (r) => r.recvPps) / med(a, (r) => r.recvPps),
    rateRounds: stat(b.map((r, i) => r.recvPps / a[i]!.recvPps)),
    cpu: nsA / nsB,
    cpuRounds: stat(b.map((r, i) => a[i]!.pathNs / r.pathNs)),
    addedNs: nsB - nsA,
  };
}

const ratioText = (x: Ratio): string => `received-rate ratio ${r3(x.rate)} (per round min ${r3(x.rateRounds.min)}, max ${r3(x.rateRounds.max)}); `
  + `CPU-normalised ${r3(x.cpu)} (per round min ${r3(x.cpuRounds.min)}, max ${r3(x.cpuRounds.max)})`;

/** A variant's figures: VIP/direct (the target), (direct+ct)/direct (conntrack) and VIP/(direct+ct) (NAT); bpf/direct where bpf ran. */
interface Ratios {
  readonly bpf?: Ratio;
  readonly dsr?: Ratio;
  readonly xdp?: Ratio;
  readonly vip: Ratio;
  readonly ct: Ratio;
  readonly nat: Ratio;
}

async function measureVariant(t: Topology, v: Variant, report: Report): Promise<Ratios> {
  await setMode(t, 'direct');
  await run('conntrack', ['-F'], { netns: t.lb, allowFailure: true }); // this variant's entries only
  const split = await precheck(t, 'direct', v.flows); // first: see precheck
  await precheck(t, 'direct+ct', v.flows);
  await precheck(t, 'vip', v.flows);
  const modes = modesOf(t);
  for (const mode of modes.filter(isBpf)) {
    // Flushed first: the bpf path must leave nothing in conntrack (VIP entries come back in the warm-up).
    await run('conntrack', ['-F'], { netns: t.lb, allowFailure: true });
    await precheck(t, mode, v.flows);
  }
  report(`${label(v.flows)} pre-check: ${CHECK_PER_FLOW} packets per flow, split ${t.backends.map((b, i) => `${b.name} ${split[i]}`).join(', ')} `
    + `as Maglev predicts in all ${modes.length} modes; VIP flows tracked and DNATed to their predicted backend, direct+ct flows tracked un-NATed, `
    + `direct${modes.includes('bpf') ? ' and bpf flows untracked, bpf flows in the program\'s flow table on their predicted backend' : ' flows untracked'}`);
  for (const mode of modes) await measureRound(t, mode, v.flows, v.warmupMs);
  const rounds: Record<Mode, Round[]> = { direct: [], 'direct+ct': [], vip: [], bpf: [], xdp: [], dsr: [] };
  for (let i = 0; i < v.rounds; i++) {
    for (const mode of modes) {
      const r = await measureRound(t, mode, v.flows, v.windowMs);
      rounds[mode].push(r);
      if (VERBOSE) report(`  round ${i} ${modeName(mode)} ${roundLine(r)}`);
    }
  }
  const { direct, vip } = rounds;
  const tracked = rounds['direct+ct'];
  const out = { vip: ratio(direct, vip), ct: ratio(direct, tracked), nat: ratio(tracked, vip), ...(modes.includes('bpf') ? { bpf: ratio(direct, rounds.bpf) } : {}),
    ...(modes.includes('xdp') ? { xdp: ratio(direct, rounds.xdp) } : {}),
    ...(modes.includes('dsr') ? { dsr: ratio(direct, rounds.dsr) } : {}) };
  for (const mode of modes) report(modeLine(v, mode, rounds[mode]));
  if (out.bpf) report(`${label(v.flows)} bpf/direct: ${ratioText(out.bpf)}: the BPF data path at tc adds ${us(out.bpf.addedNs)} us/pkt`);
  if (out.xdp) report(`${label(v.flows)} xdp/direct: ${ratioText(out.xdp)}: the BPF data path at XDP adds ${us(out.xdp.addedNs)} us/pkt`);
  if (out.dsr) report(`${label(v.flows)} dsr/direct: ${ratioText(out.dsr)}: direct server return (bpf) adds ${us(out.dsr.addedNs)} us/pkt`);
  report(`${label(v.flows)} VIP/direct: ${ratioText(out.vip)}: DNAT + conntrack add ${us(out.vip.addedNs)} us/pkt; `
    + `${v.rounds} rounds of ${(v.windowMs / 1000).toFixed(1)} s each`);
  const share = out.vip.addedNs > 0 ? `, ${pct(out.ct.addedNs / out.vip.addedNs)} of what VIP adds` : '';
  report(`${label(v.flows)} (direct+ct)/direct: ${ratioText(out.ct)}: conntrack alone adds ${us(out.ct.addedNs)} us/pkt${share}`);
  report(`${label(v.flows)} VIP/(direct+ct): ${ratioText(out.nat)}: DNAT on a tracked path adds ${us(out.nat.addedNs)} us/pkt`);
  return out;
}

/**
 * The guard's drop rate: junk (type 9, 64 bytes) at the VIP on the bpf path, 8 flows, 3 rounds of
 * 1 s. Nothing may reach a backend; the drop rate per core is 1 / (path CPU per packet).
 */
async function measureJunk(t: Topology, report: Report, mode: Mode): Promise<void> {
  if (!('path' in t.bpf)) return;
  await setMode(t, mode);
  const before = await t.bpf.path.counters();
  const rs: Round[] = [];
  for (let i = 0; i < 3; i++) rs.push(await measureRound(t, mode, 8, 1000, ['--type', '9']));
  const after = await t.bpf.path.counters();
  const dropped = (after.drop_type ?? 0) - (before.drop_type ?? 0);
  const reached = rs.reduce((a, r) => a + r.recvPps, 0);
  if (reached > 0) throw new Error(`pps guard: ${reached} junk packets/s reached a backend`);
  const ns = med(rs, (r) => r.pathNs);
  report(`pps guard (${mode === 'xdp' ? 'xdp' : 'bpf at tc'}, 8 flows of junk type 9): sent ${spread(stat(rs.map((r) => r.sentPps)), k)} pps, all dropped (drop_type +${dropped}), none reached a backend; `
    + `path CPU ${spread(stat(rs.map((r) => r.pathNs)), us)} us/pkt: ${k(1e9 / ns)} pps of junk dropped per core of the sender's path`);
}

/** Runs the packet-rate benchmark and reports its lines (about 90 s); skips without root or tools. */
export async function benchPps(report: Report): Promise<void> {
  const missing = missingPrerequisite();
  if (missing) {
    report(`pps skipped: ${missing}`);
    return;
  }
  const box = new Sandbox('wpp');
  // On SIGINT/SIGTERM, stop the load so the current step fails fast; the finally block below
  // then removes everything, including what a step in flight had just made, and exits.
  const onSignal = (): void => {
    aborted = true;
    for (const c of live) c.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  aborted = false;
  try {
    const dir = mkdtempSync(join(tmpdir(), 'wgf-pps-'));
    box.defer(async () => rmSync(dir, { recursive: true, force: true }));
    const bin = await compile(dir);
    const t0 = Date.now();
    const t = await buildTopology(box, bin);
    box.defer(async () => {
      await Promise.all([...live].map((c) => stopProcess(c)));
    });
    const load = loadavg().map((x) => x.toFixed(2)).join(' ');
    report(`pps setup: client -> LB namespace -> ${BACKENDS} backend namespaces over veth, ${PAYLOAD}-byte UDP payloads, M=${M}, `
      + `${t.cpu.sender === undefined ? 'no CPU pinning (1 core)' : `sender + data path on cpu ${t.cpu.sender}, sinks on cpu ${t.cpu.sinks}`}; `
      + `namespaces + ruleset up in ${((Date.now() - t0) / 1000).toFixed(1)} s; load average ${load}`);
    const ratios: Ratios[] = [];
    // WGF_PPS_FLOWS=8 runs only that variant (for profiling; the target line needs the 8-flow one).
    const onlyFlows = process.env.WGF_PPS_FLOWS?.split(',').map(Number);
    const variants = VARIANTS.filter((v) => !onlyFlows || onlyFlows.includes(v.flows));
    for (const v of variants) ratios.push(await measureVariant(t, v, report));
    const head = ratios[0]!;
    const verdict = (x: number): string => `${r3(x)} ${x >= TARGET ? 'met' : 'NOT met'}`;
    report(`pps target VIP/direct >= ${TARGET} with ${variants[0]!.flows} flows: received rate ${verdict(head.vip.rate)}, CPU-normalised ${verdict(head.vip.cpu)}; `
      + `load average now ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    if (head.bpf) {
      report(`pps target bpf/direct >= ${BPF_TARGET} with ${variants[0]!.flows} flows: received rate ${r3(head.bpf.rate)} ${head.bpf.rate >= BPF_TARGET ? 'met' : 'NOT met'}, `
        + `CPU-normalised ${r3(head.bpf.cpu)} ${head.bpf.cpu >= BPF_TARGET ? 'met' : 'NOT met'}; `
        + `per flow count (received rate, CPU-normalised): ${variants.map((v, i) => `${v.flows}: bpf ${r3(ratios[i]!.bpf!.rate)}/${r3(ratios[i]!.bpf!.cpu)}, nft ${r3(ratios[i]!.vip.rate)}/${r3(ratios[i]!.vip.cpu)}`).join('; ')}`);
      if (head.xdp) {
        report(`pps target xdp/direct >= ${BPF_TARGET} with ${variants[0]!.flows} flows: received rate ${r3(head.xdp.rate)} ${head.xdp.rate >= BPF_TARGET ? 'met' : 'NOT met'}, `
          + `CPU-normalised ${r3(head.xdp.cpu)} ${head.xdp.cpu >= BPF_TARGET ? 'met' : 'NOT met'}; `
          + `per flow count (received rate, CPU-normalised): ${variants.map((v, i) => `${v.flows}: xdp ${r3(ratios[i]!.xdp!.rate)}/${r3(ratios[i]!.xdp!.cpu)}`).join('; ')}`);
      } else {
        report(`pps xdp skipped: ${t.xdpMissing ?? (process.env.WGF_PPS_MODES ? 'not in WGF_PPS_MODES' : 'the BPF program did not load')}`);
      }
      await measureJunk(t, report, 'bpf');
      if (head.xdp) await measureJunk(t, report, 'xdp');
    } else {
      report(`pps bpf skipped: ${'missing' in t.bpf ? t.bpf.missing : ''}`);
    }
    if (head.dsr) {
      report(`pps direct server return (bpf, --return-path dsr) against direct routing with ${variants[0]!.flows} flows: received rate ${r3(head.dsr.rate)}, CPU-normalised ${r3(head.dsr.cpu)}; `
        + `per flow count (received rate, CPU-normalised): ${variants.map((v, i) => `${v.flows}: dsr ${r3(ratios[i]!.dsr!.rate)}/${r3(ratios[i]!.dsr!.cpu)}`).join('; ')} `
        + '(forward path only: the sinks never answer; DSR replies would not pass the LB at all)');
    } else {
      report(`pps direct server return: not measured (${process.env.WGF_PPS_MODES ? 'not in WGF_PPS_MODES' : 'the BPF program did not load'})`);
    }
    report(`pps split with ${variants[0]!.flows} flows: conntrack alone, (direct+ct)/direct, received rate ${r3(head.ct.rate)}, CPU-normalised ${r3(head.ct.cpu)}; `
      + `DNAT on top, VIP/(direct+ct), received rate ${r3(head.nat.rate)}, CPU-normalised ${r3(head.nat.cpu)}`);
    report('pps note: the sender\'s core also runs the whole data path (veth delivers in its softirq), so the ratios compare the full path '
      + '(send, 2 veth hops, forwarding, delivery) with and without conntrack and DNAT; path CPU leaves out time other tenants took. See bench/pps.ts.');
  } finally {
    await box.cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (aborted) {
      report('pps interrupted; its namespaces, processes and files are removed');
      process.exit(130);
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t0 = Date.now();
  await benchPps((line) => console.log(line));
  console.log(`(pps bench took ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
