/**
 * An agent restart on a wireguard-go that already holds every peer (the agent's restart after an
 * upgrade or crash: the device kept running), against `wg syncconf` of the same peers on the
 * same device, measured in the same run, rounds alternating. Also timed on the same device:
 * one bare UAPI get on a raw socket (no parsing: what any client must wait for), split into
 * wireguard-go building its answer (request -> first byte) and sending it (first -> last byte).
 * Run from bench/agent.ts (part `restart`, also part of `load`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../src/agent/agent.js';
import type { DeviceConfig, DeviceState, WireGuardDevice } from '../src/agent/device.js';
import { UapiDeviceDriver } from '../src/agent/device-uapi.js';
import type { PeerOp } from '../src/agent/diff.js';
import { MemorySource } from '../src/agent/testing/memory-source.js';
import { run } from '../src/sys/exec.js';
import { Sandbox, stopProcess, uapiSocketPath } from '../src/sys/netns.js';
import { formatIp } from '../src/protocol/ipam.js';
import { newInterface, newPeer, renderSetconf } from '../src/wg/config.js';
import { GET_REQUEST, ResponseFramer } from '../src/wg/uapi-codec.js';
import { stat, type Stat } from './stats.js';

type Report = (line: string) => void;

const ROUNDS = Number(process.env.WGF_BENCH_RESTART_ROUNDS) || 5;
const sec = (ms: number): string => (ms / 1000).toFixed(2);
const fmtS = (s: Stat): string => `${sec(s.median)} s (min ${sec(s.min)}, max ${sec(s.max)})`;
const fmtX = (s: Stat): string => `${s.median.toFixed(2)}x (min ${s.min.toFixed(2)}, max ${s.max.toFixed(2)})`;
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');

const CLK_TCK = 100; // USER_HZ on Linux/x86-64

/** User + system CPU in ms of a process (fields 14, 15), or of its reaped children (16, 17). */
function procCpuMs(pid: number | 'self', children = false): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const i = children ? 13 : 11;
  return ((Number(f[i]) + Number(f[i + 1])) * 1000) / CLK_TCK;
}

/** This process's CPU in ms (finer than /proc's ticks). */
function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Counts and times the driver's calls. */
class CountingDevice implements WireGuardDevice {
  stateCalls = 0;
  stateMs = 0;
  otherCalls = 0;
  ops = 0;
  constructor(private readonly inner: WireGuardDevice) {}
  get name(): string { return this.inner.name; }
  async configure(cfg: DeviceConfig): Promise<void> { this.otherCalls++; await this.inner.configure(cfg); }
  async publicKey(): Promise<string | null> { this.otherCalls++; return this.inner.publicKey(); }
  async state(): Promise<DeviceState> {
    this.stateCalls++;
    const t0 = performance.now();
    try { return await this.inner.state(); } finally { this.stateMs += performance.now() - t0; }
  }
  async apply(ops: readonly PeerOp[]): Promise<void> { this.ops += ops.length; await this.inner.apply(ops); }
}

/** One UAPI get on a raw socket, unparsed: ms to the first byte of the answer and to its end. */
function bareGet(iface: string): Promise<{ firstMs: number; lastMs: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstMs = -1;
    const framer = new ResponseFramer();
    const sock = createConnection(uapiSocketPath(iface));
    sock.on('data', (chunk: Buffer) => {
      if (firstMs < 0) firstMs = performance.now() - t0;
      if (!framer.push(chunk)) return;
      const lastMs = performance.now() - t0;
      sock.destroy();
      resolve({ firstMs, lastMs, bytes: framer.bytes });
    });
    sock.on('error', reject);
    sock.write(GET_REQUEST);
  });
}

/**
 * Peer i's tunnel addresses as the control plane stores them: canonical (ipam.formatIp, RFC 5952
 * for IPv6), as wireguard-go prints them back.
 */
export function benchAddresses(i: number): string[] {
  return [`10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`, `${formatIp(6, 0xfd64n << 112n | BigInt(i))}/128`];
}

