import type { TimerHandle, Timers } from '../../sys/timers.js';

/** Lets pending promise callbacks and I/O callbacks of the process run (a few event-loop turns). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Manual clock and timers for tests of schedulers: time moves only in advance(), which runs
 * the timers that fall due in time order (ties in the order they were set) and lets promise
 * callbacks settle between them. No real time passes, so assertions never depend on speed.
 */
export class FakeTimers implements Timers {
  private t: number;
  private seq = 0;
  private readonly queue = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.queue.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.queue.delete(handle as number);
  }

  /** Timers set and not yet run or cleared. */
  get pending(): number {
    return this.queue.size;
  }

  /** Moves the clock forward by `ms`, running every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.queue) if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.queue.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}
