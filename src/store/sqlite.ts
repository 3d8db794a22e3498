import { chmodSync, closeSync, mkdirSync, openSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ERRORS, FabricError, type ErrorCode } from '../protocol/errors.js';
import { encodePages } from './pages.js';
import { prefixEnd } from './store.js';
import type { ChangeEvent, ChangesResult, Compare, KeyValue, Op, PageEncoderModule, PageEncoderSpec, RangeOptions, RangeResult, Store, StoreCheckResult, StoreHealth, TxnResult, Watcher } from './store.js';
import { integrityProblems, isCommitFailureCode, isCorruptCode, probeCommit } from './sqlite-health.js';
import { keepAtTxnBoundary, validateLimit, validateSince, validateTxn } from './validate.js';
import { WatchHub } from './watch-hub.js';
import { ReaderError, SqliteReaders } from './sqlite-reader.js';
import { FALLBACK_PAGES, SqliteCheckpointer, type CheckpointStats } from './sqlite-checkpoint.js';

const SCHEMA_VERSION = 1;

// kv and log are WITHOUT ROWID so rows live in their primary-key B-tree: a prefix range is one
// index range scan on kv(key), and "changes since R" is one range scan on log(rev, seq) that
// comes out already in event order. That PK is the index fit for "changes since R under
// prefix": the key filter is applied on the fly, no sort is needed and LIMIT stops the scan
// early. An index on log(key, rev) would help only a narrow prefix read from an old R, at
// the price of a sort of all matches and a second B-tree write per event; compaction keeps
// the log short, so the rev order wins.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
  rev INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('put', 'delete')),
  key TEXT NOT NULL,
  value TEXT,
  prev_value TEXT,
  PRIMARY KEY (rev, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  name TEXT NOT NULL PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
`;

const KV_COLUMNS = 'key, value, create_rev AS createRevision, mod_rev AS modRevision';
const LOG_COLUMNS = 'rev, type, key, value, prev_value';

/** Options of SqliteStore.open. */
export interface SqliteOpenOptions {
  /** How long open() waits for another process to release the database. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /** 'normal' (default, see open()) or 'full' (fsync the WAL at every commit). */
  readonly synchronous?: 'normal' | 'full';
  /**
   * The integrity check open() runs before serving: 'quick' (default; PRAGMA quick_check,
   * skipped with a note in openNotes for files above quickCheckMaxBytes so start stays
   * bounded in time), 'full' (integrity_check) or 'none'. A damaged file is refused with
   * WGF_ERR_STORE_CORRUPT.
   */
  readonly check?: 'quick' | 'full' | 'none';
  /** Largest file the quick check at open reads (default 1 GiB, a few seconds on a local disk). */
  readonly quickCheckMaxBytes?: number;
}

/** What SqliteStore.diagnostics() reports. */
export interface SqliteDiagnostics {
  readonly journalMode: string;
  readonly lockingMode: string;
  readonly synchronous: number;
  readonly busyTimeoutMs: number;
  /** The writer's own checkpoint threshold in pages (FALLBACK_PAGES while the checkpoint thread works). */
  readonly walAutocheckpoint: number;
  /** The checkpoint thread (sqlite-checkpoint.ts). */
  readonly checkpoints: CheckpointStats;
  /** EXPLAIN QUERY PLAN details by query name. */
  readonly plans: Readonly<Record<'range' | 'rangeAfter' | 'count' | 'changes' | 'changesAt', string>>;
}

interface LogRow {
  rev: number;
  type: 'put' | 'delete';
  key: string;
  value: string | null;
  prev_value: string | null;
}

/** Directories open in this process, by real path: a second SqliteStore on one is refused. */
const openDirs = new Set<string>();

/**
 * The Store on SQLite (better-sqlite3), for a single control-plane server. Holds to the
 * contract of store.ts (checked by store/contract.ts). One txn is one SQLite transaction;
 * watchers are fed by an in-process WatchHub right after commit.
 *
 * One SqliteStore owns its directory: it holds an exclusive lock on store.lock (a small SQLite
 * file in locking_mode=EXCLUSIVE) for as long as it is open, so no other SqliteStore, in this
 * process or another, opens the directory (watchers would silently miss the other writer's
 * events, and the cached revision would go stale). A second open fails with
 * WGF_ERR_STORE_UNAVAILABLE. store.db itself uses normal locking so that the store's own
 * reader threads (sqlite-reader.ts) can read it in read transactions beside the writer.
 */
export class SqliteStore implements Store {
  private closed = false;
  /** Set once the file is known to be damaged: every txn is refused from then on. */
  private damaged: string | null = null;
  /** The last commit's failure (disk full, I/O error) until a commit succeeds. */
  private commitFailure: { reason: string; probedAt: number } | null = null;
  /** What open() has to say (e.g. the quick check was skipped); the server logs it. */
  openNotes: string[] = [];
  private rev: number;
  private compacted: number;
  private readonly hub = new WatchHub((prefix, since) => this.guard(() => this.changesSync(prefix, since)));
  private readonly s;
  private readonly txnTx;
  private readonly compactTx;
  private readonly readers: SqliteReaders;
  private readonly checkpointer: SqliteCheckpointer;

  private constructor(private readonly db: Database.Database, private readonly dir: string, private readonly file: string,
    private readonly lock: Database.Database, busyTimeoutMs: number, synchronous: 'NORMAL' | 'FULL') {
    this.readers = new SqliteReaders(file, busyTimeoutMs);
    this.checkpointer = new SqliteCheckpointer(file, synchronous, () => {
      // Back to SQLite's own threshold, inline, as before the thread.
      if (!this.closed) db.pragma('wal_autocheckpoint = 1000');
    });
    const st = (sql: string) => db.prepare(sql);
    this.s = {
      get: st(`SELECT ${KV_COLUMNS} FROM kv WHERE key = ?`),
      prev: st('SELECT value, create_rev FROM kv WHERE key = ?'),
      modRev: st('SELECT mod_rev FROM kv WHERE key = ?').pluck(),
      upsert: st('INSERT INTO kv (key, value, create_rev, mod_rev) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev'),
      del: st('DELETE FROM kv WHERE key = ?'),
      logInsert: st('INSERT INTO log (rev, seq, type, key, value, prev_value) VALUES (?, ?, ?, ?, ?, ?)'),
      setMeta: st('UPDATE meta SET value = ? WHERE name = ?'),
      getMeta: st('SELECT value FROM meta WHERE name = ?').pluck(),
      // SQLite reads a negative LIMIT as "no limit".
      rangeFrom: st(`SELECT ${KV_COLUMNS} FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`),
      rangeAfter: st(`SELECT ${KV_COLUMNS} FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?`),
      count: st('SELECT count(*) FROM kv WHERE key >= ? AND key < ?').pluck(),
      changes: st(`SELECT ${LOG_COLUMNS} FROM log WHERE rev > ? AND key >= ? AND key < ? ORDER BY rev, seq LIMIT ?`),
      changesAt: st(`SELECT ${LOG_COLUMNS} FROM log WHERE rev = ? AND key >= ? AND key < ? ORDER BY seq`),
      compactLog: st('DELETE FROM log WHERE rev <= ?'),
    };
    this.rev = this.s.getMeta.get('revision') as number;
    this.compacted = this.s.getMeta.get('compact_revision') as number;
    this.txnTx = db.transaction((compares: readonly Compare[], ops: readonly Op[]) => this.applyTxn(compares, ops));
    this.compactTx = db.transaction((rev: number) => {
      this.s.compactLog.run(rev);
      this.s.setMeta.run(rev, 'compact_revision');
    });
  }

  /**
   * Opens (creating if needed) the store in `dir`, file `store.db`. Throws
   * WGF_ERR_STORE_UNAVAILABLE, with the path in details, when the directory cannot be created,
   * the file is not a wgfabric SQLite store (corrupted, foreign), or the store is already open
   * in this or another process.
   */
  static async open(dir: string, options: SqliteOpenOptions = {}): Promise<SqliteStore> {
    let real: string;
    try {
      // The store holds sealed keys and token hashes: owner only (0700 directory, 0600 files).
      mkdirSync(resolve(dir), { recursive: true, mode: 0o700 });
      real = realpathSync(resolve(dir));
      chmodSync(real, 0o700);
    } catch (e) {
      throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', `cannot create store directory ${resolve(dir)}: ${(e as Error).message}`,
        { path: resolve(dir) }, { cause: e });
    }
    const file = join(real, 'store.db');
    if (openDirs.has(real)) {
      throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', `store ${file} is already open in this process; share that SqliteStore`, { path: file });
    }
    let db: Database.Database | undefined;
    let lock: Database.Database | undefined;
    const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000));
    try {
      lock = holdLock(join(real, 'store.lock'), busyTimeoutMs);
      // Created 0600 (an existing one narrowed to it) before SQLite opens it: SQLite gives the
      // -wal and -shm files the mode of the database file.
      closeSync(openSync(file, 'a', 0o600));
      chmodSync(file, 0o600);
      db = new Database(file);
      // Waits this long for another process to let go (a server being restarted), then fails.
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', `store ${file} cannot use WAL mode (got ${String(mode)})`, { path: file });
      // In WAL mode synchronous=NORMAL fsyncs at checkpoints, not at every commit: a commit is
      // one write(), so single-put txns run tens of times faster. It stays crash-safe (a crash
      // of this process loses nothing committed, the file never corrupts); only an OS crash or
      // power cut may roll back the last commits. Followers then hold a `since` above the
      // current revision and must resync from a snapshot. Pass synchronous: 'full' to fsync
      // at every commit instead.
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      // Checkpoints run on a thread of their own (sqlite-checkpoint.ts); this connection's is the backstop.
      db.pragma(`wal_autocheckpoint = ${FALLBACK_PAGES}`);
      const notes = checkAtOpen(db, file, options);
      migrate(db, file);
      const store = new SqliteStore(db, real, file, lock, busyTimeoutMs, options.synchronous === 'full' ? 'FULL' : 'NORMAL');
      store.openNotes = notes;
      openDirs.add(real);
      return store;
    } catch (e) {
      db?.close();
      lock?.close();
      throw openError(e, file);
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return this.guard(() => this.s.get.get(key) as KeyValue | undefined);
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    return this.guard(() => {
      validateLimit(options.limit);
      const end = prefixEnd(prefix);
      const sqlLimit = options.limit === undefined ? -1 : options.limit + 1;
      // Start the index scan at the cursor when it lies inside the prefix, so paging stays
      // O(page) however deep the cursor is.
      const kvs = (options.after !== undefined && options.after >= prefix
        ? this.s.rangeAfter.all(options.after, end, sqlLimit)
        : this.s.rangeFrom.all(prefix, end, sqlLimit)) as KeyValue[];
      const more = options.limit !== undefined && kvs.length > options.limit;
      if (more) kvs.pop();
      return { kvs, revision: this.rev, more };
    });
  }

  async count(prefix: string): Promise<number> {
    return this.guard(() => this.s.count.get(prefix, prefixEnd(prefix)) as number);
  }

  async txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    return this.guard(() => {
      validateTxn(compares, ops);
      this.refuseIfDamaged();
      // BEGIN IMMEDIATE: take the write lock before the compares are read.
      let out: ReturnType<SqliteStore['applyTxn']>;
      try {
        out = this.txnTx.immediate(compares, ops);
      } catch (e) {
        const code = e instanceof Database.SqliteError ? e.code : undefined;
        if (isCommitFailureCode(code)) this.commitFailure = { reason: `the last commit failed: ${code}: ${(e as Error).message}`, probedAt: Date.now() };
        throw e;
      }
      this.commitFailure = null;
      if (out.failed.length > 0) return { succeeded: false, revision: this.rev, failed: out.failed };
      if (out.revision !== this.rev) {
        this.rev = out.revision;
        this.checkpointer.committed(out.events.length);
        this.hub.publish(out.events);
      }
      return { succeeded: true, revision: this.rev, failed: [] };
    });
  }

  async changes(prefix: string, since: number, limit?: number): Promise<ChangesResult> {
    return this.guard(() => {
      validateLimit(limit);
      return { events: this.changesSync(prefix, since, limit), revision: this.rev };
    });
  }

  async currentRevision(): Promise<number> {
    return this.guard(() => this.rev);
  }

  async compactRevision(): Promise<number> {
    return this.guard(() => this.compacted);
  }

  async compact(rev: number): Promise<void> {
    this.guard(() => {
      if (!Number.isSafeInteger(rev) || rev < 0 || rev > this.rev) {
        throw new FabricError('WGF_ERR_VALIDATION', `cannot compact to ${rev}: current revision is ${this.rev}`, { field: 'rev' });
      }
      if (rev <= this.compacted) return;
      this.refuseIfDamaged();
      this.compactTx.immediate(rev);
      this.compacted = rev;
      this.checkpointer.committed(1);
    });
  }

  /**
   * See Store.rangePages. A range that fits in one page is read here at once; a larger one is
   * read by a reader thread in one read transaction, page by page as the consumer asks.
   */
  async *rangePages(prefix: string, pageSize: number): AsyncGenerator<RangeResult> {
    validateLimit(pageSize);
    const first = await this.range(prefix, { limit: pageSize });
    if (!first.more) {
      yield first;
      return;
    }
    yield* this.fromReader(this.readers.pages(prefix, prefixEnd(prefix), pageSize));
  }

  /**
   * See Store.rangeEncoded: a range of more than one page is read AND encoded by a reader
   * thread (the event loop only passes the bytes on); one page is read and encoded here.
   */
  async *rangeEncoded(prefix: string, pageSize: number, encoder: PageEncoderSpec): AsyncGenerator<Uint8Array> {
    validateLimit(pageSize);
    const first = await this.range(prefix, { limit: pageSize });
    if (!first.more) {
      const mod = await import(encoder.module) as PageEncoderModule;
      yield* encodePages([first], mod.createPageEncoder(encoder.args));
      return;
    }
    yield* this.fromReader(this.readers.encoded(prefix, prefixEnd(prefix), pageSize, encoder));
  }

  private async *fromReader<T>(items: AsyncIterable<T>): AsyncGenerator<T> {
    try {
      for await (const item of items) {
        this.assertOpen();
        yield item;
      }
    } catch (e) {
      if (!(e instanceof ReaderError)) throw e;
      this.assertOpen();
      // An encoder's own error (e.g. WGF_ERR_NOT_FOUND: the pool was deleted before the read).
      if (e.code !== undefined && e.code in ERRORS) throw new FabricError(e.code as ErrorCode, e.message, e.details);
      if (isCorruptCode(e.code)) {
        this.markDamaged(`${e.code}: ${e.message}`);
        throw new FabricError('WGF_ERR_STORE_CORRUPT', `store ${this.file}: ${e.message}; stop the server and restore the data directory from a backup`,
          { path: this.file, sqliteCode: e.code }, { cause: e });
      }
      throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', `store ${this.file}: ${e.message}`, { path: this.file, ...(e.code ? { sqliteCode: e.code } : {}) }, { cause: e });
    }
  }

  watch(prefix: string, since: number, onEvents: (events: readonly ChangeEvent[]) => void, onError: (err: Error) => void): Watcher {
    this.assertOpen();
    return this.hub.add(prefix, since, onEvents, onError);
  }

  /** See Store.health: damaged, or the last commit failed and a probe commit (at most once a second) still fails. */
  async health(): Promise<StoreHealth> {
    this.assertOpen();
    if (this.damaged) return { ok: false, code: 'WGF_ERR_STORE_CORRUPT', reason: this.damaged };
    const failure = this.commitFailure;
    if (!failure) return { ok: true };
    if (Date.now() - failure.probedAt >= 1000) {
      try {
        probeCommit(this.db);
        this.commitFailure = null;
        return { ok: true };
      } catch (e) {
        const code = e instanceof Database.SqliteError ? e.code : undefined;
        if (isCorruptCode(code)) this.markDamaged(`${code}: ${(e as Error).message}`);
        failure.probedAt = Date.now();
        failure.reason = `the store cannot commit: ${code ?? 'error'}: ${(e as Error).message}`;
      }
    }
    return this.damaged ? { ok: false, code: 'WGF_ERR_STORE_CORRUPT', reason: this.damaged } : { ok: false, code: 'WGF_ERR_STORE_UNAVAILABLE', reason: failure.reason };
  }

  /** See Store.check. Runs on this connection: other calls wait while it reads the file. */
  async check(mode: 'quick' | 'full'): Promise<StoreCheckResult> {
    const started = performance.now();
    const problems = this.guard(() => integrityProblems(this.db, mode));
    if (problems.length > 0) this.markDamaged(`the ${mode} integrity check found: ${problems.slice(0, 3).join('; ')}`);
    return { ok: problems.length === 0, mode, problems, durationMs: Math.round(performance.now() - started) };
  }

  /** Closes the database and ends every watcher with WGF_ERR_STORE_UNAVAILABLE. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub.closeAll();
    // Synchronous up to the first await, so a close() not awaited still frees the directory.
    const readers = this.readers.close();
    const checkpointer = this.checkpointer.close();
    try {
      this.db.close();
    } finally {
      this.lock.close();
      openDirs.delete(this.dir);
    }
    await readers;
    await checkpointer;
  }

  /** Runs a checkpoint on the checkpoint thread now and waits for it (tests, tools). */
  async checkpointNow(): Promise<CheckpointStats> {
    this.assertOpen();
    await this.checkpointer.flush();
    return this.checkpointer.diagnostics();
  }

  /**
   * Diagnostics, not part of the Store interface: the connection's pragmas and the EXPLAIN
   * QUERY PLAN of the prefix and log queries, so tests can check they are index range scans.
   */
  diagnostics(): SqliteDiagnostics {
    return this.guard(() => {
      const plan = (sql: string, ...args: unknown[]) =>
        (this.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join('; ');
      const end = prefixEnd('a/');
      return {
        journalMode: String(this.db.pragma('journal_mode', { simple: true })),
        lockingMode: String(this.db.pragma('locking_mode', { simple: true })),
        // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
        synchronous: Number(this.db.pragma('synchronous', { simple: true })),
        busyTimeoutMs: Number(this.db.pragma('busy_timeout', { simple: true })),
        walAutocheckpoint: Number(this.db.pragma('wal_autocheckpoint', { simple: true })),
        checkpoints: this.checkpointer.diagnostics(),
        plans: {
          range: plan(this.s.rangeFrom.source, 'a/', end, -1),
          rangeAfter: plan(this.s.rangeAfter.source, 'a/b', end, -1),
          count: plan(this.s.count.source, 'a/', end),
          changes: plan(this.s.changes.source, 0, 'a/', end, -1),
          changesAt: plan(this.s.changesAt.source, 1, 'a/', end),
        },
      };
    });
  }

  private applyTxn(compares: readonly Compare[], ops: readonly Op[]): { failed: string[]; revision: number; events: ChangeEvent[] } {
    // Keys a compare found absent need no read of their previous value below (a creation
    // compares each key it writes with 0), until an op of this txn writes them.
    const absent = new Set<string>();
    const failed = compares.filter((c) => {
      const mod = (this.s.modRev.get(c.key) as number | undefined) ?? 0;
      if (mod === 0) absent.add(c.key);
      return mod !== c.modRevision;
    }).map((c) => c.key);
    if (failed.length > 0 || ops.length === 0) return { failed, revision: this.rev, events: [] };
    const revision = this.rev + 1;
    const events: ChangeEvent[] = [];
    for (const op of ops) {
      const prev = absent.delete(op.key) ? undefined : this.s.prev.get(op.key) as { value: string; create_rev: number } | undefined;
      if (op.type === 'put') {
        this.s.upsert.run(op.key, op.value, prev?.create_rev ?? revision, revision);
        this.s.logInsert.run(revision, events.length, 'put', op.key, op.value, prev?.value ?? null);
        events.push({ type: 'put', key: op.key, revision, value: op.value, ...(prev ? { prevValue: prev.value } : {}) });
      } else if (prev) {
        this.s.del.run(op.key);
        this.s.logInsert.run(revision, events.length, 'delete', op.key, null, prev.value);
        events.push({ type: 'delete', key: op.key, revision, prevValue: prev.value });
      }
    }
    this.s.setMeta.run(revision, 'revision');
    return { failed, revision, events };
  }

  private changesSync(prefix: string, since: number, limit?: number): ChangeEvent[] {
    validateSince(since);
    if (since < this.compacted) {
      throw new FabricError('WGF_ERR_STORE_COMPACTED', `revision ${since} was compacted; take a snapshot`, {
        compactRevision: this.compacted,
        currentRevision: this.rev,
      });
    }
    const end = prefixEnd(prefix);
    if (limit === undefined) return (this.s.changes.all(since, prefix, end, -1) as LogRow[]).map(toEvent);
    const events = (this.s.changes.all(since, prefix, end, limit + 1) as LogRow[]).map(toEvent);
    const keep = keepAtTxnBoundary(events, limit);
    if (keep === events.length && keep > limit) {
      // The first txn alone exceeds limit and we fetched only part of it: return it whole.
      return (this.s.changesAt.all(events[0]!.revision, prefix, end) as LogRow[]).map(toEvent);
    }
    return events.slice(0, keep);
  }

  private markDamaged(reason: string): void {
    this.damaged ??= `store ${this.file} is damaged (${reason})`;
  }

  private refuseIfDamaged(): void {
    if (this.damaged) throw new FabricError('WGF_ERR_STORE_CORRUPT', `${this.damaged}; writes are refused: stop the server and restore the data directory from a backup`, { path: this.file });
  }

  private guard<T>(fn: () => T): T {
    this.assertOpen();
    try {
      return fn();
    } catch (e) {
      if (e instanceof Database.SqliteError && isCorruptCode(e.code)) {
        this.markDamaged(`${e.code}: ${e.message}`);
        throw new FabricError('WGF_ERR_STORE_CORRUPT', `store ${this.file}: ${e.message}; stop the server and restore the data directory from a backup`,
          { path: this.file, sqliteCode: e.code }, { cause: e });
      }
      if (e instanceof Database.SqliteError) {
        throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', `store ${this.file}: ${e.message}`, { path: this.file, sqliteCode: e.code }, { cause: e });
      }
      throw e;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', `store ${this.file} is closed`, { path: this.file });
  }
}

function toEvent(r: LogRow): ChangeEvent {
  const prev = r.prev_value === null ? {} : { prevValue: r.prev_value };
  return r.type === 'put'
    ? { type: 'put', key: r.key, revision: r.rev, value: r.value as string, ...prev }
    : { type: 'delete', key: r.key, revision: r.rev, ...prev };
}

/** Creates the tables on a new file; checks the schema version of an existing one. */
function migrate(db: Database.Database, file: string): void {
  db.transaction(() => {
    db.exec(SCHEMA);
    const version = db.prepare("SELECT value FROM meta WHERE name = 'schema_version'").pluck().get();
    if (version === undefined) {
      const put = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)');
      put.run('schema_version', SCHEMA_VERSION);
      put.run('revision', 0);
      put.run('compact_revision', 0);
    } else if (version !== SCHEMA_VERSION) {
      throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', `store ${file} has schema version ${String(version)}; this wgfabric reads version ${SCHEMA_VERSION}`,
        { path: file, schemaVersion: version });
    }
  }).immediate();
}

/** The integrity check before serving (SqliteOpenOptions.check); returns notes for the log. */
function checkAtOpen(db: Database.Database, file: string, options: SqliteOpenOptions): string[] {
  const mode = options.check ?? 'quick';
  if (mode === 'none') return [];
  const size = statSync(file).size;
  const max = options.quickCheckMaxBytes ?? 1024 ** 3;
  if (mode === 'quick' && size > max) {
    return [`store ${file} is ${size} bytes, above ${max}: the quick integrity check at start was skipped; run \`wgfabric store-check --full\` while the server is stopped`];
  }
  const started = performance.now();
  const problems = integrityProblems(db, mode);
  if (problems.length > 0) {
    throw new FabricError('WGF_ERR_STORE_CORRUPT', `store ${file} is damaged (the ${mode} integrity check found: ${problems.slice(0, 3).join('; ')}); `
      + 'the server will not write into it: restore the data directory from a backup (or move store.db away to start empty)', { path: file, problems: problems.slice(0, 10) });
  }
  return [`store ${file}: ${mode} integrity check ok (${size} bytes, ${Math.round(performance.now() - started)} ms)`];
}

