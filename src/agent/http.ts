import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Agent } from './agent.js';
import type { DevicePeerState, WireGuardDevice } from './device.js';
import { listenError } from '../sys/listen.js';

/** Handshake age buckets (seconds): fresh sessions rekey every 120 s, dead ones pass 180 s. */
const AGE_BUCKETS = [5, 15, 30, 60, 120, 180, 300, 900, 3600];

/** Optional per-peer series (off by default: one series per peer and metric). */
export interface AgentMetricsOptions {
  readonly peerMetrics?: boolean;
  /** The interface label of per-peer series. */
  readonly iface?: string;
  /** Peer names in the control plane by public key, for the friendly_name label. */
  readonly peerNames?: () => ReadonlyMap<string, string>;
}

/** A live session ends REJECT_AFTER_TIME (180 s) after its handshake without a new one. */
export const SESSION_MAX_AGE_S = 180;

/** What one device read tells the metrics. */
export interface DeviceScrape {
  readonly peers: ReadonlyMap<string, DevicePeerState>;
  readonly rxTotal: number;
  readonly txTotal: number;
  readonly never: number;
  readonly withSession: number;
  /** Cumulative counts per AGE_BUCKETS entry, then +Inf. */
  readonly ageBuckets: readonly number[];
}

/**
 * Monotonic byte totals over a changing peer set: adds each peer's growth since the last read;
 * a peer whose counter fell (device restarted, peer re-added) counts from 0 again; a peer that
 * left keeps what it contributed.
 */
export class TrafficTotals {
  private readonly last = new Map<string, { rx: number; tx: number }>();
  rx = 0;
  tx = 0;

  update(peers: ReadonlyMap<string, DevicePeerState>): void {
    for (const [key, p] of peers) {
      const prev = this.last.get(key);
      this.rx += prev && p.rxBytes >= prev.rx ? p.rxBytes - prev.rx : p.rxBytes;
      this.tx += prev && p.txBytes >= prev.tx ? p.txBytes - prev.tx : p.txBytes;
      this.last.set(key, { rx: p.rxBytes, tx: p.txBytes });
    }
    for (const key of [...this.last.keys()]) if (!peers.has(key)) this.last.delete(key);
  }
}

/** Pure: the scrape figures of one device read at `nowMs`. */
export function summarizePeers(peers: ReadonlyMap<string, DevicePeerState>, nowMs: number, totals: TrafficTotals): DeviceScrape {
  if (peers.size > 0) totals.update(peers);
  let never = 0;
  let withSession = 0;
  const ageBuckets = new Array<number>(AGE_BUCKETS.length + 1).fill(0);
  for (const p of peers.values()) {
    if (p.lastHandshakeMs === null) {
      never++;
      continue;
    }
    const age = Math.max(0, (nowMs - p.lastHandshakeMs) / 1000);
    if (age < SESSION_MAX_AGE_S) withSession++;
    AGE_BUCKETS.forEach((b, i) => {
      if (age <= b) ageBuckets[i]!++;
    });
    ageBuckets[AGE_BUCKETS.length]!++;
  }
  return { peers, rxTotal: totals.rx, txTotal: totals.tx, never, withSession, ageBuckets };
}

/**
 * The agent's Prometheus metrics, read from its stats at scrape time. Handshake ages and
 * traffic come from a fresh device read per scrape.
 */
