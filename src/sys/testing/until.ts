import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits until `cond()` holds, checking every `stepMs`; fails the test naming `what` once
 * `limitMs` of wall time have passed. For unit tests whose condition is a synchronous look at
 * in-process state (test/integration/fixtures/until.ts is the async one for labs).
 */
export async function until(what: string, cond: () => boolean, limitMs = 10_000, stepMs = 5): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > limitMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(stepMs);
  }
}
