import { FabricError } from '../protocol/errors.js';
import type { Store } from '../store/store.js';
import { backgroundTimers, type TimerHandle, type Timers } from '../sys/timers.js';

/**
 * Automatic compaction of the store's change log.
 *
 * Every store write adds log rows, and most writes are status reports (agents every 5 s, LB
 * instances every 2 s), so the log grows by tens of thousands of rows a day. The pure policy
 * `compactionTarget` decides how far to compact; the `AutoCompactor` shell asks it every
 * `intervalMs` and calls `Store.compact`.
 *
 * Safe for followers: a `since` below the compact revision gets WGF_ERR_STORE_COMPACTED and
 * agents (agent.ts) then take a new snapshot, diffing against the device without flushing it.
 * Keeping the last `keepRevisions` revisions lets a follower that lagged briefly still catch
 * up with "changes since" instead of a snapshot.
 *
 * Automatic compactions are logged, not audited: an audit entry is itself a store write (one
 * more revision and log row per compaction, the noise this bounds), and the audit log is for
 * what people and tokens did. `POST /v1/admin/compact` (ControlPlane.compact) stays audited.
 */

/** How much history automatic compaction keeps. */
export interface CompactionPolicy {
  /** Revisions kept behind the current one (integer >= 0); 0 turns automatic compaction off. */
  readonly keepRevisions: number;
  /**
   * Fewest revisions one compaction must drop (integer >= 1), so a busy store is not compacted
   * at every tick. Default: keepRevisions / 10 rounded up, so the log holds at most 1.1 x
   * keepRevisions revisions right before a compaction.
   */
  readonly minBatch?: number;
}

/** The policy plus how often the shell asks it. */
export interface AutoCompactSettings extends CompactionPolicy {
  /** Period between two checks, in ms (integer >= 1000). */
  readonly intervalMs: number;
}

/** Defaults of `wgfabric server`: about an hour of history for a small fabric, checked every minute. */
export const DEFAULT_AUTO_COMPACT: AutoCompactSettings = { keepRevisions: 10_000, intervalMs: 60_000 };

/** Shortest accepted intervalMs. */
export const MIN_COMPACT_INTERVAL_MS = 1000;

/** The minBatch in effect for a policy. */
export function minBatchOf(policy: CompactionPolicy): number {
  return policy.minBatch ?? Math.max(1, Math.ceil(policy.keepRevisions / 10));
}

/**
 * The revision to compact to, or null for "nothing to do". Pure. Compacting to the answer T
 * keeps `changes(since)` working for every since >= T = currentRevision - keepRevisions, and
 * drops at least minBatch revisions beyond compactRevision. null when disabled
 * (keepRevisions 0), on a young store (currentRevision <= keepRevisions) and when the compact
 * revision is already ahead (another writer or an admin compacted further).
 */
export function compactionTarget(currentRevision: number, compactRevision: number, policy: CompactionPolicy): number | null {
  if (policy.keepRevisions === 0) return null;
  const target = currentRevision - policy.keepRevisions;
  return target - compactRevision >= minBatchOf(policy) ? target : null;
}

/** Throws WGF_ERR_VALIDATION (details.field names the setting) unless the settings are usable. */
export function validateAutoCompact(s: AutoCompactSettings): AutoCompactSettings {
  const bad = (field: string, rule: string, got: unknown) =>
    new FabricError('WGF_ERR_VALIDATION', `compaction ${field} must be ${rule}, got ${String(got)}`, { field });
  if (!Number.isSafeInteger(s.keepRevisions) || s.keepRevisions < 0) throw bad('keepRevisions', 'an integer >= 0', s.keepRevisions);
  if (s.minBatch !== undefined && (!Number.isSafeInteger(s.minBatch) || s.minBatch < 1)) throw bad('minBatch', 'an integer >= 1', s.minBatch);
  if (!Number.isSafeInteger(s.intervalMs) || s.intervalMs < MIN_COMPACT_INTERVAL_MS) {
    throw bad('intervalMs', `an integer >= ${MIN_COMPACT_INTERVAL_MS}`, s.intervalMs);
  }
  return s;
}

