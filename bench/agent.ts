/**
 * The node agent's two speeds on wireguard-go.
 *
 * 1. Bulk load: the Agent engine (MemorySource holding P peers, UapiDeviceDriver) bringing P
 *    peers onto a fresh wireguard-go, from start() until appliedRevision reaches the source
 *    revision, against `wg setconf` of the same peers and against a bare socket loop sending
 *    the agent's own prebuilt set operations (the floor for any UAPI client), each on its own
 *    fresh wireguard-go in one namespace, order rotating per round, and where the agent's time
 *    goes. Then (bench/agent-restart.ts, also alone as part `restart`) agent restarts on a loaded
 *    device against `wg syncconf`, rounds alternating. Only one device
 *    lives at a time (65,536 peers take about 1 GB of RSS). wireguard-go refuses more than
 *    65,536 peers (MaxPeers = 1 << 16), so a larger P is capped there and the cap is checked.
 * 2. Propagation: createPeer through the REST API until the peer's key is listed by every
 *    node's wireguard-go, on a lab of 1 and of 10 backends (one lab at a time, torn down after).
 *
 * Needs root. This 2-core machine is shared and noisy: compare ratios, not absolute times.
 * Run: node --import tsx bench/agent.ts   (WGF_BENCH_PEERS=20000 for a quicker load;
 * WGF_BENCH_AGENT_PARTS=load, =restart or =labs for one part)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { Agent } from '../src/agent/agent.js';
import { DesiredState } from '../src/agent/desired.js';
import type { DeviceConfig, DeviceState, WireGuardDevice } from '../src/agent/device.js';
import { FakeDevice } from '../src/agent/device-fake.js';
import { DEVICE_OPERATION_BYTES, UapiDeviceDriver, uapiUpdates } from '../src/agent/device-uapi.js';
import { diffDesired, type PeerOp } from '../src/agent/diff.js';
import { MemorySource } from '../src/agent/testing/memory-source.js';
import { labUp, type Lab } from '../src/lab/lab.js';
import { loadStates, teardown } from '../src/lab/state.js';
import { run } from '../src/sys/exec.js';
import { Sandbox, stopProcess, uapiSocketPath } from '../src/sys/netns.js';
import { newInterface, newPeer, renderSetconf } from '../src/wg/config.js';
import { UapiClient } from '../src/wg/uapi.js';
import { GET_REQUEST, ResponseFramer, buildSetOperations, setRequestChunks, validateSetRequest } from '../src/wg/uapi-codec.js';
import { benchAddresses, benchRestart } from './agent-restart.js';
import { percentile, stat, type Stat } from './stats.js';

const DEFAULT_PEERS = 100_000;
/** wireguard-go refuses the 65,537th peer ("too many peers": device/constants.go MaxPeers = 1 << 16). */
const WG_GO_MAX_PEERS = 65_536;
const LOAD_ROUNDS = 5;
/** Above this projected time for the load part, it runs one round instead of LOAD_ROUNDS. */
const LOAD_BUDGET_MS = 240_000;
const WRITES = 100;
const WARMUP_WRITES = 3;
const WRITE_DEADLINE_MS = 15_000;

type Report = (line: string) => void;

/** Cleanups of what exists right now, so a direct run stopped by a signal still removes it. */
const live = new Set<() => Promise<void>>();

const sec = (ms: number): string => (ms / 1000).toFixed(2);
const fmtS = (s: Stat): string => `${sec(s.median)} s (min ${sec(s.min)}, max ${sec(s.max)})`;
const fmtMs = (ms: number): string => ms.toFixed(1);
const fmtX = (s: Stat): string => `${s.median.toFixed(2)}x (min ${s.min.toFixed(2)}, max ${s.max.toFixed(2)})`;

async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** Median of `n` timings of a synchronous step (the JIT is warm by then). */
function medianOf(n: number, fn: () => unknown): number {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    xs.push(performance.now() - t0);
  }
  return stat(xs).median;
}

const CLK_TCK = 100; // USER_HZ on Linux/x86-64

/** User + system CPU of a process in ms (wireguard-go runs as the pid `ip netns exec` exec'd into). */
function cpuMs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** User + system CPU in ms of this process's reaped children (wg runs as one). */
function childrenCpuMs(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
}

/** Fraction of all CPUs busy between two /proc/stat readings. */
function cpuTimes(): { busy: number; total: number } {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3]! - v[4]!, total };
}

// ---------------------------------------------------------------- part 1: bulk load