/**
 * Opens `file` (a tiny SQLite database) in locking_mode=EXCLUSIVE and writes to it, so this
 * connection holds its exclusive lock until closed: the lock of the store directory.
 */
function holdLock(file: string, busyTimeoutMs: number): Database.Database {
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  const lock = new Database(file, { timeout: busyTimeoutMs });
  try {
    lock.pragma(`busy_timeout = ${busyTimeoutMs}`);
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec(`CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL); DELETE FROM holder; INSERT INTO holder (pid) VALUES (${process.pid});`);
    return lock;
  } catch (e) {
    lock.close();
    throw e;
  }
}

function openError(e: unknown, file: string): FabricError {
  if (e instanceof FabricError) return e;
  const code = e instanceof Database.SqliteError ? e.code : undefined;
  if (isCorruptCode(code)) {
    return new FabricError('WGF_ERR_STORE_CORRUPT', `store ${file} is damaged (${code}: ${(e as Error).message}); restore the data directory from a backup`,
      { path: file, sqliteCode: code }, { cause: e });
  }
  const why = code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT'
    ? 'is not a SQLite database or is corrupted; restore it from a backup or move it away'
    : code === 'SQLITE_BUSY'
      ? 'is locked by another process (is another wgfabric server using this directory?)'
      : `cannot be opened: ${(e as Error).message}`;
  return new FabricError('WGF_ERR_STORE_UNAVAILABLE', `store ${file} ${why}`, { path: file, ...(code ? { sqliteCode: code } : {}) }, { cause: e });
}
