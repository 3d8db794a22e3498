/**
 * Metrics and the HTTP face of an LB process (all its VIPs, group.ts):
 * - GET /status: the LbServiceStatus of the one VIP the process serves; with several VIPs
 *   pick one with `?vip=IP:PORT` (`[IPv6]:PORT`); without it a 400 names the VIPs.
 * - GET /status/all: the array of every VIP's LbServiceStatus, in `--pool/--vip` order.
 * - GET /metrics: one Prometheus exposition for every VIP, series labelled by pool and vip.
 * - GET /healthz: 200 while every service runs, 503 otherwise (keepalived's track script).
 * - /announce, /announce/drain, /announce/undrain: the BGP announcement (announce-http.ts).
 * Errors are FabricError bodies (fromErrorBody reads them). The registry is the process's own
 * (never prom-client's global one).
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FabricError } from '../protocol/errors.js';
import { formatIpPort, parseIpPort } from './addr.js';
import { vipOf, type LbGroup } from './group.js';
import type { LbService, LbServiceHooks, LbServiceStatus } from './service.js';
import type { LbAnnounce } from './announce.js';
import { announceHttpAnswer } from './announce-http.js';
import { listenError } from '../sys/listen.js';

type Backend = LbServiceStatus['backends'][number];

/**
 * Metrics of every service of a process: probe results and detections come through the hooks
 * of each service (hooksFor), the gauges read each attached service's status() at scrape time.
 * Every series carries `pool` and `vip` ("VIP:port"); `lb_instance` (the --instance name) is a
 * registry default label: not `instance`, which Prometheus sets itself to the scraped target.
 */
export class LbMetrics {
  readonly registry = new Registry();
  private readonly probes: Counter<'backend' | 'result' | 'pool' | 'vip'>;
  private readonly rtt: Histogram<'backend' | 'pool' | 'vip'>;
  private readonly detection: Histogram<'backend' | 'pool' | 'vip'>;
  private readonly services: Pick<LbService, 'status'>[] = [];
  private readonly controlRequests: Counter<'method'>;
  private readonly dataPathCounters: { labels: { pool: string; vip: string }; read: () => Promise<Record<string, number>> }[] = [];

