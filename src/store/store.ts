/**
 * The store: a small etcd-like key-value interface with a revisioned change log.
 *
 * Contract (held by every driver, checked by store/contract.ts):
 * - Every successful txn with at least one op gets the next revision (strictly increasing by
 *   1 per txn, starting at 1). All ops of one txn share that revision; a txn is all or nothing.
 * - Compares are checked atomically with the ops: `modRevision: 0` means "key must not exist".
 *   A failed compare applies nothing and does not consume a revision.
 * - `changes(prefix, since)` returns every event with revision > since, in revision order
 *   (ops of one txn in the order given). If `since` is below the compaction point it throws
 *   FabricError WGF_ERR_STORE_COMPACTED with details { compactRevision, currentRevision }.
 * - `range` reads at the current revision and reports that revision.
 * - `watch` delivers, in order and without gaps or duplicates, every event with revision >
 *   since for keys under the prefix, first the backlog then live events.
 * Keys are printable ASCII without spaces; values are strings (JSON by convention).
 */

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** Revision of the txn that created this key (since its last delete). */
  readonly createRevision: number;
  /** Revision of the txn that last wrote this key. Used for optimistic concurrency. */
  readonly modRevision: number;
}

export type Op =
  | { readonly type: 'put'; readonly key: string; readonly value: string }
  | { readonly type: 'delete'; readonly key: string };

export interface Compare {
  readonly key: string;
  /** Expected modRevision of the key; 0 means the key must be absent. */
  readonly modRevision: number;
}

export interface TxnResult {
  readonly succeeded: boolean;
  /** The txn's revision when it succeeded, otherwise the current revision. */
  readonly revision: number;
  /** On failure: the keys whose compare did not hold. */
  readonly failed: readonly string[];
}

export interface ChangeEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly revision: number;
  /** New value for put; undefined for delete. */
  readonly value?: string;
  /** Value before this event, if the key existed. */
  readonly prevValue?: string;
}

export interface RangeOptions {
  /** Return only keys strictly greater than this one (pagination cursor). */
  readonly after?: string;
  /** Maximum number of keys; default: no limit. */
  readonly limit?: number;
}

export interface RangeResult {
  readonly kvs: readonly KeyValue[];
  /** Store revision the read was made at. */
  readonly revision: number;
  /** True when more keys exist after the last one returned. */
  readonly more: boolean;
}

export interface ChangesResult {
  readonly events: readonly ChangeEvent[];
  /** Current store revision when the read was made. */
  readonly revision: number;
}

export interface Watcher {
  cancel(): void;
}

/** What Store.health() reports: whether the store can commit now, and if not why. */
export interface StoreHealth {
  readonly ok: boolean;
  /** When not ok: WGF_ERR_STORE_CORRUPT (damaged; writes refused) or WGF_ERR_STORE_UNAVAILABLE (cannot commit, e.g. disk full). */
  readonly code?: 'WGF_ERR_STORE_CORRUPT' | 'WGF_ERR_STORE_UNAVAILABLE';
  /** One line for people, e.g. "the last commit failed: SQLITE_FULL: database or disk is full". */
  readonly reason?: string;
}

/** What Store.check() reports. */
export interface StoreCheckResult {
  readonly ok: boolean;
  readonly mode: 'quick' | 'full';
  /** The problems found (at most a few dozen); empty when ok. */
  readonly problems: readonly string[];
  readonly durationMs: number;
}

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  range(prefix: string, options?: RangeOptions): Promise<RangeResult>;
  /** Number of keys under prefix at the current revision. */
  count(prefix: string): Promise<number>;
  txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult>;
  /**
   * Events with revision > since under prefix. limit (integer >= 1) caps the number of events
   * but never splits a txn: the answer ends at a txn boundary, and a single txn larger than
   * limit comes whole, so resuming from the last event's revision skips nothing.
   */
  changes(prefix: string, since: number, limit?: number): Promise<ChangesResult>;
  currentRevision(): Promise<number>;
  /** Lowest `since` that changes() still accepts. */
  compactRevision(): Promise<number>;
  /** Drops log entries with revision <= rev. rev must be <= currentRevision. */
  compact(rev: number): Promise<void>;
  watch(prefix: string, since: number, onEvents: (events: readonly ChangeEvent[]) => void, onError: (err: Error) => void): Watcher;
  close(): Promise<void>;
  /**
   * Optional driver capability: whether the store can commit now (readiness). A driver that
   * learns its data is damaged reports WGF_ERR_STORE_CORRUPT and from then on refuses every
   * txn with that code (never writes into a damaged store); one whose last commit failed for
   * lack of space or an I/O error reports WGF_ERR_STORE_UNAVAILABLE until a commit (or a
   * probe of its own, at most about once a second) succeeds. Absent: always ready.
   */
  health?(): Promise<StoreHealth>;
  /**
   * Optional driver capability: an integrity check of the stored data ('quick': bounded by
   * the data size; 'full': everything, may take long and hold up other calls). Problems
   * found mark the store damaged as for health().
   */
  check?(mode: 'quick' | 'full'): Promise<StoreCheckResult>;
  /**
   * Optional driver capability: every key under prefix, in key order, in pages of at most
   * pageSize keys, all read at ONE revision (each page reports it), without holding up txns
   * while the pages are read and consumed (SQLite: a read transaction of its own connection
   * in a worker thread; etcd: ranges at one etcd revision). Breaking out of the loop ends
   * the read. Absent: use rangePages() of pages.ts, which falls back to one range().
   */
  rangePages?(prefix: string, pageSize: number): AsyncIterable<RangeResult>;
  /**
   * Optional driver capability: the pages of rangePages(prefix, pageSize) turned into bytes by
   * the encoder of `encoder.module` (see PageEncoderModule) OFF the event loop (SQLite: in
   * the reader thread that reads them), so the caller only passes the bytes on. Absent: use
   * rangeEncoded() of pages.ts, which encodes on the calling thread.
   */
  rangeEncoded?(prefix: string, pageSize: number, encoder: PageEncoderSpec): AsyncIterable<Uint8Array>;
}

/**
 * Which encoder turns pages into bytes: `module` is the file URL of an ES module (or, running
 * from TypeScript sources, a .ts file) exporting `createPageEncoder(args)`; `args` must survive
 * structured cloning (it is sent to a worker thread).
 */
export interface PageEncoderSpec {
  readonly module: string;
  readonly args: unknown;
}

/** What an encoder module exports (see PageEncoderSpec). */
export interface PageEncoderModule {
  createPageEncoder(args: unknown): PageEncoder;
}

/**
 * Text of each page in order, then of the end; a throw (a FabricError for the reader) ends
 * the read with that error.
 */
export interface PageEncoder {
  page(page: RangeResult): string;
  end(): string;
}

/** Smallest string greater than every key with this prefix (for range ends). */
export function prefixEnd(prefix: string): string {
  return prefix + '\u{10FFFF}';
}