interface BenchPeer { readonly name: string; readonly publicKey: string; readonly addresses: readonly string[] }

/** Random 32-byte public keys: wireguard-go only needs them to be non-low-order, which random bytes are (p ~ 2^-250). */
function makePeers(n: number): BenchPeer[] {
  const keys = randomBytes(32 * n);
  return Array.from({ length: n }, (_, i) => ({
    name: `p${i}`,
    publicKey: keys.subarray(32 * i, 32 * i + 32).toString('base64'),
    addresses: benchAddresses(i),
  }));
}

/** The agent's real driver with each call timed; keeps the last batch for the in-process breakdown. */
class TimedDevice implements WireGuardDevice {
  readonly ms = { configure: 0, publicKey: 0, state: 0, apply: 0 };
  /** UAPI gets: state() reads everything, configure() and publicKey() the interface part (wireguard-go still writes all of it). */
  reads = 0;
  lastOps: readonly PeerOp[] = [];
  constructor(private readonly inner: UapiDeviceDriver) {}
  get name(): string { return this.inner.name; }
  async configure(cfg: DeviceConfig): Promise<void> { this.reads++; const t = await timed(() => this.inner.configure(cfg)); this.ms.configure += t.ms; }
  async publicKey(): Promise<string | null> { this.reads++; const t = await timed(() => this.inner.publicKey()); this.ms.publicKey += t.ms; return t.value; }
  async state(): Promise<DeviceState> { this.reads++; const t = await timed(() => this.inner.state()); this.ms.state += t.ms; return t.value; }
  async apply(ops: readonly PeerOp[]): Promise<void> { this.lastOps = ops; const t = await timed(() => this.inner.apply(ops)); this.ms.apply += t.ms; }
}

interface LoadResult { wallMs: number; wgCpuMs: number; nodeCpuMs: number; device?: TimedDevice }

/** The in-memory device, noting when each apply finished. */
class StampedFakeDevice extends FakeDevice {
  appliedAt = 0;
  override async apply(ops: readonly PeerOp[]): Promise<void> {
    await super.apply(ops);
    this.appliedAt = performance.now();
  }
}

/**
 * One write at a time to an agent already holding the source's peers, on an in-memory device
 * (so only the agent's own CPU counts): when the change reached the device, and when the agent
 * was done with it (the next change waits until then: device work is serialized). The
 * MemorySource scans its whole change log per batch, about 1 ms at 65k.
 */
async function incrementalCost(source: MemorySource, samples: number): Promise<{ toDevice: Stat; busy: Stat }> {
  const device = new StampedFakeDevice();
  const agent = new Agent({ pool: 'p', node: 'n', source, device, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000 });
  const toDevice: number[] = [];
  const busy: number[] = [];
  agent.start();
  try {
    while (agent.stats.appliedRevision < source.revision) await sleep(5);
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      source.put({ name: `incr-${i}`, publicKey: randomBytes(32).toString('base64'), addresses: [`10.200.0.${i}/32`] });
      while (agent.stats.appliedRevision < source.revision) await sleep(1);
      busy.push(performance.now() - t0);
      toDevice.push(device.appliedAt - t0);
    }
  } finally {
    await agent.stop();
  }
  return { toDevice: stat(toDevice), busy: stat(busy) };
}

/** Sends prebuilt set=1 operations on one connection, each after the previous errno=0 (what UapiClient does, minus building). */
function sendOperations(iface: string, ops: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(uapiSocketPath(iface));
    let framer = new ResponseFramer();
    let i = 0;
    sock.on('data', (chunk: Buffer) => {
      if (!framer.push(chunk)) return;
      const answer = framer.text();
      if (!answer.includes('errno=0\n')) {
        sock.destroy();
        reject(new Error(`operation ${i + 1}/${ops.length} refused: ${answer.trim()}`));
        return;
      }
      framer = new ResponseFramer();
      if (++i === ops.length) {
        sock.destroy();
        resolve();
      } else sock.write(ops[i]!);
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error(`${iface} closed the connection after ${i}/${ops.length} operations`))); // no-op once settled
    sock.write(ops[0]!);
  });
}

