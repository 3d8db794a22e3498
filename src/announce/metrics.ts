import { Counter, Gauge, type Registry } from 'prom-client';
import { ANNOUNCE_STATES, type AnnounceReport } from '../protocol/announce.js';
import type { AnnounceLoopStats } from './loop.js';

/** What the metrics read: an announcing agent (AgentAnnounce) or LB instance (LbAnnounce). */
export interface AnnounceMetricsSource {
  report(): AnnounceReport;
  /** lastProbeMs: the agent's self-probe (absent for an LB, whose health is its backends'). */
  readonly stats: AnnounceLoopStats & { readonly lastProbeMs?: number };
}

/**
 * Announcement series on a process's registry (agent or LB): wgfabric_announce_state{state}
 * (1 for the current state), wgfabric_announce_checks_total, wgfabric_announce_withdrawals_total,
 * wgfabric_announce_errors_total and, for an agent, wgfabric_announce_probe_seconds (last probe).
 */
export function registerAnnounceMetrics(registry: Registry, a: AnnounceMetricsSource): void {
  new Gauge({
    name: 'wgfabric_announce_state', help: 'announcement state of this node or LB instance (1 = current): announced, draining, withdrawn', labelNames: ['state'], registers: [registry],
    collect() {
      const cur = a.report().state;
      for (const s of ANNOUNCE_STATES) this.set({ state: s }, s === cur ? 1 : 0);
    },
  });
  const counter = (name: string, help: string, get: () => number) => {
    let last = 0;
    new Counter({ name, help, registers: [registry], collect() { const v = get(); if (v > last) this.inc(v - last); last = v; } });
  };
  counter('wgfabric_announce_checks_total', 'announcement checks run (health + decision)', () => a.stats.checks);
  counter('wgfabric_announce_withdrawals_total', 'times the announcement went to withdrawn', () => a.stats.withdrawals);
  counter('wgfabric_announce_errors_total', 'announcements the speaker refused or did not answer', () => a.stats.announceErrors);
  if (a.stats.lastProbeMs !== undefined) {
    new Gauge({ name: 'wgfabric_announce_probe_seconds', help: 'duration of the last successful self-probe (handshake + echo on the anycast address)', registers: [registry], collect() { this.set((a.stats.lastProbeMs ?? 0) / 1000); } });
  }
}
