/**
 * Clock and timers as an injected seam: schedulers (the LB's health checker and status
 * reporter, the server's auto-compactor) take a Timers and tests pass FakeTimers
 * (src/lb/testing/fake-timers.ts) or their own, so no test waits on real time.
 */

/** Opaque handle of a timer. */
export type TimerHandle = unknown;

/** Clock and timers: a scheduler's only view of time. */
export interface Timers {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Timers of the process (performance.now and the global timers; they keep the process alive until stopped). */
export const systemTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Like systemTimers, but a pending timer never keeps the process alive (background housekeeping). */
export const backgroundTimers: Timers = {
  ...systemTimers,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
};
