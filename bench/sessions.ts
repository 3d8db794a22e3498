/**
 * Session reporting cost at scale: 100,000 peers over 10 simulated nodes, each node's device
 * holding all 100,000 peers (one shared peer set) with 10,000 sessions of its own. Ten real
 * SessionReporters (agent/session-reporter.ts) send to one real server (HTTP on loopback, the
 * in-memory session registry behind it) while simulated time moves 10 s per round.
 *
 * Activity model per round (stated, not measured from users): every active peer's byte counters
 * move; a twelfth of the active peers re-handshake (WireGuard rekeys every 120 s); 0.1 % of them
 * roam to a new address. Two fleets: all 100,000 peers active (worst case) and 10 % active.
 * Baseline in the same run: reporters that send every entry every round (no deltas).
 *
 * Printed: entries and requests per second into the control plane, bytes per report (and per
 * node per round), server wall time per round, the registry's memory (heap with it minus heap
 * after dropping it, both after a full GC).
 * Run: node --import tsx bench/run.ts sessions
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { DevicePeerState } from '../src/agent/device.js';
import { SessionReporter, type SessionTarget } from '../src/agent/session-reporter.js';
import { ApiClient } from '../src/client/api-client.js';
import { ControlPlane } from '../src/control/plane.js';
import { SecretBox } from '../src/control/secrets.js';
import { SessionRegistry } from '../src/control/sessions.js';
import { buildServer } from '../src/server/app.js';
import { MemoryStore } from '../src/store/memory.js';

const PEERS = Number(process.env.WGF_BENCH_SESSION_PEERS ?? 100_000);
const NODES = 10;
const ROUND_S = 10;
const STEADY_ROUNDS = 12; // two simulated minutes
const PORT = 47100;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Report = (line: string) => void;

const key = (i: number) => {
  const b = Buffer.alloc(32);
  b.writeUInt32BE(i, 0);
  b[31] = 0x40;
  return b.toString('base64');
};

interface Fleet { active: number; deltas: boolean }

/** One fleet run: returns per-round figures of the steady rounds. */
async function runFleet(api: ApiClient[], fleet: Fleet, registry: SessionRegistry) {
  let nowMs = Date.UTC(2026, 11, 4);
  const keys = Array.from({ length: PEERS }, (_, i) => key(i));
  // Per node: peer index -> state; node n holds the sessions of peers i with i % NODES === n.
  const idle: DevicePeerState = { publicKey: '', allowedIps: [], lastHandshakeMs: null, rxBytes: 0, txBytes: 0, endpoint: null };
  const devices = Array.from({ length: NODES }, () => new Map<string, DevicePeerState>(keys.map((k) => [k, idle])));
  const isActive = (i: number) => i % Math.round(PEERS / fleet.active) === 0;
  for (let i = 0; i < PEERS; i++) {
    if (!isActive(i)) continue;
    devices[i % NODES]!.set(keys[i]!, { publicKey: keys[i]!, allowedIps: [], lastHandshakeMs: nowMs - (i % 120) * 1000, rxBytes: 1000, txBytes: 1000, endpoint: `198.18.${(i >> 8) & 255}.${i & 255}:51820` });
  }
  const reporters = devices.map((dev, n) => new SessionReporter({
    pool: 'bench', node: `n${n}`, read: async () => dev, now: () => nowMs, bytesIntervalMs: fleet.deltas ? 60_000 : 0,
    targets: [{ name: 'cp', send: (r) => api[n]!.putSessions('bench', `n${n}`, r) } satisfies SessionTarget],
  }));
  const full = async () => {
    // the baseline: every entry every round (a new chain each time)
    for (const r of reporters) (r as unknown as { chains: { reset: boolean }[] }).chains[0]!.reset = true;
  };
  const round = async () => {
    if (!fleet.deltas) await full();
    const t0 = performance.now();
    await Promise.all(reporters.map((r) => r.tick()));
    return performance.now() - t0;
  };
  await round(); // first report: the whole table (reset chain)
  const before = reporters.map((r) => ({ ...r.stats }));
  const times: number[] = [];
  for (let k = 0; k < STEADY_ROUNDS; k++) {
    nowMs += ROUND_S * 1000;
    for (let i = 0; i < PEERS; i++) {
      if (!isActive(i)) continue;
      const dev = devices[i % NODES]!;
      const p = dev.get(keys[i]!)!;
      const rehandshake = (i + k) % 12 === 0;
      const roam = (i * 7 + k) % 1000 === 0;
      dev.set(keys[i]!, {
        ...p, rxBytes: p.rxBytes + 1500, txBytes: p.txBytes + 3000, lastHandshakeMs: rehandshake ? nowMs : p.lastHandshakeMs,
        endpoint: roam ? `203.0.${(i >> 8) & 255}.${(i + k) & 255}:40000` : p.endpoint,
      });
    }
    times.push(await round());
  }
  const sum = (f: (s: SessionReporter['stats']) => number) => reporters.reduce((a, r, n) => a + f(r.stats) - f(before[n]!), 0);
  const seconds = STEADY_ROUNDS * ROUND_S;
  return {
    entriesPerS: sum((s) => s.entriesSent) / seconds, requestsPerS: sum((s) => s.reports) / seconds,
    bytesPerReport: sum((s) => s.bytesSent) / sum((s) => s.reports), bytesPerNodeRound: sum((s) => s.bytesSent) / (NODES * STEADY_ROUNDS),
    roundMs: times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!, roundMaxMs: Math.max(...times),
    entries: registry.size().entries, failures: sum((s) => s.failures) + sum((s) => s.resyncs),
  };
}

