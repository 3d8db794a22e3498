/**
 * One process of simulated agents for bench/fabric.ts: the real Agent engine (HttpSource on
 * the control plane's snapshot and watch stream, node tokens, status reports) on in-memory
 * devices (FakeDevice). Driven by its parent over IPC; times are epoch ms
 * (performance.timeOrigin + now) so the parent can compare them with its own.
 */
import { createHash } from 'node:crypto';
import { Agent } from '../src/agent/agent.js';
import { FakeDevice } from '../src/agent/device-fake.js';
import type { PeerOp } from '../src/agent/diff.js';
import { HttpSource } from '../src/agent/source-http.js';
import { ApiClient } from '../src/client/api-client.js';

export interface SimAgentSpec { readonly pool: string; readonly node: string; readonly token: string }
export type ToWorker =
  | { type: 'start'; url: string; agents: SimAgentSpec[]; revision: number }
  | { type: 'stamp' }
  | { type: 'collect' }
  | { type: 'stop' };
export type FromWorker =
  | { type: 'hello' }
  | { type: 'converged'; node: string; at: number }
  | { type: 'stamps'; stamps: [string, number, number][]; rssBytes: number; heapBytes: number; agents: number }
  | { type: 'problem'; message: string };

const epoch = (): number => performance.timeOrigin + performance.now();
/** Per public key: when the last device got it, and on how many devices it landed. */
const stamps = new Map<string, [number, number]>();
let stamping = false;

class StampedDevice extends FakeDevice {
  override async apply(ops: readonly PeerOp[]): Promise<void> {
    await super.apply(ops);
    if (!stamping) return;
    const at = epoch();
    for (const o of ops) {
      if (o.op !== 'upsert') continue;
      const s = stamps.get(o.spec.publicKey);
      if (s) { s[0] = Math.max(s[0], at); s[1]++; } else stamps.set(o.spec.publicKey, [at, 1]);
    }
  }
}

/**
 * Immutable data shared between the simulated agents of this process: every agent fetches
 * its snapshot over HTTP itself (the control plane serves each one, the bytes are counted),
 * but identical answers (the agents of one pool asking at the same revision) are parsed once
 * and the parsed snapshot, which the agent only reads, is shared.
 */
const parsed = new Map<string, unknown>();
const sharingFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  if (!res.ok || !String(input).includes('/snapshot')) return res;
  const buf = Buffer.from(await res.arrayBuffer());
  const key = createHash('sha256').update(buf).digest('base64');
  let value = parsed.get(key);
  if (value === undefined) {
    value = JSON.parse(buf.toString('utf8'));
    parsed.set(key, value);
    if (parsed.size > 16) parsed.delete(parsed.keys().next().value!);
  }
  return { ok: true, status: res.status, headers: res.headers, json: async () => value, text: async () => buf.toString('utf8') } as unknown as Response;
};

const agents: Agent[] = [];
const send = (m: FromWorker): void => void process.send!(m);

process.on('message', (m: ToWorker) => {
  if (m.type === 'start') {
    for (const spec of m.agents) {
      const agent = new Agent({
        pool: spec.pool, node: spec.node, device: new StampedDevice(spec.node),
        source: new HttpSource(new ApiClient({ baseUrl: m.url, token: spec.token, timeoutMs: 120_000, fetch: sharingFetch })),
        // Status reports at the default period (they load the control plane, as real ones do);
        // the periodic full reconcile (30 s by default) would only re-read in-memory devices.
        reconcileIntervalMs: 3_600_000,
        log: (level, msg, fields) => { if (level !== 'info') send({ type: 'problem', message: `${spec.node}: ${level}: ${msg} ${JSON.stringify(fields ?? {})}` }); },
      });
      agents.push(agent);
      agent.start();
      const poll = setInterval(() => {
        if (agent.ready && agent.stats.appliedRevision >= m.revision) {
          clearInterval(poll);
          send({ type: 'converged', node: spec.node, at: epoch() });
        }
      }, 50);
    }
  } else if (m.type === 'stamp') {
    stamping = true;
  } else if (m.type === 'collect') {
    const mem = process.memoryUsage();
    send({ type: 'stamps', stamps: [...stamps].map(([k, [at, n]]) => [k, at, n]), rssBytes: mem.rss, heapBytes: mem.heapUsed, agents: agents.length });
  } else if (m.type === 'stop') {
    void Promise.all(agents.map((a) => a.stop())).finally(() => process.exit(0));
  }
});
send({ type: 'hello' });
