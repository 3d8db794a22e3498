/**
 * A simulated large fabric: the real control plane (`wgfabric server` in its own process, on
 * SQLite) against hundreds of simulated agents (bench/fabric-agents.ts: the real Agent engine
 * on in-memory devices, many per process). Prints the time for every node to converge from an
 * empty device, API write -> applied on all nodes of the pool p50/p99 under a steady write
 * load, the control plane's CPU and memory, and the bytes an agent receives for its initial
 * snapshot and per change. Needs `npm run build` (the server runs from dist/).
 *
 * The peers are spread over several pools: wireguard-go holds at most 65,536 peers per device,
 * so a fabric of 100,000 peers is several pools (README, "Scaling"). Setup (pools, nodes,
 * tokens, peers) goes through the control plane's own code in-process on the same data dir,
 * before the server process starts: it is not measured.
 *
 * Run: node --import tsx bench/fabric.ts
 * WGF_FABRIC_PEERS (100000), _NODES (200), _POOLS (4), _WORKERS (2), _WRITE_RATE (per s, 20),
 * _WRITE_SECONDS (30).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApiClient } from '../src/client/api-client.js';
import { ControlPlane } from '../src/control/plane.js';
import { loadOrCreateMasterKey, SecretBox } from '../src/control/secrets.js';
import { MemoryStore } from '../src/store/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { FromWorker, SimAgentSpec, ToWorker } from './fabric-agents.js';
import { percentile } from './stats.js';

type Report = (line: string) => void;
const env = (name: string, dflt: number): number => {
  const v = Number(process.env[`WGF_FABRIC_${name}`]);
  return Number.isInteger(v) && v > 0 ? v : dflt;
};
const BIN = fileURLToPath(new URL('../bin/wgfabric.js', import.meta.url));
const WORKER = fileURLToPath(new URL('./fabric-agents.ts', import.meta.url));
const CLK_TCK = 100;
const epoch = (): number => performance.timeOrigin + performance.now();
const mb = (b: number): string => `${(b / 1e6).toFixed(0)} MB`;

/** CPU ms (user + sys) and memory of a process, from /proc. */
function proc(pid: number): { cpuMs: number; rss: number; hwm: number } {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK, rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** A port the kernel just handed out on 127.0.0.1 (free now; the server binds it next). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function benchFabric(report: Report): Promise<void> {
  const PEERS = env('PEERS', 100_000);
  const NODES = env('NODES', 200);
  const POOLS = env('POOLS', 4);
  const WORKERS = env('WORKERS', 2);
  const RATE = env('WRITE_RATE', 20);
  const SECONDS = env('WRITE_SECONDS', 30);
  if (!existsSync(join(BIN, '../../dist/cli/main.js'))) throw new Error('bench fabric runs the server from dist/: npm run build first');
  const dir = mkdtempSync(join(tmpdir(), 'wgf-as-fabric-'));
  const port = await freePort(); // a random port could be taken (the server then stops with WGF_ERR_LISTEN)
  const url = `http://127.0.0.1:${port}`;
  const children: ChildProcess[] = [];
  report(`fabric: ${PEERS.toLocaleString('en')} peers in ${POOLS} pools, ${NODES} nodes (${NODES / POOLS} per pool, each holding its pool's ${(PEERS / POOLS).toLocaleString('en')} peers), ` +
    `${WORKERS} agent processes; ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  try {
    // ---- setup: the control plane's own code on an in-memory store, copied into the server's
    // SQLite store in big transactions (not measured; the HTTP create rate is bench api's).
    const t0 = performance.now();
    const master = await loadOrCreateMasterKey(join(dir, 'master.key'));
    const cp = new ControlPlane({ store: new MemoryStore(), secrets: new SecretBox(master.key) });
    const admin = (await cp.bootstrap())!;
    const specs: SimAgentSpec[] = [];
    const actor = { actor: 'bench' };
    for (let p = 0; p < POOLS; p++) {
      const pool = `p${p}`;
      await cp.createPool({ name: pool, ipv4Prefix: `10.${64 + 2 * p}.0.0/15`, ipv6Prefix: `fd64:${p}::/64`, listenPort: 51820 }, actor);
      for (let n = p; n < NODES; n += POOLS) {
        const node = `n${n}`;
        await cp.createNode(pool, { name: node, endpoint: `192.0.2.1:${20000 + n}` }, actor);
        const t = await cp.createToken({ name: `as-${node}`, role: 'node', pool, node }, actor);
        specs.push({ pool, node, token: t.secret });
      }
    }
    const keys = randomBytes(32 * PEERS);
    for (let i = 0; i < PEERS; i++) {
      const p = i % POOLS;
      const j = Math.floor(i / POOLS) + 2; // .1 is the servers'; addresses given, so the setup does not search the pool for free ones
      const addresses = [`10.${64 + 2 * p + (j >> 16)}.${(j >> 8) & 255}.${j & 255}/32`, `fd64:${p}::${j.toString(16)}/128`];
      await cp.createPeer(`p${p}`, { name: `c${i}`, publicKey: keys.subarray(32 * i, 32 * i + 32).toString('base64'), addresses }, actor);
    }
    const sqlite = await SqliteStore.open(join(dir, 'data'));
    const { kvs } = await cp.store.range('');
    for (let i = 0; i < kvs.length; i += 20_000) {
      await sqlite.txn([], kvs.slice(i, i + 20_000).map((kv) => ({ type: 'put' as const, key: kv.key, value: kv.value })));
    }
    await sqlite.close();
    report(`  setup (in-process, not measured): ${((performance.now() - t0) / 1000).toFixed(0)} s, ${kvs.length.toLocaleString('en')} keys`);

    // ---- the control plane, in its own process
    const server = spawn(process.execPath, [BIN, 'server', '--data-dir', join(dir, 'data'), '--master-key-file', join(dir, 'master.key'), '--listen', `127.0.0.1:${port}`],
      { stdio: ['ignore', process.env.WGF_FABRIC_SERVER_LOG ? openSync(process.env.WGF_FABRIC_SERVER_LOG, 'w') : 'ignore', 'inherit'] });
    children.push(server);
    const api = new ApiClient({ baseUrl: url, token: admin, timeoutMs: 120_000 });
    for (let i = 0; ; i++) {
      try { if ((await api.health()).status === 'ok') break; } catch { /* starting */ }
      if (i > 600) throw new Error('the server did not answer /healthz within 60 s');
      await sleep(100);
    }
    const { revision } = await api.ready();
    const idle = proc(server.pid!);
    const snapRes = await fetch(`${url}/v1/pools/p0/snapshot`, { headers: { authorization: `Bearer ${specs[0]!.token}`, 'accept-encoding': 'identity' } });
    const snapBytes = (await snapRes.arrayBuffer()).byteLength;

    // ---- convergence from empty devices
    const workers = Array.from({ length: WORKERS }, () => {
      const w = fork(WORKER, [], { execArgv: [...process.execArgv, '--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(w);
      return w;
    });
    await Promise.all(workers.map((w) => new Promise((res) => w.once('message', res)))); // loaded: the clock starts after
    const converged = new Map<string, number>();
    const problems: string[] = [];
    let collected: Extract<FromWorker, { type: 'stamps' }>[] = [];
    for (const w of workers) {
      w.on('message', (m: FromWorker) => {
        if (m.type === 'converged') converged.set(m.node, m.at);
        else if (m.type === 'problem') problems.push(m.message);
        else if (m.type === 'stamps') collected.push(m);
      });
    }
    const cpu0 = proc(server.pid!).cpuMs;
    const start = epoch();
    workers.forEach((w, i) => w.send({ type: 'start', url, revision, agents: specs.filter((_, j) => j % WORKERS === i) } satisfies ToWorker));
    let lastNote = epoch();
    while (converged.size < specs.length) {
      if (epoch() - lastNote > 10_000) {
        lastNote = epoch();
        report(`  ... ${converged.size}/${specs.length} nodes converged after ${((epoch() - start) / 1000).toFixed(0)} s; ${problems.length} warnings${problems.length ? `, last: ${problems[problems.length - 1]!.slice(0, 300)}` : ''}`);
      }
      if (epoch() - start > env('CONVERGE_LIMIT_S', 900) * 1000) throw new Error(`only ${converged.size}/${specs.length} nodes converged in ${env('CONVERGE_LIMIT_S', 900)} s; ${problems.slice(0, 3).join('; ')}`);
      await sleep(100);
    }
    const times = [...converged.values()].map((at) => at - start);
    const conv = proc(server.pid!);
    const convCpu = conv.cpuMs - cpu0;
    const convMs = Math.max(...times);

    // ---- steady writes, and one more watch stream counting its bytes
    const watchAbort = new AbortController();
    let streamBytes = 0;
    const { revision: since } = await api.ready();
    const watch = fetch(`${url}/v1/pools/p0/watch?since=${since}`, { headers: { authorization: `Bearer ${specs[0]!.token}`, 'accept-encoding': 'identity' }, signal: watchAbort.signal })
      .then(async (res) => { for await (const chunk of res.body!) streamBytes += (chunk as Uint8Array).byteLength; })
      .catch(() => {});
    await sleep(500);
    for (const w of workers) w.send({ type: 'stamp' } satisfies ToWorker);
    const written: { key: string; pool: string; at: number; apiMs: number }[] = [];
    const cpu1 = proc(server.pid!).cpuMs;
    const w0 = epoch();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < RATE * SECONDS; i++) {
      const due = w0 + (i * 1000) / RATE;
      if (due > epoch()) await sleep(due - epoch());
      const key = randomBytes(32).toString('base64');
      const pool = `p${i % POOLS}`;
      const at = epoch();
      pending.push(api.createPeer(pool, { name: `w${i}`, publicKey: key }).then(() => void written.push({ key, pool, at, apiMs: epoch() - at })));
    }
    await Promise.all(pending);
    const writeWall = epoch() - w0;
    const cpuSteady = proc(server.pid!).cpuMs - cpu1;
    const p0Writes = written.filter((x) => x.pool === 'p0').length;
    const perPool = NODES / POOLS;
    let lat: number[] = [];
    let missing = written.length;
    for (let tries = 0; tries < 60 && missing > 0; tries++) {
      await sleep(1000);
      collected = [];
      for (const w of workers) w.send({ type: 'collect' } satisfies ToWorker);
      while (collected.length < workers.length) await sleep(20);
      const merged = new Map<string, [number, number]>();
      for (const c of collected) for (const [k, at, n] of c.stamps) {
        const m = merged.get(k);
        merged.set(k, m ? [Math.max(m[0], at), m[1] + n] : [at, n]);
      }
      lat = [];
      missing = 0;
      for (const x of written) {
        const m = merged.get(x.key);
        if (m && m[1] >= perPool) lat.push(m[0] - x.at);
        else missing++;
      }
    }
    watchAbort.abort();
    await watch;
    const end = proc(server.pid!);
    const rss = collected.reduce((n, c) => n + c.rssBytes, 0);
    report(`  converge from empty: all ${specs.length} nodes applied revision ${revision} after ${(convMs / 1000).toFixed(1)} s ` +
      `(p50 node ${(percentile(times, 50) / 1000).toFixed(1)} s); control plane CPU ${(convCpu / 1000).toFixed(1)} s in that time; ${problems.length} agent warnings meanwhile`);
    report(`  steady writes: ${written.length} createPeer at ${RATE}/s over ${(writeWall / 1000).toFixed(1)} s, round-robin over the pools (${perPool} nodes each)`);
    report(`    API write -> applied on all nodes of its pool: p50 ${percentile(lat, 50).toFixed(0)} ms, p99 ${percentile(lat, 99).toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms` +
      `${missing > 0 ? `; ${missing} write(s) NOT on every node after 60 s` : ''}`);
    report(`    API createPeer answered: p50 ${percentile(written.map((x) => x.apiMs), 50).toFixed(0)} ms, p99 ${percentile(written.map((x) => x.apiMs), 99).toFixed(0)} ms`);
    report(`  control plane: CPU ${((cpuSteady / writeWall) * 100).toFixed(0)}% of one core during the writes (status reports of ${specs.length} agents every 5 s included); ` +
      `RSS ${mb(idle.rss)} idle before the agents, ${mb(conv.rss)} after convergence, ${mb(end.rss)} at the end, peak ${mb(end.hwm)}`);
    report(`  bytes to one agent: initial snapshot of ${(PEERS / POOLS).toLocaleString('en')} peers ${mb(snapBytes)} (${(snapBytes / (PEERS / POOLS)).toFixed(0)} B per peer, uncompressed JSON); ` +
      `per change ${(streamBytes / Math.max(1, p0Writes)).toFixed(0)} B (watch stream bytes / ${p0Writes} writes to its pool, heartbeats included)`);
    report(`  simulated agents: ${mb(rss)} RSS in ${WORKERS} processes = ${mb(rss / specs.length)} per agent of ${(PEERS / POOLS).toLocaleString('en')} peers${problems.length ? `; errors: ${problems.slice(0, 3).join('; ')}` : ''}`);
    for (const w of workers) w.send({ type: 'stop' } satisfies ToWorker);
    await sleep(1000);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(500);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchFabric((line) => console.log(line));
}
