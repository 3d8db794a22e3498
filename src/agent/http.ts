import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Agent } from './agent.js';
import type { WireGuardDevice } from './device.js';

/** Handshake age buckets (seconds): fresh sessions rekey every 120 s, dead ones pass 180 s. */
const AGE_BUCKETS = [5, 15, 30, 60, 120, 180, 300, 900, 3600];

/**
 * The agent's Prometheus metrics, read from its stats at scrape time. Handshake ages and
 * traffic come from a fresh device read per scrape.
 */
export function agentMetrics(agent: Agent, device: WireGuardDevice, labels: { pool: string; node: string }): Registry {
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
  let scrape: Promise<{ rx: number; tx: number; never: number; ages: number[] }> | null = null;
  const readDevice = () => {
    scrape ??= (async () => {
      const out = { rx: 0, tx: 0, never: 0, ages: [] as number[] };
      const now = Date.now();
      try {
        for (const p of (await device.state()).peers.values()) {
          out.rx += p.rxBytes;
          out.tx += p.txBytes;
          if (p.lastHandshakeMs === null) out.never++;
          else out.ages.push(Math.max(0, (now - p.lastHandshakeMs) / 1000));
        }
      } catch {
        // device away: the ready gauge already says so
      }
      setTimeout(() => (scrape = null), 500).unref();
      return out;
    })();
    return scrape;
  };
  const deviceGauge = (name: string, help: string, pick: (d: Awaited<ReturnType<typeof readDevice>>) => number) =>
    new Gauge({ name, help, registers: [registry], async collect() { this.set(pick(await readDevice())); } });
  deviceGauge('wgfabric_agent_rx_bytes', 'Bytes received from all peers (device counters)', (d) => d.rx);
  deviceGauge('wgfabric_agent_tx_bytes', 'Bytes sent to all peers (device counters)', (d) => d.tx);
  deviceGauge('wgfabric_agent_peers_without_handshake', 'Peers that never completed a handshake', (d) => d.never);
  new Histogram({
    name: 'wgfabric_agent_handshake_age_seconds',
    help: "Age of each peer's last handshake at scrape time",
    buckets: AGE_BUCKETS,
    registers: [registry],
    async collect() {
      this.reset();
      for (const age of (await readDevice()).ages) this.observe(age);
    },
  });
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
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