export function agentMetrics(agent: Agent, device: WireGuardDevice, labels: { pool: string; node: string }, opts: AgentMetricsOptions = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  const s = agent.stats;
  const gauge = (name: string, help: string, get: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(get()); } });
  gauge('wgfabric_agent_peers_desired', 'Peers the control plane wants on this device', () => s.peersDesired);
  gauge('wgfabric_agent_peers_applied', 'Peers on the device as last applied or read', () => s.peersApplied);
  gauge('wgfabric_agent_applied_revision', 'Control-plane revision applied to the device', () => s.appliedRevision);
  gauge('wgfabric_agent_control_plane_revision', 'Latest control-plane revision seen', () => s.controlPlaneRevision);
  gauge('wgfabric_agent_sync_lag_revisions', 'Control-plane revision minus applied revision', () => Math.max(0, s.controlPlaneRevision - s.appliedRevision));
  gauge('wgfabric_agent_ready', '1 when the device is up and in sync', () => (agent.ready ? 1 : 0));
  gauge('wgfabric_agent_connected', '1 while following the control plane', () => (s.connected ? 1 : 0));
  gauge('wgfabric_agent_last_reconcile_timestamp_seconds', 'Unix time of the last reconcile', () => (s.lastReconcileAt ? s.lastReconcileAt.getTime() / 1000 : 0));
  const counter = (name: string, help: string, get: () => number) => {
    let last = 0;
    return new Counter({ name, help, registers: [registry], collect() { const v = get(); this.inc(Math.max(0, v - last)); last = v; } });
  };
  counter('wgfabric_agent_reconcile_repairs_total', 'Peers added, changed or removed by the reconciler to repair drift', () => s.driftRepairs);
  counter('wgfabric_agent_reconciles_total', 'Reconcile runs', () => s.reconciles);
  counter('wgfabric_agent_device_reconfigures_total', 'Times a device that lost its configuration (a restarted wireguard-go) was configured again', () => s.deviceReconfigures);
  counter('wgfabric_agent_incremental_ops_total', 'Peer ops applied from the change stream', () => s.incrementalOps);
  counter('wgfabric_agent_device_set_operations_total', 'Set operations sent to the device', () => s.setOperations);
  counter('wgfabric_agent_snapshots_total', 'Snapshots taken from the control plane (first sync, compacted revision, rotated pool key)', () => s.snapshots);
  counter('wgfabric_agent_watch_resumes_total', 'Change streams resumed from the last applied revision after a break (possibly on another replica), without a snapshot', () => s.watchResumes);
  gauge('wgfabric_agent_watch_resume_gap_seconds', 'From the last broken change stream to the next one open', () => (s.lastResumeGapMs ?? 0) / 1000);

  // prom-client collects all metrics concurrently: one device read per scrape feeds them all.
  const traffic = new TrafficTotals();
  let scrape: Promise<DeviceScrape> | null = null;
  const readDevice = () => {
    scrape ??= (async () => {
      let peers: ReadonlyMap<string, DevicePeerState> = new Map();
      try {
        peers = (await device.state()).peers;
      } catch {
        // device away: the ready gauge already says so; totals keep their value
      }
      setTimeout(() => (scrape = null), 500).unref();
      return summarizePeers(peers, Date.now(), traffic);
    })();
    return scrape;
  };
  const deviceGauge = (name: string, help: string, pick: (d: DeviceScrape) => number) =>
    new Gauge({ name, help, registers: [registry], async collect() { this.set(pick(await readDevice())); } });
  // Counters that only go up: per-peer deltas summed, so a removed peer or a restarted device
  // never makes them fall (a peer whose counter fell started again from 0).
  const totalCounter = (name: string, help: string, pick: (d: DeviceScrape) => number) => {
    let last = 0;
    return new Counter({ name, help, registers: [registry], async collect() { const v = pick(await readDevice()); this.inc(Math.max(0, v - last)); last = Math.max(last, v); } });
  };
  totalCounter('wgfabric_agent_received_bytes_total', 'Bytes received from all peers since the agent started', (d) => d.rxTotal);
  totalCounter('wgfabric_agent_sent_bytes_total', 'Bytes sent to all peers since the agent started', (d) => d.txTotal);
  deviceGauge('wgfabric_agent_peers_without_handshake', 'Peers that never completed a handshake', (d) => d.never);
  deviceGauge('wgfabric_agent_peers_with_session', `Peers whose last handshake is younger than ${SESSION_MAX_AGE_S} s (REJECT_AFTER_TIME): they hold a live session here`, (d) => d.withSession);
  // Current ages as a cumulative gauge per bucket: histogram_quantile() works on it, and it is
  // not an event histogram (whose _count must only grow), so nothing is rebuilt per scrape.
  new Gauge({
    name: 'wgfabric_agent_peers_by_handshake_age',
    help: 'Peers whose last handshake is at most `le` seconds old at scrape time (cumulative; +Inf counts every peer with a handshake)',
    labelNames: ['le'],
    registers: [registry],
    async collect() {
      const d = await readDevice();
      AGE_BUCKETS.forEach((b, i) => this.set({ le: String(b) }, d.ageBuckets[i]!));
      this.set({ le: '+Inf' }, d.ageBuckets[AGE_BUCKETS.length]!);
    },
  });
  if (opts.peerMetrics) {
    // prometheus_wireguard_exporter's names, so its dashboards work; one series per peer.
    const perPeer = (name: string, help: string, pick: (p: DevicePeerState) => number, type: 'counter' | 'gauge') => {
      const Kind = type === 'counter' ? Counter : Gauge;
      new Kind({
        name, help, labelNames: ['interface', 'public_key', 'friendly_name'], registers: [registry],
        async collect() {
          const d = await readDevice();
          const names = opts.peerNames?.() ?? new Map<string, string>();
          (this as Gauge).reset();
          for (const [key, p] of d.peers) {
            const labels = { interface: opts.iface ?? '', public_key: key, friendly_name: names.get(key) ?? '' };
            if (this instanceof Gauge) this.set(labels, pick(p));
            else (this as Counter).inc(labels, pick(p));
          }
        },
      });
    };
    perPeer('wireguard_sent_bytes_total', 'Bytes sent to the peer (device counter; resets when the device restarts)', (p) => p.txBytes, 'counter');
    perPeer('wireguard_received_bytes_total', 'Bytes received from the peer (device counter; resets when the device restarts)', (p) => p.rxBytes, 'counter');
    perPeer('wireguard_latest_handshake_seconds', 'Unix time of the last handshake with the peer, 0 if none', (p) => (p.lastHandshakeMs ?? 0) / 1000, 'gauge');
  }
  return registry;
}

/** /healthz (process alive), /readyz (device up and in sync), /metrics. */
export function startAgentHttp(agent: Agent, registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'application/json') => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, JSON.stringify({ error: { code: 'WGF_ERR_METHOD_NOT_ALLOWED', message: 'GET only' } }));
    if (path === '/healthz') return send(200, JSON.stringify({ status: 'ok' }));
    if (path === '/readyz') {
      const st = agent.status();
      return send(agent.ready ? 200 : 503, JSON.stringify({ status: agent.ready ? 'ready' : 'not ready', ...st }));
    }
    if (path === '/metrics') {
      registry.metrics().then((text) => send(200, text, registry.contentType), () => send(500, '{}'));
      return;
    }
    send(404, JSON.stringify({ error: { code: 'WGF_ERR_NOT_FOUND', message: 'no such route' } }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(listenError(e, 'the agent', host, port)));
    server.listen(port, host, () => resolve(server));
  });
}
