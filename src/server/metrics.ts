import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ControlPlane } from '../control/plane.js';

/**
 * Prometheus metrics of one server instance, in its own Registry (never prom-client's global
 * one, so several servers in one process, as in tests, do not collide). Route labels are
 * route patterns, never raw URLs, so hostile URLs cannot blow up the label space.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly durations: Histogram<'method' | 'route' | 'status'>;
  private readonly watchers: Gauge;

  constructor(cp: ControlPlane, logDropped: () => number = () => 0) {
    const registers = [this.registry];
    new Counter({
      name: 'wgfabric_log_lines_dropped_total', help: 'Log lines dropped because the log could not be written (full disk, stuck pipe)', registers,
      collect() {
        this.reset();
        this.inc(logDropped());
      },
    });
    this.requests = new Counter({ name: 'wgfabric_http_requests_total', help: 'HTTP requests by route pattern and status', labelNames: ['method', 'route', 'status'], registers });
    this.durations = new Histogram({
      name: 'wgfabric_http_request_duration_seconds', help: 'HTTP request durations', labelNames: ['method', 'route', 'status'], registers,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    });
    this.watchers = new Gauge({ name: 'wgfabric_watchers_active', help: 'Open watch streams and waiting long polls', registers });
    new Gauge({
      name: 'wgfabric_store_revision', help: 'Current store revision', registers,
      async collect() {
        this.set(await cp.currentRevision());
      },
    });
    new Gauge({
      name: 'wgfabric_store_compact_revision', help: 'Compact revision: changes since an older revision answer WGF_ERR_STORE_COMPACTED', registers,
      async collect() {
        this.set(await cp.compactRevision());
      },
    });
    new Gauge({
      name: 'wgfabric_pool_peers', help: 'Peers per pool', labelNames: ['pool'], registers,
      async collect() {
        this.reset();
        for (const [pool, n] of await cp.peerCounts()) this.set({ pool }, n);
      },
    });
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.durations.observe(labels, seconds);
  }

  setWatchers(n: number): void {
    this.watchers.set(n);
  }
}
