/**
 * Metrics and the HTTP face of an LB process: GET /status (JSON), /metrics (Prometheus),
 * /healthz. The registry is the process's own (never prom-client's global one).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LbService, LbServiceHooks } from './service.js';

/** Metrics fed by LbService hooks (probe results, detections) and read from status() at scrape time. */
export class LbMetrics implements LbServiceHooks {
  readonly registry = new Registry();
  private readonly probes: Counter<'backend' | 'result'>;
  private readonly rtt: Histogram<'backend'>;
  private readonly detection: Histogram<'backend'>;
  private service: Pick<LbService, 'status'> | undefined;

  constructor(labels: { pool: string; vip: string; instance: string }) {
    this.registry.setDefaultLabels(labels);
    const registers = [this.registry];
    this.probes = new Counter({ name: 'wgfabric_lb_probes_total', help: 'Health probes by backend and result', labelNames: ['backend', 'result'], registers });
    this.rtt = new Histogram({
      name: 'wgfabric_lb_probe_rtt_seconds', help: 'Handshake round trip of successful probes', labelNames: ['backend'], registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    });
    this.detection = new Histogram({
      name: 'wgfabric_lb_detection_seconds', help: 'First failed probe to the decision taking a backend out', labelNames: ['backend'], registers,
      buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10],
    });
    const backendGauge = (name: string, help: string, get: (b: ReturnType<LbService['status']>['backends'][number]) => number) => {
      const self = this;
      new Gauge({
        name, help, labelNames: ['backend'], registers,
        collect() {
          this.reset();
          for (const b of self.service?.status().backends ?? []) this.set({ backend: b.name }, get(b));
        },
      });
    };
    backendGauge('wgfabric_lb_backend_up', '1 when probes say the backend is up', (b) => (b.state === 'up' ? 1 : 0));
    backendGauge('wgfabric_lb_backend_in_table', '1 when the backend is in the applied Maglev table', (b) => (b.inTable ? 1 : 0));
    backendGauge('wgfabric_lb_backend_slots', 'Slots of the applied table the backend owns', (b) => b.slots);
    const self = this;
    new Gauge({ name: 'wgfabric_lb_table_generation', help: 'Successful table applies so far', registers, collect() { this.set(self.service?.status().generation ?? 0); } });
    new Gauge({
      name: 'wgfabric_lb_fail_open', help: '1 while fail-open on readiness holds backends in the table (no backend\'s agent is in sync)', registers,
      collect() { this.set(self.service?.status().failOpen ? 1 : 0); },
    });
  }

  /** The service whose status the gauges read. */
  attach(service: Pick<LbService, 'status'>): void {
    this.service = service;
  }

  onProbe(backend: string, report: { ok: boolean; rttMs?: number }, _durationMs: number): void {
    this.probes.inc({ backend, result: report.ok ? 'ok' : 'fail' });
    if (report.ok && report.rttMs !== undefined) this.rtt.observe({ backend }, report.rttMs / 1000);
  }

  onDetection(backend: string, ms: number): void {
    this.detection.observe({ backend }, ms / 1000);
  }
}

/** Serves /status, /metrics and /healthz; resolves once listening. */
export async function startLbHttp(service: LbService, metrics: LbMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/status') return send(200, 'application/json', JSON.stringify(service.status()));
    if (path === '/healthz') return send(200, 'application/json', '{"status":"ok"}');
    if (path === '/metrics') {
      metrics.registry.metrics().then((text) => send(200, metrics.registry.contentType, text), (e: unknown) => send(500, 'text/plain', String(e)));
      return;
    }
    send(404, 'text/plain', 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