/**
 * The registry's own heap: `entries` sessions spread over NODES nodes, applied from reports
 * parsed from JSON (fresh strings, as the server gets them), measured after full GCs.
 */
function registryMemory(entries: number): number {
  const reports = Array.from({ length: NODES }, (_, n) => JSON.stringify({
    epoch: 'bench-epoch', seq: 1, reset: true, removed: [],
    peers: Array.from({ length: entries / NODES }, (_, j) => {
      const i = j * NODES + n;
      return { publicKey: key(i), lastHandshake: 1_800_000_000 + (i % 120), rxBytes: 123_456_789, txBytes: 987_654_321, endpoint: `198.18.${(i >> 8) & 255}.${i & 255}:51820` };
    }),
  }));
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const reg = new SessionRegistry();
  for (let n = 0; n < NODES; n++) reg.apply('bench', `n${n}`, JSON.parse(reports[n]!), Date.now());
  gc();
  gc();
  const used = process.memoryUsage().heapUsed - before;
  if (reports.length !== NODES) throw new Error('the report texts must stay alive until measured');
  if (reg.size().entries !== entries) throw new Error(`registry holds ${reg.size().entries} entries, expected ${entries}`);
  return used;
}

export async function benchSessions(report: Report): Promise<void> {
  report(`${PEERS} peers over ${NODES} nodes (all peers on every device; sessions split evenly), ${ROUND_S} s reports, ${STEADY_ROUNDS} steady rounds after the first full one`);
  for (const active of [PEERS, PEERS / 10]) {
    const results: Record<string, Awaited<ReturnType<typeof runFleet>>> = {};
    const memory = registryMemory(active);
    for (const deltas of [false, true]) {
      const store = new MemoryStore();
      const cp = new ControlPlane({ store, secrets: SecretBox.random() });
      const admin = (await cp.bootstrap())!;
      await cp.createPool({ name: 'bench', ipv4Prefix: '10.0.0.0/8' }, { actor: 'bench' });
      for (let n = 0; n < NODES; n++) await cp.createNode('bench', { name: `n${n}` }, { actor: 'bench' });
      const sessions = new SessionRegistry();
      const app = await buildServer({ control: cp, sessions });
      await app.listen({ host: '127.0.0.1', port: PORT });
      const api = Array.from({ length: NODES }, () => new ApiClient({ baseUrl: `http://127.0.0.1:${PORT}`, token: admin }));
      try {
        results[deltas ? 'deltas' : 'full'] = await runFleet(api, { active, deltas }, sessions);
      } finally {
        await app.close();
        await store.close();
      }
    }
    const d = results['deltas']!;
    const f = results['full']!;
    report(`active peers ${active}: deltas: ${d.entriesPerS.toFixed(0)} entries/s, ${d.requestsPerS.toFixed(1)} requests/s into the control plane, `
      + `${(d.bytesPerReport / 1024).toFixed(1)} KiB per report, ${(d.bytesPerNodeRound / 1024).toFixed(1)} KiB per node per ${ROUND_S} s; round (10 reports) median ${d.roundMs.toFixed(0)} ms, max ${d.roundMaxMs.toFixed(0)} ms`);
    report(`  baseline (every entry every round): ${f.entriesPerS.toFixed(0)} entries/s, ${(f.bytesPerNodeRound / 1024).toFixed(1)} KiB per node per round, round median ${f.roundMs.toFixed(0)} ms`);
    report(`  deltas/baseline: entries ${(d.entriesPerS / f.entriesPerS).toFixed(3)}, bytes ${(d.bytesPerNodeRound / f.bytesPerNodeRound).toFixed(3)}, round time ${(d.roundMs / f.roundMs).toFixed(2)}`);
    report(`  control-plane registry: ${d.entries} entries, ${(memory / 1048576).toFixed(1)} MiB of heap for ${active} entries as parsed from reports (${(memory / active).toFixed(0)} B per entry, after a full GC); resyncs+failures ${d.failures}`);
  }
}
