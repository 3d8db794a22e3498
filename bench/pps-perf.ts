/**
 * Where the per-packet time goes on the pps bench's topology (bench/pps-topology.ts), one mode at
 * a time: 8 flows for WGF_PPS_PERF_MS (default 4000) per mode while
 *  - kernel.bpf_stats_enabled is 1 (restored afterwards): the tc program's own run time per
 *    packet (run_time_ns / run_cnt from bpftool prog show);
 *  - with WGF_PPS_PERF_DIR set, `perf record -g -C <sender cpu>` writes <dir>/<mode>.data.
 * Prints path CPU per packet of each mode (as bench/pps.ts) and the program's ns per run.
 * Needs root. Run: node --import tsx bench/pps-perf.ts [mode ...]   (default: direct bpf)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/sys/exec.js';
import { Sandbox } from '../src/sys/netns.js';
import { measureRound } from './pps.js';
import { buildTopology, compile, type Mode, setMode } from './pps-topology.js';

/** Runs a command and resolves when it has exited (whenever that is). */
function spawnDone(cmd: string, args: string[], o: { stdio: 'ignore' }): Promise<void> {
  const c = spawn(cmd, args, o);
  return new Promise((res) => c.on('close', () => res()));
}

interface ProgStat { id: number; run_time_ns?: number; run_cnt?: number; name?: string }

async function progStats(): Promise<Map<number, ProgStat>> {
  const r = await run('bpftool', ['-j', 'prog', 'show'], { allowFailure: true });
  const out = new Map<number, ProgStat>();
  if (r.code !== 0) return out;
  for (const p of JSON.parse(r.stdout) as ProgStat[]) if (p.name?.startsWith('wglb_')) out.set(p.id, p);
  return out;
}

// On SIGINT/SIGTERM the finally block below still runs (the sysctl is restored, the namespaces go).
let stopping = false;
const stop = (): void => {
  stopping = true;
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const modes = (process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['direct', 'bpf']) as Mode[];
const ms = Number(process.env.WGF_PPS_PERF_MS ?? 4000);
const dir = process.env.WGF_PPS_PERF_DIR;
const box = new Sandbox('wpf');
const statsBefore = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
try {
  const tmp = mkdtempSync(join(tmpdir(), 'wgf-ppsperf-'));
  box.defer(async () => rmSync(tmp, { recursive: true, force: true }));
  const t = await buildTopology(box, await compile(tmp));
  console.log(`pps-perf: load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
  for (const mode of modes) {
    if (stopping) break;
    await setMode(t, mode);
    await measureRound(t, mode, 8, 500); // warm-up: flows in the table
    const before = await progStats();
    const perf = dir === undefined ? undefined
      : spawnDone('perf', ['record', '-q', '-g', '-C', String(t.cpu.sender ?? 0), '-o', join(dir, `${mode}.data`), '--', 'sleep', String(Math.max(1, ms / 1000 - 1))], { stdio: 'ignore' });
    const r = await measureRound(t, mode, 8, ms);
    await perf;
    const after = await progStats();
    const progs = [...after.values()].map((a) => {
      const b = before.get(a.id);
      const n = (a.run_cnt ?? 0) - (b?.run_cnt ?? 0);
      const ns = (a.run_time_ns ?? 0) - (b?.run_time_ns ?? 0);
      return n > 1000 ? `${a.name}#${a.id} ${(ns / n).toFixed(0)} ns/run over ${n} runs` : '';
    }).filter((x) => x !== '');
    console.log(`pps-perf ${mode}: received ${(r.recvPps / 1000).toFixed(1)}k pps, path CPU ${(r.pathNs / 1000).toFixed(3)} us/pkt; ${progs.join('; ') || 'no wglb program ran'}`);
  }
} finally {
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', statsBefore);
  await box.cleanup();
}
