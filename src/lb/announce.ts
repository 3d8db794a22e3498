/**
 * `lb run --announce bgp`: the LB instance offers its VIPs to the router while it serves them
 * (announce/gate.ts decideLbAnnouncement: the service runs, its table is loaded, at least one
 * backend is in it), so a router in front ECMPs the VIPs over every serving instance and
 * Maglev keeps each flow's backend when the router moves it. The instance's drain (drain(),
 * `wgfabric lb drain`) announces with GRACEFUL_SHUTDOWN plus the pool's communities, MED and
 * prepends for the pool's drainSeconds, then withdraws. The check loop, the watchdog and the
 * speaker are the agent's (announce/loop.ts, watchdog.ts, bird.ts).
 */
import type { Announcer } from '../announce/announcer.js';
import { decideLbAnnouncement, type LbGateDecision } from '../announce/gate.js';
import { AnnounceLoop, type AnnounceLog, type AnnounceLoopStats, type AnnounceWant } from '../announce/loop.js';
import { anycastSettingsOf, GRACEFUL_SHUTDOWN_COMMUNITY, type AnnounceReport } from '../protocol/announce.js';
import type { Pool } from '../protocol/types.js';
import { parseIp } from './addr.js';
import type { LbServiceStatus } from './service.js';

/** What LbAnnounce reads of one VIP's service (LbService implements it). */
export interface LbAnnounceMember {
  status(): LbServiceStatus;
  readonly running: boolean;
  /** The pool as last read: its anycast settings are the drain policy. */
  readonly pool: Pool | undefined;
}

export interface LbAnnounceOptions {
  readonly announcer: Announcer;
  /** The services of the process, in --pool/--vip order; the first one's pool gives the drain policy. */
  readonly members: readonly LbAnnounceMember[];
  readonly intervalMs?: number;
  readonly onBeat?: () => void;
  readonly log?: AnnounceLog;
  readonly now?: () => number;
}

export class LbAnnounce {
  private drainStartedMs: number | null = null;
  private last: LbGateDecision | null = null;
  private readonly loop: AnnounceLoop;
  private readonly now: () => number;

  constructor(private readonly o: LbAnnounceOptions) {
    this.now = o.now ?? Date.now;
    this.loop = new AnnounceLoop({
      announcer: o.announcer, decide: async () => this.decide(), ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
      ...(o.onBeat ? { onBeat: o.onBeat } : {}), ...(o.log ? { log: o.log } : {}),
    });
  }

  get stats(): AnnounceLoopStats {
    return { ...this.loop.stats };
  }

  get draining(): boolean {
    return this.drainStartedMs !== null;
  }

  /** Starts (true) or cancels (false) the instance's drain; the next check acts on it. */
  drain(on: boolean): void {
    if (on) this.drainStartedMs ??= this.now();
    else this.drainStartedMs = null;
    this.o.log?.('info', on ? 'instance drain started' : 'instance drain cancelled', {});
  }

  start(): void {
    this.loop.start();
  }

  stop(withdraw: boolean): Promise<void> {
    return this.loop.stop(withdraw, 'lb stopped');
  }

  watchdogFired(): void {
    this.loop.watchdogFired();
  }

  check(): Promise<void> {
    return this.loop.check();
  }

  /** The instance's announcement (every VIP it offers). */
  report(): AnnounceReport {
    return this.loop.report();
  }

  /** One VIP's share of the announcement, for that VIP's report to the control plane. */
  reportFor(vip: string): AnnounceReport {
    const r = this.loop.report();
    const canonical = parseIp(vip).text;
    if (r.addresses.includes(canonical)) return { ...r, addresses: [canonical] };
    const held = this.last?.held.get(canonical);
    return { ...r, state: 'withdrawn', reason: held ?? r.reason, addresses: [] };
  }

  private decide(): AnnounceWant {
    const settings = anycastSettingsOf(this.o.members.find((m) => m.pool)?.pool ?? {});
    const d = decideLbAnnouncement({
      vips: this.o.members.map((m) => {
        const s = m.status();
        return { vip: parseIp(s.vip).text, running: m.running, tableLoaded: s.generation > 0, inService: s.backends.filter((b) => b.inTable).length };
      }),
      draining: this.drainStartedMs !== null, drainStartedMs: this.drainStartedMs, drainSeconds: settings.drainSeconds, nowMs: this.now(),
    });
    this.last = d;
    if (d.state === 'withdrawn') return d;
    return {
      state: d.state, reason: d.reason,
      announcement: {
        addresses: d.addresses,
        attributes: { gracefulShutdown: d.state === 'draining', communities: settings.communities.filter((c) => c !== GRACEFUL_SHUTDOWN_COMMUNITY), med: settings.med, prepend: settings.prepend },
      },
    };
  }
}