  constructor(labels: { instance: string }) {
    this.registry.setDefaultLabels({ lb_instance: labels.instance });
    const registers = [this.registry];
    this.probes = new Counter({ name: 'wgfabric_lb_probes_total', help: 'Health probes by backend and result', labelNames: ['backend', 'result', 'pool', 'vip'], registers });
    this.rtt = new Histogram({
      name: 'wgfabric_lb_probe_rtt_seconds', help: 'Handshake round trip of successful probes', labelNames: ['backend', 'pool', 'vip'], registers,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    });
    this.detection = new Histogram({
      name: 'wgfabric_lb_detection_seconds', help: 'First failed probe to the decision taking a backend out', labelNames: ['backend', 'pool', 'vip'], registers,
      buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10],
    });
    const statuses = () => this.services.map((s) => s.status());
    const backendGauge = (name: string, help: string, get: (b: Backend) => number) => {
      new Gauge({
        name, help, labelNames: ['backend', 'pool', 'vip'], registers,
        collect() {
          this.reset();
          for (const s of statuses()) for (const b of s.backends) this.set({ backend: b.name, pool: s.pool, vip: vipOf(s) }, get(b));
        },
      });
    };
    const serviceGauge = (name: string, help: string, get: (s: LbServiceStatus) => number) => {
      new Gauge({
        name, help, labelNames: ['pool', 'vip'], registers,
        collect() {
          this.reset();
          for (const s of statuses()) this.set({ pool: s.pool, vip: vipOf(s) }, get(s));
        },
      });
    };
    backendGauge('wgfabric_lb_backend_up', '1 when probes say the backend is up', (b) => (b.state === 'up' ? 1 : 0));
    backendGauge('wgfabric_lb_backend_in_table', '1 when the backend is in the applied Maglev table', (b) => (b.inTable ? 1 : 0));
    backendGauge('wgfabric_lb_backend_slots', 'Slots of the applied table the backend owns', (b) => b.slots);
    new Gauge({
      name: 'wgfabric_lb_backend_flows', help: 'Flows the data path holds to the backend (conntrack entries on nft, flow-table entries on bpf), counted every 2 s',
      labelNames: ['backend', 'pool', 'vip'], registers,
      collect() {
        this.reset();
        for (const s of statuses()) for (const b of s.backends) if (b.flows != null) this.set({ backend: b.name, pool: s.pool, vip: vipOf(s) }, b.flows);
      },
    });
    const dataPathCounters = this.dataPathCounters;
    new Counter({
      name: 'wgfabric_lb_bpf_packets_total', help: 'Packets of the BPF data path by reason (fwd_*, reply, learned, unknown_index, drop_*)', labelNames: ['pool', 'vip', 'reason'], registers,
      async collect() {
        this.reset();
        for (const d of dataPathCounters) {
          const c = await d.read().catch(() => undefined);
          if (c) for (const [reason, v] of Object.entries(c)) this.inc({ ...d.labels, reason }, v);
        }
      },
    });
    this.controlRequests = new Counter({
      name: 'wgfabric_lb_control_plane_requests_total', help: 'Requests this LB process sent to the control plane, by method (a stream counts once, when it opens)',
      labelNames: ['method'], registers,
    });
    serviceGauge('wgfabric_lb_table_generation', 'Successful table applies so far', (s) => s.generation);
    new Gauge({
      name: 'wgfabric_lb_dataplane_info', help: 'Always 1: the data path of the VIP (nft or bpf) and where a bpf program runs (xdp or tc)',
      labelNames: ['pool', 'vip', 'dataplane', 'attach'], registers,
      collect() {
        this.reset();
        for (const s of statuses()) this.set({ pool: s.pool, vip: vipOf(s), dataplane: s.dataplane ?? 'nft', attach: s.attach ?? 'none' }, 1);
      },
    });
    new Gauge({
      name: 'wgfabric_lb_bpf_mac1_check', help: 'BPF data path: 1 while the program drops initiations whose mac1 does not verify with the pool key (drop_mac1), 0 while it does not check',
      labelNames: ['pool', 'vip'], registers,
      collect() {
        this.reset();
        for (const s of statuses()) if (s.mac1) this.set({ pool: s.pool, vip: vipOf(s) }, s.mac1.verify ? 1 : 0);
      },
    });
    serviceGauge('wgfabric_lb_fail_open', '1 while fail-open on readiness holds backends in the table (no backend\'s agent is in sync)', (s) => (s.failOpen ? 1 : 0));
  }

  /**
   * Exports the packet counters of a VIP's BPF data path as wgfabric_lb_bpf_packets_total
   * {reason}: forwarded by Maglev, flow table or receiver index, replies, learned indices,
   * unknown indices, and the guard's drops by reason. Read from the kernel at scrape time.
   */
  attachDataPathCounters(pool: string, vip: string, port: number, read: () => Promise<Record<string, number>>): void {
    this.dataPathCounters.push({ labels: { pool, vip: formatIpPort(vip, port) }, read });
  }

  /** A fetch that counts each request in wgfabric_lb_control_plane_requests_total (give it to the LB's ApiClient). */
  countingFetch(inner: typeof fetch = fetch): typeof fetch {
    return (input, init) => {
      this.controlRequests.inc({ method: init?.method ?? 'GET' });
      return inner(input, init);
    };
  }

  /** Adds a service whose status the gauges read (once per service). */
  attach(service: Pick<LbService, 'status'>): void {
    this.services.push(service);
  }

  /** The hooks of the service of `pool` at vip:port (pass them to its constructor). */
  hooksFor(pool: string, vip: string, port: number): LbServiceHooks {
    const at = { pool, vip: formatIpPort(vip, port) };
    return {
      onProbe: (backend, report) => {
        this.probes.inc({ backend, result: report.ok ? 'ok' : 'fail', ...at });
        if (report.ok && report.rttMs !== undefined) this.rtt.observe({ backend, ...at }, report.rttMs / 1000);
      },
      onDetection: (backend, ms) => this.detection.observe({ backend, ...at }, ms / 1000),
    };
  }
}

