/**
 * Reporting an LB instance's state to the control plane (PUT /v1/pools/{pool}/lbs/{instance}/status),
 * so operators see every instance's view of its backends in one place. The data path never
 * waits for it: a report is asked for (kick) and sent in the background, at most one PUT is in
 * flight and requests made meanwhile coalesce into one more report of the state at that time.
 * A heartbeat report goes out `intervalMs` after the previous one ended, so a report's age
 * tells whether its instance is still alive. Failures are logged (a warning at most every
 * `warnEveryMs`) and otherwise ignored: the next heartbeat tries again.
 */
import { MAX_LB_BACKENDS, MAX_LB_ERROR, MAX_LB_REASON, MAX_LB_RTT_MS, type LbReportInput } from '../protocol/api.js';
import { systemTimers, type TimerHandle, type Timers } from '../sys/timers.js';
import type { LbServiceStatus } from './service.js';
import type { LogFn } from '../sys/log.js';

/** Control characters become spaces and the text is cut to `max` characters (… marks a cut). */
export function reportText(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
}

/** The report of an LB status, within the API's bounds (texts cleaned and cut, at most MAX_LB_BACKENDS backends). Pure. */
export function lbReportInput(s: LbServiceStatus): LbReportInput {
  return {
    vip: s.vip, port: s.port, tableSize: s.tableSize, affinity: s.affinity, generation: s.generation,
    lastError: s.lastError === null ? null : reportText(s.lastError, MAX_LB_ERROR), failOpen: s.failOpen, ...(s.returnPath ? { returnPath: s.returnPath } : {}),
    backends: s.backends.slice(0, MAX_LB_BACKENDS).map((b) => ({ name: b.name, state: b.state, reason: reportText(b.reason, MAX_LB_REASON), inTable: b.inTable, slots: b.slots, rttMs: b.lastRttMs === null ? null : Math.min(MAX_LB_RTT_MS, Math.round(b.lastRttMs * 1000) / 1000), ...(b.flows == null ? {} : { flows: b.flows }) })),
  };
}

export interface ReporterOptions {
  /** Sends one report (the ApiClient PUT). */
  readonly send: (report: LbReportInput) => Promise<unknown>;
  /** The report to send, read when a send starts (so it is never older than the request). */
  readonly snapshot: () => LbReportInput;
  /** Heartbeat: a report goes out this long after the previous one ended. */
  readonly intervalMs: number;
  /** Default 30 s. */
  readonly warnEveryMs?: number;
  readonly timers?: Timers;
  readonly log?: LogFn;
}

/** Background reporter: start(), kick() after every change, stop(). */
export class StatusReporter {
  private readonly timers: Timers;
  private readonly log: LogFn;
  private timer: TimerHandle | undefined;
  private sending: Promise<void> | undefined;
  private dirty = false;
  private started = false;
  private stopped = false;
  private lastWarnAt: number | undefined;
  private failures = 0;
  /** Reports sent and failed so far (for tests and status pages). */
  readonly counts = { sent: 0, failed: 0 };

  constructor(private readonly o: ReporterOptions) {
    this.timers = o.timers ?? systemTimers;
    this.log = o.log ?? (() => {});
  }

  /** Sends a first report now; heartbeats follow. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.kick();
  }

  /** Asks for a report of the current state as soon as no other one is in flight. Never throws, never waits. */
  kick(): void {
    this.dirty = true;
    if (!this.started || this.stopped || this.sending) return;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.stopped) return;
      if (this.dirty) this.kick(); // asked for while the last send was ending
      else this.timer = this.timers.setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.o.intervalMs);
    });
  }

  /** No report starts after this; one in flight is left to finish on its own. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when no report is in flight (tests). */
  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      try {
        await this.o.send(this.o.snapshot());
        this.counts.sent++;
        if (this.failures > 0) this.log('info', 'reporting to the control plane again', { failedReports: this.failures });
        this.failures = 0;
      } catch (e) {
        this.counts.failed++;
        this.failures++;
        const now = this.timers.now();
        if (this.lastWarnAt === undefined || now - this.lastWarnAt >= (this.o.warnEveryMs ?? 30_000)) {
          this.lastWarnAt = now;
          this.log('warn', 'reporting to the control plane failed; the data path is not affected', {
            error: e instanceof Error ? e.message : String(e), failedReports: this.failures,
          });
        }
      }
    }
  }
}