export async function benchRestart(report: Report, P: number): Promise<void> {
  report(`agent restart on an in-sync wireguard-go of ${P.toLocaleString('en')} peers (2 allowed IPs each) vs wg syncconf, ${ROUNDS} rounds alternating, same device`);
  const sb = new Sandbox('wgas');
  const dir = mkdtempSync(join(tmpdir(), `wgas${sb.tag}-`));
  try {
    const ns = await sb.addNetns('n');
    const keys = randomBytes(32 * P);
    const privateKey = randomBytes(32).toString('base64');
    const source = new MemorySource(privateKey);
    const conf = join(dir, 'peers.conf');
    const peers = Array.from({ length: P }, (_, i) => ({
      name: `p${i}`,
      publicKey: keys.subarray(32 * i, 32 * i + 32).toString('base64'),
      addresses: benchAddresses(i),
    }));
    for (const p of peers) source.put(p);
    writeFileSync(conf, renderSetconf({
      interface: newInterface({ privateKey }),
      peers: peers.map((p) => newPeer(p.publicKey, { allowedIps: [...p.addresses] })),
    }), { mode: 0o600 });
    const iface = sb.name('d');
    const device = await sb.startWireguardGo(ns, iface);
    try {
      await run('wg', ['setconf', iface, conf], { timeoutMs: 600_000 });
      const restarts: number[] = [];
      const syncconfs: number[] = [];
      const reads: number[] = [];
      const firsts: number[] = [];
      const lasts: number[] = [];
      const outside: number[] = [];
      /** CPU per round: node and wireguard-go during the restart; wg and wireguard-go during syncconf. */
      const cpu = { agentNode: [] as number[], agentWg: [] as number[], syncWgTool: [] as number[], syncWg: [] as number[] };
      const wgPid = device.pid!;
      let bytes = 0;
      let calls = '';
      const load0 = load();
      for (let round = 0; round < ROUNDS; round++) {
        const restart = async (): Promise<void> => {
          const dev = new CountingDevice(new UapiDeviceDriver(iface, { timeoutMs: 300_000 }));
          const problems: string[] = [];
          const agent = new Agent({
            pool: 'p', node: 'n', source, device: dev, reconcileIntervalMs: 3_600_000, reportIntervalMs: 3_600_000,
            log: (level, msg) => level !== 'info' && problems.push(`${level}: ${msg}`),
          });
          const c0 = selfCpuMs();
          const w0 = procCpuMs(wgPid);
          const t0 = performance.now();
          agent.start();
          try {
            while (agent.stats.appliedRevision < source.revision && problems.length === 0) await sleep(2);
          } finally {
            await agent.stop();
          }
          const ms = performance.now() - t0;
          cpu.agentNode.push(selfCpuMs() - c0);
          cpu.agentWg.push(procCpuMs(wgPid) - w0);
          if (problems.length > 0) throw new Error(`agent restart: ${problems.join('; ')}`);
          if (dev.ops !== 0 || dev.stateCalls !== 1) throw new Error(`agent restart on an in-sync device: ${dev.stateCalls} state reads, ${dev.ops} ops`);
          restarts.push(ms);
          reads.push(dev.stateMs);
          outside.push(ms - dev.stateMs);
          calls = `${dev.stateCalls} state read, ${dev.otherCalls} other device calls, ${dev.ops} ops`;
        };
        const syncconf = async (): Promise<void> => {
          const k0 = procCpuMs('self', true);
          const w0 = procCpuMs(wgPid);
          const t0 = performance.now();
          await run('wg', ['syncconf', iface, conf], { timeoutMs: 600_000 });
          syncconfs.push(performance.now() - t0);
          cpu.syncWgTool.push(procCpuMs('self', true) - k0);
          cpu.syncWg.push(procCpuMs(wgPid) - w0);
        };
        // Alternate which goes first, so a drift in machine load favours neither.
        if (round % 2 === 0) { await restart(); await syncconf(); } else { await syncconf(); await restart(); }
        const g = await bareGet(iface);
        firsts.push(g.firstMs);
        lasts.push(g.lastMs);
        bytes = g.bytes;
      }
      const r = stat(restarts);
      const s = stat(syncconfs);
      const g = stat(lasts);
      report(`  load average before ${load0}, after ${load()} (2 shared cores)`);
      report(`  agent restart (one device read, diff, 0 ops; ${calls})   ${fmtS(r)}`);
      report(`  wg syncconf of the same peers                              ${fmtS(s)}`);
      report(`  floor: one bare UAPI get, unparsed (${(bytes / 1e6).toFixed(1)} MB)         ${fmtS(g)}; first byte after ${fmtS(stat(firsts))}`);
      report(`  ratio agent restart / wg syncconf  ${(r.median / s.median).toFixed(2)}x of medians, per round ${fmtX(stat(restarts.map((x, i) => x / syncconfs[i]!)))}   (target <= 1.10)`);
      report(`  ratio agent restart / bare get     ${(r.median / g.median).toFixed(2)}x of medians, per round ${fmtX(stat(restarts.map((x, i) => x / lasts[i]!)))}`);
      report(`  agent restart: state() (get + parse, specs computed meanwhile) ${fmtS(stat(reads))}; outside device calls ${fmtS(stat(outside))}`);
      // CPU does not depend on how busy the machine is the way wall time does: the load-proof view.
      const ms = (xs: number[]): string => `${stat(xs).median.toFixed(0)} ms`;
      const agentCpu = cpu.agentNode.map((x, i) => x + cpu.agentWg[i]!);
      const syncCpu = cpu.syncWgTool.map((x, i) => x + cpu.syncWg[i]!);
      report(`  CPU per round (median; /proc ticks of 10 ms): agent restart = node ${ms(cpu.agentNode)} + wireguard-go ${ms(cpu.agentWg)}; ` +
        `wg syncconf = wg ${ms(cpu.syncWgTool)} + wireguard-go ${ms(cpu.syncWg)}`);
      report(`  ratio of CPU agent restart / wg syncconf  ${(stat(agentCpu).median / stat(syncCpu).median).toFixed(2)}x of medians; node's own CPU ${((stat(cpu.agentNode).median * 1000) / P).toFixed(1)} us per peer`);
      report(`  target agent restart <= 1.10x wg syncconf (wall, medians): ${r.median / s.median <= 1.1 ? 'met' : 'NOT met'} (${(r.median / s.median).toFixed(2)}x at load ${loadavg()[0]!.toFixed(1)})`);
    } finally {
      await stopProcess(device);
    }
  } finally {
    await sb.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