/** One HTTP answer. */
export interface LbHttpResponse {
  readonly code: number;
  readonly type: string;
  readonly body: string;
}

const JSON_TYPE = 'application/json';
const fail = (e: FabricError): LbHttpResponse => ({ code: e.status, type: JSON_TYPE, body: JSON.stringify(e.toJSON()) });

/** The /status answer: one VIP's status (see the file header for how it is chosen). */
function statusOf(group: Pick<LbGroup, 'status'>, vipParam: string | null): LbHttpResponse {
  const all = group.status();
  let one: LbServiceStatus | undefined;
  if (vipParam !== null) {
    let want: { address: string; port: number };
    try {
      want = parseIpPort(vipParam, 'vip');
    } catch (e) {
      return fail(e as FabricError);
    }
    one = all.find((s) => s.vip === want.address && s.port === want.port);
    if (!one) {
      return fail(new FabricError('WGF_ERR_NOT_FOUND', `this LB does not serve VIP ${formatIpPort(want.address, want.port)}; it serves ${all.map(vipOf).join(', ')}`, { vip: vipParam }));
    }
  } else if (all.length === 1) {
    one = all[0];
  } else {
    return fail(new FabricError('WGF_ERR_VALIDATION', `this LB serves ${all.length} VIPs (${all.map(vipOf).join(', ')}): ask /status?vip=IP:PORT for one or /status/all for every one`, { field: 'vip' }));
  }
  return { code: 200, type: JSON_TYPE, body: JSON.stringify(one) };
}

/**
 * The answer to one request (`url` as in the request line), without a socket: the routes of
 * the file header. Unknown paths 404, other methods than GET 405.
 */
export async function lbHttpAnswer(group: Pick<LbGroup, 'status' | 'healthy' | 'notRunning'>, metrics: LbMetrics, method: string, url: string, announce?: Pick<LbAnnounce, 'report' | 'drain'>): Promise<LbHttpResponse> {
  let u: URL;
  try {
    u = new URL(url, 'http://lb.invalid');
  } catch {
    return { code: 400, type: 'text/plain', body: 'bad request target\n' };
  }
  const announced = announceHttpAnswer(announce, method, u.pathname); // /announce routes (announce-http.ts)
  if (announced) return announced;
  if (method !== 'GET') return { code: 405, type: 'text/plain', body: 'method not allowed\n' };
  switch (u.pathname) {
    case '/status':
      return statusOf(group, u.searchParams.get('vip'));
    case '/status/all':
      return { code: 200, type: JSON_TYPE, body: JSON.stringify(group.status()) };
    case '/healthz':
      return group.healthy
        ? { code: 200, type: JSON_TYPE, body: '{"status":"ok"}' }
        : { code: 503, type: JSON_TYPE, body: JSON.stringify({ status: 'unavailable', notRunning: group.notRunning() }) };
    case '/metrics':
      try {
        return { code: 200, type: metrics.registry.contentType, body: await metrics.registry.metrics() };
      } catch (e) {
        return { code: 500, type: 'text/plain', body: String(e) };
      }
    default:
      return { code: 404, type: 'text/plain', body: 'not found\n' };
  }
}

/** Serves lbHttpAnswer on host:port; resolves once listening. */
export async function startLbHttp(group: Pick<LbGroup, 'status' | 'healthy' | 'notRunning'>, metrics: LbMetrics, host: string, port: number, announce?: () => Pick<LbAnnounce, 'report' | 'drain'> | undefined): Promise<Server> {
  const server = createServer((req, res) => {
    void lbHttpAnswer(group, metrics, req.method ?? 'GET', req.url ?? '/', announce?.())
      .catch((e: unknown): LbHttpResponse => ({ code: 500, type: 'text/plain', body: `${String(e)}\n` }))
      .then((a) => {
        res.writeHead(a.code, { 'content-type': a.type });
        res.end(a.body);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(listenError(e, 'the load balancer', host, port)));
    server.listen(port, host, () => resolve());
  });
  return server;
}