async function benchLoad(report: Report, requested: number): Promise<void> {
  const P = Math.min(requested, WG_GO_MAX_PEERS);
  report(`bulk load: ${P.toLocaleString('en')} peers (2 allowed IPs each) onto a fresh wireguard-go, link down, in one network namespace`);
  if (P < requested) {
    report(`  NOTE: ${requested.toLocaleString('en')} peers were asked for, but wireguard-go holds at most ${WG_GO_MAX_PEERS.toLocaleString('en')} (MaxPeers = 1 << 16);`);
    report(`        the load uses ${P.toLocaleString('en')} and the run checks that one more peer is refused`);
  }
  const sb = new Sandbox('wga');
  const dir = mkdtempSync(join(tmpdir(), `wga${sb.tag}-`));
  const cleanup = async (): Promise<void> => {
    await sb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  };
  live.add(cleanup);
  try {
    const ns = await sb.addNetns('n');
    const peers = makePeers(P);
    const privateKey = randomBytes(32).toString('base64');
    const source = new MemorySource(privateKey);
    for (const p of peers) source.put({ name: p.name, publicKey: p.publicKey, addresses: p.addresses });
    const conf = join(dir, 'peers.conf');
    writeFileSync(conf, renderSetconf({
      interface: newInterface({ privateKey }),
      peers: peers.map((p) => newPeer(p.publicKey, { allowedIps: [...p.addresses] })),
    }), { mode: 0o600 });

    let devices = 0;
    /** Runs `load` on a fresh wireguard-go, checks it holds P peers (untimed), then kills it. */
    const onFreshDevice = async (load: (iface: string) => Promise<Omit<LoadResult, 'wgCpuMs'>>, after?: (iface: string) => Promise<void>): Promise<LoadResult> => {
      const iface = sb.name(`d${devices++}`);
      const device: ChildProcess = await sb.startWireguardGo(ns, iface);
      const pid = device.pid!;
      try {
        const cpu0 = cpuMs(pid);
        const r = await load(iface);
        const wgCpuMs = cpuMs(pid) - cpu0;
        const got = (await new UapiClient(iface, { timeoutMs: 120_000 }).get()).peers.length;
        if (got !== P) throw new Error(`${iface}: device holds ${got} peers after the load, expected ${P}`);
        await after?.(iface);
        return { ...r, wgCpuMs };
      } finally {
        await stopProcess(device);
      }
    };

    const agentLoad = async (iface: string): Promise<Omit<LoadResult, 'wgCpuMs'>> => {
      const timedDevice = new TimedDevice(new UapiDeviceDriver(iface, { timeoutMs: 300_000 }));
      const problems: string[] = [];
      const agent = new Agent({
        pool: 'p', node: 'n', source, device: timedDevice, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000,
        log: (level, msg) => level !== 'info' && problems.push(`${level}: ${msg}`),
      });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      agent.start();
      try {
        while (agent.stats.appliedRevision < source.revision) {
          if (problems.length > 0 || performance.now() - t0 > 600_000) {
            throw new Error(`agent did not apply revision ${source.revision}: ${problems.join('; ') || 'timed out after 10 min'}`);
          }
          await sleep(5); // coarse on purpose: a 1 ms poll wakes node 1000 times a second on 2 shared cores
        }
      } finally {
        await agent.stop();
      }
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (problems.length > 0) throw new Error(`agent logged: ${problems.join('; ')}`);
      return { wallMs, nodeCpuMs: (cpu.user + cpu.system) / 1000, device: timedDevice };
    };

    const setconfLoad = async (iface: string): Promise<Omit<LoadResult, 'wgCpuMs'>> => {
      const k0 = childrenCpuMs();
      const t = await timed(() => run('wg', ['setconf', iface, conf], { timeoutMs: 600_000 }));
      return { wallMs: t.ms, nodeCpuMs: childrenCpuMs() - k0 }; // the client's CPU: wg's here
    };

    // Exactly what the agent sends after a snapshot, prebuilt, for the bare-socket floor.
    const snap = await source.snapshot();
    const now = new Date();
    const ops = diffDesired(DesiredState.fromSnapshot(snap), new Map(), now); // in the agent's order
    const request = { peers: uapiUpdates(ops) }; // what UapiDeviceDriver.apply sends
    const prebuilt = buildSetOperations({ privateKey, ...request }, DEVICE_OPERATION_BYTES);
    const rawLoad = async (iface: string): Promise<Omit<LoadResult, 'wgCpuMs'>> =>
      ({ wallMs: (await timed(() => sendOperations(iface, prebuilt))).ms, nodeCpuMs: 0 });

    let oneMoreRefused: boolean | null = null;
    const checkCap = async (iface: string): Promise<void> => {
      if (P !== WG_GO_MAX_PEERS || oneMoreRefused !== null) return;
      const r = await run('wg', ['set', iface, 'peer', randomBytes(32).toString('base64')], { allowFailure: true });
      oneMoreRefused = r.code !== 0;
    };

    const kinds = {
      agent: { load: agentLoad, after: undefined, runs: [] as LoadResult[] },
      raw: { load: rawLoad, after: undefined, runs: [] as LoadResult[] },
      setconf: { load: setconfLoad, after: checkCap, runs: [] as LoadResult[] },
    };
    const order = ['agent', 'raw', 'setconf'] as const;
    const started = performance.now();
    report(`  load average at the start ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    let rounds = LOAD_ROUNDS;
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so a drift in machine load does not favour one kind.
      for (let k = 0; k < order.length; k++) {
        const kind = kinds[order[(k + round) % order.length]!];
        kind.runs.push(await onFreshDevice(kind.load, kind.after));
      }
      if (round === 0) {
        const roundMs = performance.now() - started;
        if (roundMs * LOAD_ROUNDS > LOAD_BUDGET_MS) rounds = 1;
      }
    }
    const agentRuns = kinds.agent.runs;
    const wall = (k: keyof typeof kinds): Stat => stat(kinds[k].runs.map((r) => r.wallMs));
    const [agent, raw, setconf] = [wall('agent'), wall('raw'), wall('setconf')];
    const perRound = (a: keyof typeof kinds, b: keyof typeof kinds): Stat => stat(kinds[a].runs.map((r, i) => r.wallMs / kinds[b].runs[i]!.wallMs));
    report(`  ${rounds} round(s), each kind on its own fresh device, order rotating${rounds < LOAD_ROUNDS ? ` (ONE round only: ${LOAD_ROUNDS} would exceed the ${LOAD_BUDGET_MS / 60_000} min budget)` : ''}; median (min, max)`);
    report(`  agent: Agent + UapiDeviceDriver, start() -> appliedRevision = source revision   ${fmtS(agent)}`);
    report(`  floor: the agent's ${prebuilt.length} set=1 operations prebuilt, bare socket loop  ${fmtS(raw)}`);
    report(`  baseline: wg setconf of the same peers                                     ${fmtS(setconf)}`);
    report(`  ratio agent / setconf   ${(agent.median / setconf.median).toFixed(2)}x of medians, per round ${fmtX(perRound('agent', 'setconf'))}   (target <= 1.10)`);
    report(`  ratio floor / setconf   ${(raw.median / setconf.median).toFixed(2)}x of medians, per round ${fmtX(perRound('raw', 'setconf'))}   (the best any UAPI client can do)`);
    report(`  ratio agent / floor     ${(agent.median / raw.median).toFixed(2)}x of medians, per round ${fmtX(perRound('agent', 'raw'))}   (the agent's own overhead)`);
    const cpuOf = (k: keyof typeof kinds): Stat => stat(kinds[k].runs.map((r) => r.nodeCpuMs + r.wgCpuMs));
    const side = (k: keyof typeof kinds, client: string): string =>
      `${sec(cpuOf(k).median)} s (${client} ${sec(stat(kinds[k].runs.map((r) => r.nodeCpuMs)).median)} s + wireguard-go ${sec(stat(kinds[k].runs.map((r) => r.wgCpuMs)).median)} s)`;
    report(`  CPU per load (medians; /proc ticks of 10 ms): agent ${side('agent', 'node')}; wg setconf ${side('setconf', 'wg')}; ` +
      `floor: wireguard-go ${sec(stat(kinds.raw.runs.map((r) => r.wgCpuMs)).median)} s; CPU ratio agent / setconf ${(cpuOf('agent').median / cpuOf('setconf').median).toFixed(2)}x`);
    report(`  target bulk load <= 1.10x wg setconf (wall, medians): ${agent.median / setconf.median <= 1.1 ? 'met' : 'NOT met'} ` +
      `(${(agent.median / setconf.median).toFixed(2)}x setconf, ${(agent.median / raw.median).toFixed(2)}x the bare UAPI floor; load average ${loadavg()[0]!.toFixed(1)})`);
    if (oneMoreRefused !== null) report(`  peer #${WG_GO_MAX_PEERS + 1} on a full device refused by wireguard-go: ${oneMoreRefused ? 'yes' : 'NO'}`);
    report(`  every device was read back after its load (untimed) and held exactly ${P} peers`);
    report(`  (the agent restart on a loaded device is measured below, against wg syncconf)`);

    // ---- where the agent's time goes
    const devs = agentRuns.map((r) => r.device!);
    const deviceMs = (d: TimedDevice): number => d.ms.apply + d.ms.configure + d.ms.publicKey + d.ms.state;
    const fromSnapshotMs = medianOf(3, () => DesiredState.fromSnapshot(snap));
    const desired = DesiredState.fromSnapshot(snap);
    const spec = desired.deviceSpec(now);
    const deviceSpecMs = medianOf(3, () => desired.deviceSpec(now));
    const cachedSpecMs = medianOf(3, () => new Map(spec));
    const diffMs = medianOf(3, () => diffDesired(desired, new Map(), now));
    const validateMs = medianOf(3, () => validateSetRequest(request));
    const chunksMs = medianOf(3, () => { for (const _ of setRequestChunks(request)); });
    const bytes = prebuilt.reduce((n, o) => n + o.length, 0);
    report(`breakdown (device-call times from the rounds above; pure steps re-timed in-process after them, median of 3)`);
    report(`  agent load: device.apply (${ops.length} upserts, ${prebuilt.length} operation(s)${Number.isFinite(DEVICE_OPERATION_BYTES) ? ` <= ${DEVICE_OPERATION_BYTES / 1024} KiB` : ''}, ${(bytes / 1e6).toFixed(1)} MB)  ${fmtS(stat(devs.map((d) => d.ms.apply)))}`);
    report(`    in node: validating the whole batch before its first byte (validateSetRequest) ${sec(validateMs)} s; ` +
      `building it in chunks (setRequestChunks) ${sec(chunksMs)} s, while wireguard-go applies the chunks already sent`);
    report(`  agent load: other device calls (state read of the empty device, the 65k specs computed meanwhile; configure)   ${fmtS(stat(devs.map((d) => deviceMs(d) - d.ms.apply)))}`);
    report(`  agent load: outside device calls (snapshot, DesiredState, diff, counts)   ${fmtS(stat(agentRuns.map((r) => r.wallMs - deviceMs(r.device!))))}`);
    report(`    DesiredState.fromSnapshot ${sec(fromSnapshotMs)} s; deviceSpec ${sec(deviceSpecMs)} s (specs computed once per peer version and cached: the first call pays);`);
    report(`    the same map built again from the cache ${sec(cachedSpecMs)} s; diffDesired against an empty device ${sec(diffMs)} s`);
    report(`  CPU (user+sys): node during the agent load ${fmtS(stat(agentRuns.map((r) => r.nodeCpuMs)))}`);
    for (const k of order) {
      const cpu = stat(kinds[k].runs.map((r) => r.wgCpuMs));
      report(`  CPU (user+sys): wireguard-go during the ${k} load ${fmtS(cpu)} = ${((cpu.median * 1000) / P).toFixed(0)} us per peer`);
    }
    const incr = await incrementalCost(source, 10);
    report(`  one write at a time to an agent holding ${P} peers, in-memory device (agent CPU only), 10 writes:`);
    report(`    change on the device after ${fmtMs(incr.toDevice.median)} ms (min ${fmtMs(incr.toDevice.min)}, max ${fmtMs(incr.toDevice.max)}); ` +
      `agent busy with it ${fmtMs(incr.busy.median)} ms (min ${fmtMs(incr.busy.min)}, max ${fmtMs(incr.busy.max)}), the next change waits that long`);
  } finally {
    live.delete(cleanup);
    await cleanup();
  }
}

// ---------------------------------------------------------------- part 2: propagation

/** One UAPI get on a raw socket, answering whether the device lists `hexKey` (no parsing). */
function deviceHasKey(iface: string, hexKey: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(uapiSocketPath(iface));
    const framer = new ResponseFramer();
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`${iface}: get timed out`)); }, 5_000);
    sock.on('data', (chunk: Buffer) => {
      if (!framer.push(chunk)) return;
      clearTimeout(timer);
      sock.destroy();
      resolve(framer.text().includes(`public_key=${hexKey}\n`));
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.write(GET_REQUEST);
  });
}

