import type { Registry } from 'prom-client';
import type { LogFn } from '../agent/agent.js';
import type { WireGuardDevice } from '../agent/device.js';
import { sessionMetrics } from '../agent/session-metrics.js';
import { SessionReporter } from '../agent/session-reporter.js';
import { apiClient, type ApiFlags } from './context.js';

/**
 * `agent --session-interval`: per-peer session reports to EVERY control-plane replica (one
 * client per URL, no failover between them), so each replica holds the whole view in memory.
 * Returns null when reports are off (interval 0).
 */
export function startSessionReports(
  f: ApiFlags & { pool: string; node: string; interface: string; sessionInterval: number; sessionBytesInterval: number; peerMetrics?: boolean },
  device: WireGuardDevice, registry: Registry, log: LogFn, servers: readonly string[],
): SessionReporter | null {
  if (f.sessionInterval === 0) return null;
  const targets = servers.map((url) => {
    const api = apiClient({ ...f, server: url }, process.env);
    return { name: url, send: (r: Parameters<typeof api.putSessions>[2]) => api.putSessions(f.pool, f.node, r) };
  });
  const reporter = new SessionReporter({
    pool: f.pool, node: f.node, targets, log, read: async () => (await device.state()).peers,
    intervalMs: f.sessionInterval * 1000, bytesIntervalMs: f.sessionBytesInterval * 1000,
  });
  sessionMetrics(registry, reporter, f.peerMetrics ? { iface: f.interface } : null);
  reporter.start();
  return reporter;
}
