/**
 * Runs the benchmarks: `npm run bench` (all), `npm run bench -- store api` (some) or
 * `npm run bench -- scale` (a group, below).
 * Every figure is printed with its spread and as a ratio against a baseline measured in the
 * same run, because this 2-core machine is noisy and absolute numbers move between runs.
 */
import { cpus, loadavg } from 'node:os';

type Bench = (report: (line: string) => void) => Promise<void>;

const BENCHES: Record<string, () => Promise<Bench>> = {
  store: async () => (await import('./store.js')).benchStore,
  api: async () => (await import('./api.js')).benchApi,
  handshake: async () => (await import('./handshake.js')).benchHandshake,
  maglev: async () => (await import('./maglev.js')).benchMaglev,
  lb: async () => (await import('./lb.js')).benchLb,
  pps: async () => (await import('./pps.js')).benchPps,
  uapi: async () => (await import('./uapi.js')).benchUapi,
  agent: async () => (await import('./agent.js')).benchAgent,
  etcd: async () => (await import('./etcd.js')).benchEtcd,
  anycast: async () => (await import('./anycast.js')).benchAnycast,
  cpscale: async () => (await import('./cpscale.js')).benchCpscale,
  dashboard: async () => (await import('./dashboard.js')).benchDashboard,
  sessions: async () => (await import('./sessions.js')).benchSessions,
  lab: async () => (await import('./lab.js')).benchLab,
  fabric: async () => (await import('./fabric.js')).benchFabric,
  'lb-reaction': async () => (await import('./lb-reaction.js')).benchLbReaction,
  'dns-reaction': async () => (await import('./dns-reaction.js')).benchDnsReaction,
  mac1: async () => (await import('./mac1.js')).benchMac1,
};

/**
 * Groups run several benches with settings of their own (an explicit environment wins), then
 * repeat every target line at the end. `scale` prints issue 14's acceptance figures in one run.
 */
const GROUPS: Record<string, { benches: string[]; env: Record<string, string> }> = {
  scale: {
    benches: ['cpscale', 'agent', 'handshake', 'lab', 'fabric'],
    env: { WGF_BENCH_PEERS: '65536', WGF_BENCH_AGENT_PARTS: 'load' },
  },
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in BENCHES) && !(w in GROUPS));
if (unknown.length > 0) {
  console.error(`unknown bench: ${unknown.join(', ')}; choose from ${[...Object.keys(BENCHES), ...Object.keys(GROUPS)].join(', ')}`);
  process.exit(64);
}
const names: string[] = [];
for (const w of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
  const group = GROUPS[w];
  if (group) {
    for (const [k, v] of Object.entries(group.env)) process.env[k] ??= v;
    names.push(...group.benches);
  } else names.push(w);
}
/** A line that states whether a target was met: repeated in the summary at the end. */
const isVerdict = (line: string): boolean => /\btarget\b/i.test(line) && /\b(met|NOT met)\b/.test(line);
const verdicts: string[] = [];
console.log(`# wgfabric benchmarks on ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const name of [...new Set(names)]) {
  console.log(`\n## ${name}`);
  const started = Date.now();
  await (await BENCHES[name]!())((line) => {
    console.log(line);
    if (isVerdict(line)) verdicts.push(line.trim().startsWith(`${name}:`) ? line.trim() : `${name}: ${line.trim()}`);
  });
  console.log(`(${name}: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
if (verdicts.length > 0) {
  console.log(`\n## targets (load average now ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  for (const v of verdicts) console.log(v);
}