interface WriteSample { firstMs: number; allMs: number; apiMs: number }

/** One createPeer; each node is polled from just before the POST until its device has the key. */
async function oneWrite(lab: Lab, ifaces: readonly string[], name: string, pollMs: number): Promise<WriteSample> {
  const key = randomBytes(32);
  const hex = key.toString('hex');
  const t0 = performance.now();
  const applied = Promise.all(ifaces.map(async (iface) => {
    for (;;) {
      if (await deviceHasKey(iface, hex)) return performance.now() - t0;
      if (performance.now() - t0 > WRITE_DEADLINE_MS) throw new Error(`${name} not on ${iface} after ${WRITE_DEADLINE_MS} ms`);
      await sleep(pollMs);
    }
  }));
  await lab.api.createPeer(lab.plan.pool.name, { name, publicKey: key.toString('base64') });
  const apiMs = performance.now() - t0;
  const times = await applied;
  return { firstMs: Math.min(...times), allMs: Math.max(...times), apiMs };
}

async function benchPropagation(report: Report, nodes: number): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'wgfabric-bench-lab-'));
  const pollMs = nodes === 1 ? 2 : 5;
  // Every lab under `base` (labUp records each step in its state file as it goes).
  const cleanup = async (): Promise<void> => {
    for (const state of loadStates(base)) await teardown(state);
    rmSync(base, { recursive: true, force: true });
  };
  live.add(cleanup);
  try {
    const bringUp = (): Promise<{ ms: number; value: Lab }> => timed(() => labUp({ backends: nodes, clients: 0, base }));
    let up: { ms: number; value: Lab };
    try {
      up = await bringUp();
    } catch (e) {
      // labUp removes what it made when it fails; on this shared machine a slow convergence happens.
      report(`  ${nodes} node(s): lab did not come up (${e instanceof Error ? e.message : String(e)}); retrying once`);
      up = await bringUp();
    }
    const lab = up.value;
    const ifaces = lab.plan.backends.map((b) => b.wgIface);
    for (let i = 0; i < WARMUP_WRITES; i++) await oneWrite(lab, ifaces, `warm-${i}`, pollMs);
    const samples: WriteSample[] = [];
    const load0 = loadavg()[0]!;
    const cpu0 = cpuTimes();
    for (let i = 0; i < WRITES; i++) samples.push(await oneWrite(lab, ifaces, `bench-${i}`, pollMs));
    const cpu1 = cpuTimes();
    const busy = (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total);
    const line = (label: string, xs: number[]): string =>
      `    ${label.padEnd(24)} p50 ${fmtMs(percentile(xs, 50))} ms   p99 ${fmtMs(percentile(xs, 99))} ms   (min ${fmtMs(Math.min(...xs))}, max ${fmtMs(Math.max(...xs))})`;
    report(`  ${nodes} node${nodes > 1 ? 's' : ''}: lab up in ${sec(up.ms)} s; ${samples.length} sequential writes after ${WARMUP_WRITES} unmeasured warm-ups; poll every ${pollMs} ms per node`);
    report(line('applied on all nodes', samples.map((s) => s.allMs)));
    report(line('applied on first node', samples.map((s) => s.firstMs)));
    report(line('API createPeer answered', samples.map((s) => s.apiMs)));
    report(`    contention: ${nodes} wireguard-go + ${nodes} agent${nodes > 1 ? 's' : ''} + server + this bench on ${cpus().length} cores; ` +
      `the machine's CPUs ${(busy * 100).toFixed(0)}% busy during the writes (other users included); load average ${load0.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}`);
  } finally {
    live.delete(cleanup);
    await cleanup();
  }
}

/** Runs both parts and reports one line per result; always removes what it made. */
export async function benchAgent(report: Report, opts: { peers?: number } = {}): Promise<void> {
  const envPeers = Number(process.env.WGF_BENCH_PEERS);
  const peers = opts.peers ?? (Number.isInteger(envPeers) && envPeers > 0 ? envPeers : DEFAULT_PEERS);
  report(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} (shared; other work runs too)`);
  const parts = (process.env.WGF_BENCH_AGENT_PARTS ?? 'load,labs').split(',');
  if (parts.includes('load')) await benchLoad(report, peers);
  if (parts.includes('load') || parts.includes('restart')) await benchRestart(report, Math.min(peers, WG_GO_MAX_PEERS));
  if (!parts.includes('labs')) return;
  report(`propagation: REST createPeer -> peer public key listed by UAPI get on the node's wireguard-go`);
  await benchPropagation(report, 1);
  await benchPropagation(report, 10);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.on('error', () => {}); // a closed pipe (| head) must not skip the cleanup
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => void (async () => {
      for (const c of live) await c().catch(() => {});
      process.exit(130);
    })());
  }
  await benchAgent((line) => console.log(line));
}
