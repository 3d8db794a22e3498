import { Counter, type Registry } from 'prom-client';
import type { SessionReporter } from './session-reporter.js';

/**
 * The agent's session-report metrics: aggregate counters always; one series per peer (endpoint
 * address changes seen on this node) only with --peer-metrics (`perPeer` non-null).
 */
export function sessionMetrics(registry: Registry, r: SessionReporter, perPeer: { iface: string } | null): void {
  const registers = [registry];
  const total = (name: string, help: string, pick: () => number) => new Counter({
    name, help, registers,
    collect() {
      this.reset();
      this.inc(pick());
    },
  });
  total('wgfabric_agent_session_reports_total', 'Session reports sent (all replicas)', () => r.stats.reports);
  total('wgfabric_agent_session_entries_total', 'Peer entries and removals sent in session reports', () => r.stats.entriesSent);
  total('wgfabric_agent_session_report_bytes_total', 'JSON bytes of session reports sent', () => r.stats.bytesSent);
  total('wgfabric_agent_session_resyncs_total', 'Replicas that asked for a full report (restarted, or missed one)', () => r.stats.resyncs);
  total('wgfabric_agent_session_report_failures_total', 'Session reports that failed (the replica gets a full one next)', () => r.stats.failures);
  total('wgfabric_agent_peer_endpoint_changes_total', "Times a peer's endpoint address changed on this node's device, all peers", () => r.stats.endpointChanges);
  if (perPeer) {
    new Counter({
      name: 'wireguard_peer_endpoint_changes_total', help: "Times the peer's endpoint address changed on this node's device (per peer: --peer-metrics only)",
      labelNames: ['interface', 'public_key'], registers,
      collect() {
        this.reset();
        for (const [k, n] of r.endpointChangesByPeer) this.inc({ interface: perPeer.iface, public_key: k }, n);
      },
    });
  }
}
