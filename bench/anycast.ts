/**
 * BGP withdrawal time: `lab up --anycast` with 2 backends (real bird2 on router and backends),
 * then KILLS times: SIGKILL one backend's wireguard-go (the check failure) and measure until its
 * next hop is gone from the router's forwarding route; restart it and wait for re-announcement.
 * Baseline in the same run: the time for the router to see a route change made directly on
 * the backend's bird (`birdc disable`), i.e. BGP propagation alone, without detection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown, labUp, startWireguardGo } from '../src/lab/lab.js';
import { anycastNextHops, birdFiles, type LabAnycast } from '../src/lab/anycast.js';
import type { LabPlan } from '../src/lab/plan.js';
import { run } from '../src/sys/exec.js';

const KILLS = Number(process.env.WGF_BENCH_ANYCAST_KILLS ?? 20);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export async function benchAnycast(report: (line: string) => void): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'wgf-bg-bench-'));
  const lab = await labUp({ backends: 2, clients: 0, base, anycast: true });
  try {
    const plan = lab.plan as LabPlan & { anycast: LabAnycast };
    const victim = plan.backends[0]!;
    const waitHops = async (ok: (h: string[]) => boolean, t0: number): Promise<number> => {
      for (;;) {
        if (ok(await anycastNextHops(plan))) return performance.now() - t0;
        if (performance.now() - t0 > 60_000) throw new Error('timed out waiting for the router');
        await sleep(2);
      }
    };
    const gone = (h: string[]) => !h.includes(victim.address);
    const back = (h: string[]) => h.includes(victim.address);
    const kill: number[] = [];
    const direct: number[] = [];
    const sock = birdFiles(lab.state.dir, victim.name).socket;
    for (let i = 0; i < KILLS; i++) {
      const pid = [...lab.state.pids].reverse().find((p) => p.what === `wireguard-go ${victim.name}`)!.pid;
      const t0 = performance.now();
      process.kill(pid, 'SIGKILL');
      kill.push(await waitHops(gone, t0));
      await startWireguardGo(lab.state, victim);
      await waitHops(back, performance.now());
      // Baseline: BGP propagation alone (withdraw by hand on the backend's bird), then re-enable.
      const t1 = performance.now();
      await run('birdc', ['-s', sock, 'disable', 'wgf_anycast4']);
      direct.push(await waitHops(gone, t1));
      await run('birdc', ['-s', sock, 'enable', 'wgf_anycast4']);
      await waitHops(back, performance.now());
    }
    const f = (x: number) => `${x.toFixed(0)} ms`;
    report(`withdrawal, wireguard-go killed -> next hop gone at the router (${KILLS} kills): p50 ${f(pct(kill, 50))}, p99 ${f(pct(kill, 99))}, max ${f(Math.max(...kill))}`);
    report(`baseline, birdc disable on the backend -> next hop gone (${KILLS} runs): p50 ${f(pct(direct, 50))}, p99 ${f(pct(direct, 99))}`);
    report(`ratio p50 kill/baseline: ${(pct(kill, 50) / pct(direct, 50)).toFixed(1)}x (the difference is detection: the agent's 200 ms check with a 500 ms probe budget)`);
  } finally {
    await labDown(lab);
    rmSync(base, { recursive: true, force: true });
  }
}
