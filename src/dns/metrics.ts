import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { listenError } from '../sys/listen.js';

/** What the DNS metrics read (cli/dns.ts wires the updater and the announcer's update hook). */
export interface DnsMetricsSource {
  /** The name kept current (label `name`). */
  readonly name: string;
  /** Dynamic updates sent (each one a difference of the name's records). */
  updates(): number;
  /** Syncs that failed (DNS server away, TSIG refused, ...). */
  failures(): number;
  /** Addresses the name should hold now (records published). */
  records(): number;
}

/**
 * `dns run --listen`: wgfabric_dns_updates_total{name}, wgfabric_dns_update_failures_total{name},
 * wgfabric_dns_records{name} on a registry of its own.
 */
export function dnsRegistry(s: DnsMetricsSource): Registry {
  const registry = new Registry();
  const labels = { name: s.name };
  const counter = (name: string, help: string, get: () => number) => {
    let last = 0;
    new Counter({ name, help, labelNames: ['name'], registers: [registry], collect() { const v = get(); if (v > last) this.inc(labels, v - last); last = v; } });
  };
  counter('wgfabric_dns_updates_total', 'RFC 2136 updates sent (each one a difference of the records)', () => s.updates());
  counter('wgfabric_dns_update_failures_total', 'syncs with the DNS server that failed (retried)', () => s.failures());
  new Gauge({ name: 'wgfabric_dns_records', help: 'A/AAAA records the name holds by wgfabric (the in-service addresses)', labelNames: ['name'], registers: [registry], collect() { this.set(labels, s.records()); } });
  return registry;
}

/** Serves GET /metrics (and /healthz) of `registry` on host:port. */
export async function startDnsMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      void registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(body);
      }, (e: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(e));
      });
      return;
    }
    res.writeHead(path === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' });
    res.end(path === '/healthz' ? 'ok\n' : 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(listenError(e, 'the DNS updater', host, port)));
    server.listen(port, host, () => resolve());
  });
  return server;
}
