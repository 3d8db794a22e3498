import assert from 'node:assert/strict';
import { isFabricError, type ErrorCode } from '../protocol/errors.js';
import type { ChangeEvent, Op, Store } from './store.js';

/**
 * Helpers of the store contract suite (contract.ts). Test support only: none of this is
 * used by a driver.
 */

/** What a driver's test file hands to runStoreContract for every test. */
export interface StoreHandle {
  readonly store: Store;
  /**
   * Opens the same backing data again, for durability tests. The suite closes `store` (and
   * any store reopened before) before calling it. Omit for drivers that are not durable.
   */
  readonly reopen?: () => Promise<Store>;
  /** Closes whatever is still open (closing twice must be safe) and removes the data. */
  readonly cleanup: () => Promise<void>;
}

export type OpenStore = () => Promise<StoreHandle>;

/**
 * Per-test limit, only so a watcher that never gets its events fails the test instead of
 * hanging the run; no test asserts on time.
 */
export const HANG_GUARD_MS = 30_000;

/** Runs `fn` on a fresh store and always cleans up. */
export function withStore(open: OpenStore, fn: (store: Store, handle: StoreHandle) => Promise<void>): () => Promise<void> {
  return async () => {
    const handle = await open();
    try {
      await fn(handle.store, handle);
    } finally {
      await handle.cleanup();
    }
  };
}

export const put = (key: string, value: string): Op => ({ type: 'put', key, value });
export const del = (key: string): Op => ({ type: 'delete', key });

/** Applies each op list as its own txn, asserting each one succeeds. */
export async function apply(store: Store, txns: readonly (readonly Op[])[]): Promise<void> {
  for (const ops of txns) assert.equal((await store.txn([], ops)).succeeded, true);
}

/** Drops undefined fields so drivers that set `value: undefined` and those that omit it compare equal. */
export function norm(events: readonly ChangeEvent[]): ChangeEvent[] {
  return events.map((e) => {
    const out: { -readonly [K in keyof ChangeEvent]: ChangeEvent[K] } = { type: e.type, key: e.key, revision: e.revision };
    if (e.value !== undefined) out.value = e.value;
    if (e.prevValue !== undefined) out.prevValue = e.prevValue;
    return out;
  });
}

/** Asserts `e` is a FabricError with `code` (and, when given, exactly these details). */
export function assertFabric(e: unknown, code: ErrorCode, details?: Record<string, unknown>): true {
  assert.ok(isFabricError(e, code), `expected FabricError ${code}, got ${String((e as Error)?.stack ?? e)}`);
  if (details !== undefined) assert.deepEqual(e.details, details);
  return true;
}

/** Awaits `p` and asserts it rejects with FabricError `code`. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, details?: Record<string, unknown>): Promise<void> {
  await assert.rejects(p, (e) => assertFabric(e, code, details));
}

/** Lets every pending macrotask (setImmediate deliveries) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A watcher that records what it gets, with a promise-based wait. */
export interface Collector {
  readonly since: number;
  readonly events: ChangeEvent[];
  readonly batches: number[];
  readonly errors: Error[];
  cancel(): void;
  /** Resolves once an event with revision >= rev arrived; rejects on a watch error. */
  reach(rev: number): Promise<void>;
  /** Resolves with the first error the watch reports. */
  failure(): Promise<Error>;
}

/** Starts store.watch(prefix, since) into a Collector. */
export function collect(store: Store, prefix: string, since: number, onBatch?: (events: readonly ChangeEvent[]) => void): Collector {
  const events: ChangeEvent[] = [];
  const batches: number[] = [];
  const errors: Error[] = [];
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  const watcher = store.watch(prefix, since, (batch) => {
    batches.push(batch.length);
    events.push(...batch);
    onBatch?.(batch);
    changed();
  }, (err) => {
    errors.push(err);
    changed();
  });
  const waitUntil = async (done: () => boolean): Promise<void> => {
    while (!done()) await new Promise<void>((r) => waiters.add(r));
  };
  return {
    since, events, batches, errors,
    cancel: () => watcher.cancel(),
    reach: async (rev) => {
      await waitUntil(() => errors.length > 0 || (events.at(-1)?.revision ?? since) >= rev);
      if (errors.length > 0) throw errors[0];
    },
    failure: async () => {
      await waitUntil(() => errors.length > 0);
      return errors[0]!;
    },
  };
}
