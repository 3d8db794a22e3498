import { Counter, Gauge, type Registry } from 'prom-client';
import { ANNOUNCE_STATES } from '../protocol/announce.js';
import type { AgentAnnounce } from './announce.js';

/**
 * Announcement series on the agent's registry: wgfabric_announce_state{state} (1 for the
 * current state), wgfabric_announce_checks_total, wgfabric_announce_withdrawals_total,
 * wgfabric_announce_errors_total, wgfabric_announce_probe_seconds (last probe).
 */
export function registerAnnounceMetrics(registry: Registry, a: AgentAnnounce): void {
  new Gauge({
    name: 'wgfabric_announce_state', help: 'announcement state of this node (1 = current): announced, draining, withdrawn', labelNames: ['state'], registers: [registry],
    collect() {
      const cur = a.report().state;
      for (const s of ANNOUNCE_STATES) this.set({ state: s }, s === cur ? 1 : 0);
    },
  });
  const counter = (name: string, help: string, get: () => number) => {
    let last = 0;
    new Counter({ name, help, registers: [registry], collect() { const v = get(); if (v > last) this.inc(v - last); last = v; } });
  };
  counter('wgfabric_announce_checks_total', 'announcement checks run (probe + decision)', () => a.stats.checks);
  counter('wgfabric_announce_withdrawals_total', 'times the announcement went to withdrawn', () => a.stats.withdrawals);
  counter('wgfabric_announce_errors_total', 'announcements the speaker refused or did not answer', () => a.stats.announceErrors);
  new Gauge({ name: 'wgfabric_announce_probe_seconds', help: 'duration of the last successful self-probe (handshake + echo on the anycast address)', registers: [registry], collect() { this.set(a.stats.lastProbeMs / 1000); } });
}