/** The part of the Store the compactor uses. */
export type CompactableStore = Pick<Store, 'currentRevision' | 'compactRevision' | 'compact'>;

/** Where the compactor logs (a pino/fastify logger fits). */
export interface CompactionLog {
  info(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

/** The part of Timers the compactor uses; tests pass fakes and fire them by hand. */
export type CompactionTimers = Pick<Timers, 'setTimeout' | 'clearTimeout'>;

const silentLog: CompactionLog = { info: () => {}, error: () => {} };

/** What one tick did. */
export type CompactionOutcome =
  | { readonly action: 'compacted'; readonly from: number; readonly to: number; readonly revision: number }
  | { readonly action: 'none'; readonly reason: 'disabled' | 'stopped' | 'too-few' | 'standby' }
  | { readonly action: 'failed'; readonly error: Error };

/** Options of AutoCompactor. */
export interface AutoCompactorOptions {
  readonly store: CompactableStore;
  readonly settings: AutoCompactSettings;
  readonly log?: CompactionLog;
  readonly timers?: CompactionTimers;
  /** With several replicas on one store: only the leader compacts (default: always). */
  readonly isLeader?: () => boolean;
}

/**
 * Timer-driven shell around compactionTarget. start() schedules a tick every intervalMs (the
 * next one only after the previous finished, so ticks never overlap); a failed tick (store
 * closed, SQLite error) is logged and retried at the next one, never thrown. With
 * keepRevisions 0 it never schedules and never compacts. Works with several control planes
 * on one store: compacting to a revision at or below the compact revision is a no-op.
 */
export class AutoCompactor {
  readonly settings: AutoCompactSettings;
  private readonly store: CompactableStore;
  private readonly log: CompactionLog;
  private readonly timers: CompactionTimers;
  private timer: TimerHandle = undefined;
  private started = false;
  private stopped = false;
  private inflight: Promise<unknown> = Promise.resolve();
  private readonly isLeader: () => boolean;

  /** Throws WGF_ERR_VALIDATION for unusable settings. */
  constructor(opts: AutoCompactorOptions) {
    this.settings = validateAutoCompact(opts.settings);
    this.store = opts.store;
    this.log = opts.log ?? silentLog;
    this.timers = opts.timers ?? backgroundTimers;
    this.isLeader = opts.isLeader ?? (() => true);
  }

  /** False when keepRevisions is 0. */
  get enabled(): boolean {
    return this.settings.keepRevisions > 0;
  }

  /** Schedules the ticks (the first one intervalMs from now). Idempotent; no-op when disabled or stopped. */
  start(): void {
    if (this.started || this.stopped || !this.enabled) return;
    this.started = true;
    this.schedule();
  }

  /** One check-and-compact pass, serialized with any other. Never rejects. */
  tick(): Promise<CompactionOutcome> {
    const run = this.inflight.then(() => this.runOnce());
    this.inflight = run;
    return run;
  }

  /** Cancels the next tick and waits for a running one, so the store can be closed after. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
  }

  private schedule(): void {
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.tick().then(() => {
        if (!this.stopped) this.schedule();
      });
    }, this.settings.intervalMs);
  }

  private async runOnce(): Promise<CompactionOutcome> {
    if (!this.enabled) return { action: 'none', reason: 'disabled' };
    if (this.stopped) return { action: 'none', reason: 'stopped' };
    if (!this.isLeader()) return { action: 'none', reason: 'standby' };
    try {
      // Read the compact revision first: a write in between only makes the target more conservative.
      const from = await this.store.compactRevision();
      const revision = await this.store.currentRevision();
      const to = compactionTarget(revision, from, this.settings);
      if (to === null) return { action: 'none', reason: 'too-few' };
      await this.store.compact(to);
      this.log.info({ compactRevision: to, previousCompactRevision: from, revision, keepRevisions: this.settings.keepRevisions },
        'change log compacted automatically');
      return { action: 'compacted', from, to, revision };
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.log.error({ code: (error as { code?: unknown }).code, error: error.message }, 'automatic compaction failed; retrying at the next tick');
      return { action: 'failed', error };
    }
  }
}
