import type { ProbeReport, Prober } from '../checker.js';
import type { FakeTimers } from './fake-timers.js';

/**
 * How a fake backend answers a probe: a report at once, a report after `delayMs` of fake time,
 * a thrown error, or 'hang' (never answers; the probe ends only when aborted).
 */
export type FakeAnswer = ProbeReport | { readonly delayMs: number; readonly report: ProbeReport } | Error | 'hang';

/**
 * A Prober driven by FakeTimers: answers per backend name as set in `answers` (default: ok with
 * rttMs 1), either one answer for every probe or a function of the probe's number (0, 1, ...
 * per backend); records every call with its fake start time, and counts probes ended by abort.
 */
export class FakeProber {
  readonly calls: { readonly backend: string; readonly at: number }[] = [];
  readonly answers = new Map<string, FakeAnswer | ((n: number) => FakeAnswer)>();
  aborted = 0;

  constructor(private readonly timers: FakeTimers) {}

  /** Probes started for `backend`. */
  count(backend: string): number {
    return this.calls.filter((c) => c.backend === backend).length;
  }

  readonly probe: Prober = (backend, signal) => {
    const n = this.count(backend.name);
    this.calls.push({ backend: backend.name, at: this.timers.now() });
    const set = this.answers.get(backend.name) ?? { ok: true, rttMs: 1 };
    const answer = typeof set === 'function' ? set(n) : set;
    if (answer instanceof Error) return Promise.reject(answer);
    if (answer !== 'hang' && 'ok' in answer) return Promise.resolve(answer);
    return new Promise((resolve, reject) => {
      const timer = answer === 'hang' ? undefined : this.timers.setTimeout(() => resolve(answer.report), answer.delayMs);
      signal.addEventListener('abort', () => {
        if (timer !== undefined) this.timers.clearTimeout(timer);
        this.aborted++;
        reject(signal.reason);
      }, { once: true });
    });
  };
}
