/**
 * The check loop every announcing role shares (agent --announce, lb run --announce): every
 * interval it asks the role what it wants (a gate decision plus what to offer), tells the
 * Announcer, records the state for reports and metrics, and beats the watchdog. A failed
 * check withdraws at once (the decision says so); a refused announcement is counted and logged
 * and tried again on the next check. The role only decides; this file only applies.
 */
import type { AnnounceReport, AnnounceState } from '../protocol/announce.js';
import type { Announcement, Announcer } from './announcer.js';

/** What a role wants now: the state and its reason, and (unless withdrawn) what to offer. */
export interface AnnounceWant {
  readonly state: AnnounceState;
  readonly reason: string;
  /** Required unless state is 'withdrawn'; attributes.gracefulShutdown must match state 'draining'. */
  readonly announcement?: Announcement;
}

export type AnnounceLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface AnnounceLoopOptions {
  readonly announcer: Announcer;
  /** One decision; must not throw (a failure to decide is a 'withdrawn' want with its reason). */
  readonly decide: () => Promise<AnnounceWant>;
  /** Milliseconds between checks (default 200). */
  readonly intervalMs?: number;
  /** Called after every check that ran (the watchdog's heartbeat). */
  readonly onBeat?: () => void;
  readonly log?: AnnounceLog;
}

/** Counters of the loop (metrics read them). */
export interface AnnounceLoopStats {
  checks: number;
  withdrawals: number;
  announceErrors: number;
}

export class AnnounceLoop {
  private want: AnnounceWant = { state: 'withdrawn', reason: 'starting' };
  private since = new Date();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private forceResync = false;
  readonly stats: AnnounceLoopStats = { checks: 0, withdrawals: 0, announceErrors: 0 };

  constructor(private readonly o: AnnounceLoopOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.o.intervalMs ?? 200);
  }

  /** Stops checking; withdraws when `withdraw` (a clean shutdown: no stale route, no wait for BFD). */
  async stop(withdraw: boolean, reason: string): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
    if (withdraw) {
      await this.o.announcer.withdraw(reason).catch(() => {});
      if (this.want.state !== 'withdrawn') this.since = new Date();
      this.want = { state: 'withdrawn', reason };
    }
  }

  /** The watchdog withdrew behind our back: the next check tells the speaker again. */
  watchdogFired(): void {
    this.forceResync = true;
    this.o.log?.('warn', 'announce watchdog withdrew the routes (process stalled?)', {});
  }

  /** The current state for status reports. */
  report(): AnnounceReport {
    const w = this.want;
    return {
      kind: this.o.announcer.kind, state: w.state, reason: w.reason,
      addresses: w.state === 'withdrawn' ? [] : [...(w.announcement?.addresses ?? [])], since: this.since.toISOString(),
    };
  }

  /** One check: decide, apply. Never throws; a check still running is not overlapped. */
  async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.apply(await this.o.decide());
      this.stats.checks++;
      this.o.onBeat?.();
    } finally {
      this.busy = false;
    }
  }

  private async apply(w: AnnounceWant): Promise<void> {
    const changed = w.state !== this.want.state;
    try {
      if (this.forceResync) {
        await this.o.announcer.withdraw('watchdog fired');
        this.forceResync = false;
      }
      if (w.state === 'withdrawn' || !w.announcement) await this.o.announcer.withdraw(w.reason);
      else await this.o.announcer.announce(w.announcement, w.reason);
    } catch (e) {
      this.stats.announceErrors++;
      this.o.log?.('error', 'announcement failed', { error: e instanceof Error ? e.message : String(e), want: w.state });
      return;
    }
    if (changed) {
      this.since = new Date();
      if (w.state === 'withdrawn') this.stats.withdrawals++;
      this.o.log?.(w.state === 'withdrawn' ? 'warn' : 'info', `announcement ${w.state}`, { reason: w.reason, addresses: w.announcement?.addresses ?? [] });
    }
    this.want = w;
  }
}
