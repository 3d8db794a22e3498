import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, type IKeyValue, type IOptions, type IRequestOp, type ITxnRequest, type ITxnResponse, GRPCResourceExhastedError, isRecoverableError } from 'etcd3';
import { ERRORS, FabricError, isFabricError, type ErrorCode } from '../protocol/errors.js';
import { EncodeError, sharedEncodeThreads } from './encode-threads.js';
import { decodeKv, decodeLog, EtcdLayout, encodeKv, encodeLog, logId, planTxn } from './etcd-codec.js';
import { ETCD_BATCH_LIMITS } from './etcd-limits.js';
import { EtcdLogFollower, EtcdWatch } from './etcd-watch.js';
import type { ChangeEvent, ChangesResult, Compare, KeyValue, Op, PageEncoderSpec, RangeOptions, RangeResult, Store, TxnResult, Watcher } from './store.js';
import { isValidKey, validateLimit, validateSince, validateTxn } from './validate.js';

/** How to reach and use an etcd cluster. */
export interface EtcdStoreOptions {
  /** Client URLs, http:// or https://, e.g. ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]. */
  readonly endpoints: readonly string[];
  /** Key prefix of this fabric (default "wgfabric/"): several fabrics can share one cluster. */
  readonly prefix?: string;
  /** PEM files: CA to verify etcd's certificate; client certificate and key for mutual TLS. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
  /** etcd authentication (user with read-write on the prefix). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline of each unary etcd call (default 5000 ms). */
  readonly requestTimeoutMs?: number;
  /**
   * Also compact etcd's own MVCC history when the change log is compacted (default true). The
   * etcd compaction is cluster-wide: turn it off when the cluster is shared with programs that
   * read old etcd revisions, and let etcd's --auto-compaction do it instead.
   */
  readonly etcdCompaction?: boolean;
}

export const DEFAULT_ETCD_PREFIX = 'wgfabric/';
/** etcd refuses a txn with more ops than --max-txn-ops (default 128); reads are chunked below it. */
const READ_CHUNK = 100;
const PAGE = 1000;
/** What checkLimits() probes: a batch of 1,000 plain creations (5,004 ops) fits, with room. */
const PROBE_OPS = 6000;
const PROBE_BYTES = 4 * 1024 * 1024;
/** etcd accepts gRPC messages this much larger than --max-request-bytes (its grpcOverheadBytes). */
const ETCD_GRPC_OVERHEAD = 512 * 1024;
/** Resends of a txn whose answer was lost, ~6 s in all: longer than an etcd leader election. */
const COMMIT_RETRIES = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Errors worth another try or another endpoint: not a refusal of the request itself. */
const transient = (e: Error) => isRecoverableError(e) && !(e instanceof GRPCResourceExhastedError);

/**
 * The Store on etcd v3, for several control-plane replicas sharing one cluster.
 *
 * The store keeps its own revision counter and change log in etcd (layout in etcd-codec.ts)
 * instead of exposing etcd's revisions: the contract's revisions are contiguous per fabric
 * (etcd's are shared by every key of the cluster), a txn may touch one key twice and a txn of
 * deletes of missing keys still takes a revision (etcd refuses the first and skips the
 * second). So the contract holds unrelaxed on etcd.
 *
 * A txn is: one consistent read of the revision key and every key it compares or writes, the
 * compares checked on that read, then one etcd txn guarded by "the revision key is unchanged"
 * that writes the keys, the log entry and the new revision. A concurrent writer (this or
 * another replica) makes the guard fail and the txn is retried from the read: writes are
 * linearizable through etcd. Txns of one EtcdStore are queued, so replicas contend, not
 * requests of one replica. A txn needs (distinct keys written + 2) etcd ops and one request
 * of the size of its values plus its log entry: beyond etcd's --max-txn-ops or
 * --max-request-bytes it fails whole with WGF_ERR_STORE_TXN_TOO_LARGE, nothing applied.
 *
 * Watches read the log from the asked revision, then take the entries after it from the
 * store's one shared etcd watch of the log (one etcd watch stream per replica, however many
 * watchers), which restarts from its last entry after any etcd error (see etcd-watch.ts).
 */
export class EtcdStore implements Store {
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly watches = new Set<EtcdWatch>();
  readonly layout: EtcdLayout;
  /** The one etcd watch of this store, shared by all its watchers (see EtcdLogFollower). */
  readonly follower = new EtcdLogFollower(this);

  private constructor(readonly client: Etcd3, private readonly opts: EtcdStoreOptions) {
    this.layout = new EtcdLayout(opts.prefix ?? DEFAULT_ETCD_PREFIX);
  }

  /**
   * Connects and reads the revision once. WGF_ERR_VALIDATION for bad options,
   * WGF_ERR_STORE_UNAVAILABLE (naming the endpoints) when etcd does not answer or refuses the
   * credentials.
   */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    validateOptions(opts);
    const timeout = opts.requestTimeoutMs ?? 5000;
    const files = (f?: string) => (f ? readFileSync(f) : undefined);
    let tls: IOptions['credentials'] | undefined;
    try {
      if (opts.tls?.caFile || opts.tls?.certFile) {
        tls = { rootCertificate: files(opts.tls.caFile) as Buffer, ...(opts.tls.certFile ? { certChain: files(opts.tls.certFile)!, privateKey: files(opts.tls.keyFile)! } : {}) };
      }
    } catch (e) {
      throw new FabricError('WGF_ERR_VALIDATION', `cannot read an etcd TLS file: ${(e as Error).message}`, { field: 'etcdTls' }, { cause: e });
    }
    const client = new Etcd3({
      hosts: [...opts.endpoints],
      ...(tls ? { credentials: tls } : {}),
      ...(opts.auth ? { auth: { username: opts.auth.username, password: opts.auth.password } } : {}),
      dialTimeout: timeout,
      // Unary calls get a deadline; the watch stream must not.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      // etcd3's defaults also retry "message too large" and then open the circuit breaker of
      // the only endpoint for 5 s; keep retries and breakers to transient failures.
      faultHandling: {
        host: () => circuitBreaker(handleWhen(transient), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(transient), { maxAttempts: 2 }),
      },
      grpcOptions: { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 },
    });
    const store = new EtcdStore(client, opts);
    try {
      await store.currentRevision();
    } catch (e) {
      client.close();
      throw e;
    }
    return store;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    const res = await this.call(() => this.client.kv.range({ key: this.layout.key(key) }));
    const kv = res.kvs[0];
    return kv ? decodeKv(key, kv.value) : undefined;
  }

  async range(prefix: string, options: RangeOptions = {}): Promise<RangeResult> {
    this.assertOpen();
    validateLimit(options.limit);
    const span = this.layout.keyRange(prefix, options.after);
    const pageLimit = options.limit ?? PAGE;
    const first = await this.readTxn([{ request_range: { key: this.layout.rev } }, { request_range: { ...span, limit: pageLimit } }]);
    const revision = numberOf(first.responses[0]!.response_range.kvs[0]);
    const etcdRev = first.header.revision;
    let page = first.responses[1]!.response_range;
    const kvs = page.kvs.map((kv) => decodeKv(this.layout.storeKey(kv.key), kv.value));
    if (options.limit !== undefined) return { kvs, revision, more: page.more };
    // No limit: the rest in pages read at the same etcd revision, so the answer is one snapshot.
    while (page.more) {
      const last = kvs.at(-1)!.key;
      page = await this.call(() => this.client.kv.range({ key: this.layout.key(`${last}\x00`), range_end: span.range_end, limit: PAGE, revision: etcdRev }));
      kvs.push(...page.kvs.map((kv) => decodeKv(this.layout.storeKey(kv.key), kv.value)));
    }
    return { kvs, revision, more: false };
  }

  /** See Store.rangePages: pages read at the etcd revision of the first one, each when asked for. */
  async *rangePages(prefix: string, pageSize: number): AsyncGenerator<RangeResult> {
    this.assertOpen();
    validateLimit(pageSize);
    const span = this.layout.keyRange(prefix);
    const first = await this.readTxn([{ request_range: { key: this.layout.rev } }, { request_range: { ...span, limit: pageSize } }]);
    const revision = numberOf(first.responses[0]!.response_range.kvs[0]);
    const etcdRev = first.header.revision;
    let page = first.responses[1]!.response_range;
    for (;;) {
      const kvs = page.kvs.map((kv) => decodeKv(this.layout.storeKey(kv.key), kv.value));
      yield { kvs, revision, more: page.more };
      if (!page.more || kvs.length === 0) return;
      const last = kvs.at(-1)!.key;
      this.assertOpen();
      page = await this.call(() => this.client.kv.range({ key: this.layout.key(`${last}\x00`), range_end: span.range_end, limit: pageSize, revision: etcdRev }));
    }
  }

  /**
   * See Store.rangeEncoded: the pages of rangePages(), read here (the gRPC client lives on the
   * event loop), decoded and encoded in an encoder thread (encode-threads.ts).
   */
  async *rangeEncoded(prefix: string, pageSize: number, encoder: PageEncoderSpec): AsyncGenerator<Uint8Array> {
    try {
      yield* sharedEncodeThreads().encode(this.rangePages(prefix, pageSize), encoder);
    } catch (e) {
      // An encoder's own error (e.g. WGF_ERR_NOT_FOUND: the pool was deleted before the read).
      if (e instanceof EncodeError && e.code !== undefined && e.code in ERRORS) throw new FabricError(e.code as ErrorCode, e.message, e.details);
      throw e;
    }
  }

  /**
   * Problems of the cluster's limits for batches of 1,000 peers (empty when none): probes with
   * two read-only txns (nothing is written) whether etcd takes a txn of PROBE_OPS operations
   * (its --max-txn-ops) and a request of PROBE_BYTES (its --max-request-bytes), and names the
   * flag to raise for each it refuses. The server logs them at start.
   */
  async checkLimits(): Promise<string[]> {
    this.assertOpen();
    const problems: string[] = [];
    const fix = (flag: string, value: number) => `start etcd with ${flag} ${value} (or more) so that a batch of up to 1,000 peers commits as one revision (see README, Several control-plane replicas on etcd)`;
    try {
      await this.readTxn(Array.from({ length: PROBE_OPS }, (): IRequestOp => ({ request_range: { key: this.layout.rev } })));
    } catch (e) {
      if (!isFabricError(e, 'WGF_ERR_STORE_TXN_TOO_LARGE')) throw e;
      problems.push(`etcd refuses txns of ${PROBE_OPS} operations (its --max-txn-ops is lower, etcd's default is 128): ${fix('--max-txn-ops', ETCD_BATCH_LIMITS.maxTxnOps)}`);
    }
    try {
      // A range of a long key that does not exist: the message is as large as a big write, and
      // etcd's gRPC layer refuses messages over --max-request-bytes + its overhead allowance.
      const key = Buffer.concat([this.layout.key('~probe/'), Buffer.alloc(PROBE_BYTES + ETCD_GRPC_OVERHEAD, 0x61)]);
      await this.readTxn([{ request_range: { key, keys_only: true } }]);
    } catch (e) {
      if (!isFabricError(e, 'WGF_ERR_STORE_TXN_TOO_LARGE')) throw e;
      problems.push(`etcd refuses requests of ${(PROBE_BYTES / 1048576).toFixed(0)} MiB (its --max-request-bytes is lower, etcd's default is 1.5 MiB): ${fix('--max-request-bytes', ETCD_BATCH_LIMITS.maxRequestBytes)}`);
    }
    return problems;
  }

  async count(prefix: string): Promise<number> {
    this.assertOpen();
    const res = await this.call(() => this.client.kv.range({ ...this.layout.keyRange(prefix), count_only: true }));
    return Number(res.count);
  }

  async txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    this.assertOpen();
    validateTxn(compares, ops);
    const run = this.queue.then(() => this.txnNow(compares, ops));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async changes(prefix: string, since: number, limit?: number): Promise<ChangesResult> {
    this.assertOpen();
    validateLimit(limit);
    const { events, revision } = await this.readLog(prefix, since, limit);
    return { events, revision };
  }

  async currentRevision(): Promise<number> {
    this.assertOpen();
    return numberOf((await this.call(() => this.client.kv.range({ key: this.layout.rev }))).kvs[0]);
  }

  async compactRevision(): Promise<number> {
    this.assertOpen();
    return numberOf((await this.call(() => this.client.kv.range({ key: this.layout.compact }))).kvs[0]);
  }

  async compact(rev: number): Promise<void> {
    this.assertOpen();
    for (;;) {
      const read = await this.readTxn([{ request_range: { key: this.layout.rev } }, { request_range: { key: this.layout.compact } }]);
      const current = numberOf(read.responses[0]!.response_range.kvs[0]);
      const compactKv = read.responses[1]!.response_range.kvs[0];
      if (!Number.isSafeInteger(rev) || rev < 0 || rev > current) {
        throw new FabricError('WGF_ERR_VALIDATION', `cannot compact to ${rev}: current revision is ${current}`, { field: 'rev' });
      }
      if (rev <= numberOf(compactKv)) return;
      // The etcd revision of the newest log entry being dropped: etcd history up to it is
      // no longer needed by anyone following this fabric.
      const lastDropped = await this.call(() => this.client.kv.range({ key: this.layout.log(0), range_end: this.layout.log(rev + 1), sort_order: 'Descend', sort_target: 'Key', limit: 1, keys_only: true }));
      const res = await this.call(() => this.client.kv.txn({
        compare: [{ key: this.layout.compact, target: 'Mod', result: 'Equal', mod_revision: compactKv?.mod_revision ?? 0 }],
        success: [
          { request_delete_range: { key: this.layout.log(0), range_end: this.layout.log(rev + 1) } },
          { request_put: { key: this.layout.compact, value: Buffer.from(String(rev)) } },
        ],
      }));
      if (!res.succeeded) continue;
      const etcdRev = lastDropped.kvs[0]?.mod_revision;
      if (etcdRev !== undefined && this.opts.etcdCompaction !== false) {
        // Already compacted further by someone else: fine.
        await this.client.kv.compact({ revision: etcdRev }).catch(() => undefined);
      }
      return;
    }
  }

  watch(prefix: string, since: number, onEvents: (events: readonly ChangeEvent[]) => void, onError: (err: Error) => void): Watcher {
    this.assertOpen();
    const w = new EtcdWatch(this, this.follower, prefix, since, onEvents, (e) => {
      this.watches.delete(w);
      onError(e);
    });
    this.watches.add(w);
    w.start();
    return { cancel: () => { this.watches.delete(w); w.cancel(); } };
  }

  /** Ends every watcher with WGF_ERR_STORE_UNAVAILABLE and closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.fail(new FabricError('WGF_ERR_STORE_UNAVAILABLE', 'store closed'));
    this.watches.clear();
    this.follower.failAll(new FabricError('WGF_ERR_STORE_UNAVAILABLE', 'store closed'));
    this.client.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The store revision and the etcd revision of one read (where the shared watch starts). */
  async readHead(): Promise<{ revision: number; etcdRevision: string }> {
    const res = await this.readTxn([{ request_range: { key: this.layout.rev } }]);
    return { revision: numberOf(res.responses[0]!.response_range.kvs[0]), etcdRevision: res.header.revision };
  }

  /**
   * Events with revision > since under prefix (whole txns, at most `limit` unless one txn is
   * larger), the store and etcd revisions of the read. WGF_ERR_STORE_COMPACTED below the
   * compaction point. Used by changes() and by watches.
   */
  async readLog(prefix: string, since: number, limit?: number): Promise<{ events: ChangeEvent[]; revision: number; etcdRevision: string; lastEntry: number }> {
    validateSince(since);
    const first = await this.readTxn([
      { request_range: { key: this.layout.rev } },
      { request_range: { key: this.layout.compact } },
      { request_range: { ...this.layout.logFrom(since + 1), limit: PAGE } },
    ]);
    const revision = numberOf(first.responses[0]!.response_range.kvs[0]);
    const compacted = numberOf(first.responses[1]!.response_range.kvs[0]);
    if (since < compacted) {
      throw new FabricError('WGF_ERR_STORE_COMPACTED', `revision ${since} was compacted; take a snapshot`, { compactRevision: compacted, currentRevision: revision });
    }
    const etcdRevision = first.header.revision;
    const events: ChangeEvent[] = [];
    let lastEntry = since;
    let page = first.responses[2]!.response_range;
    for (;;) {
      for (const kv of page.kvs) {
        const rev = this.layout.logRevision(kv.key);
        const mine = decodeLog(rev, kv.value).filter((e) => e.key.startsWith(prefix));
        if (limit !== undefined && events.length > 0 && events.length + mine.length > limit) return { events, revision, etcdRevision, lastEntry };
        events.push(...mine);
        lastEntry = rev;
      }
      if (!page.more) break;
      page = await this.call(() => this.client.kv.range({ ...this.layout.logFrom(lastEntry + 1), limit: PAGE, revision: etcdRevision }));
    }
    return { events, revision, etcdRevision, lastEntry };
  }

  private async txnNow(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    const keys = [...new Set([...compares.map((c) => c.key), ...ops.map((o) => o.key)])];
    for (let attempt = 0; ; attempt++) {
      this.assertOpen();
      const { revision, revKv, kvs } = await this.readKeys(keys);
      const failed = compares.filter((c) => (kvs.get(c.key)?.modRevision ?? 0) !== c.modRevision).map((c) => c.key);
      if (failed.length > 0) return { succeeded: false, revision, failed };
      if (ops.length === 0) return { succeeded: true, revision, failed: [] };
      const next = revision + 1;
      const plan = planTxn(kvs, ops, next);
      const id = randomBytes(9).toString('base64url');
      const success: IRequestOp[] = [
        { request_put: { key: this.layout.rev, value: Buffer.from(String(next)) } },
        { request_put: { key: this.layout.log(next), value: encodeLog(id, plan.events) } },
      ];
      for (const [k, kv] of plan.finals) {
        success.push(kv
          ? { request_put: { key: this.layout.key(k), value: encodeKv(kv.createRevision, kv.modRevision, kv.value) } }
          : { request_delete_range: { key: this.layout.key(k) } });
      }
      const guard = { key: this.layout.rev, target: 'Mod' as const, result: 'Equal' as const, mod_revision: revKv?.mod_revision ?? 0 };
      if (await this.commit({ compare: [guard], success }, next, id)) return { succeeded: true, revision: next, failed: [] };
      // Another writer committed in between: read again. A little jitter spreads replicas.
      await sleep(Math.min(50, attempt * 2) * Math.random());
    }
  }

  /**
   * Sends one guarded etcd txn; true when it was applied. When etcd's answer is lost (member
   * down, leader change, timeout) the very same txn is sent again: its guard makes that
   * idempotent, and the log entry's id tells whether a failed guard was our own earlier
   * attempt. So a write is applied at most once, and reported applied only when it was.
   */
  private async commit(req: ITxnRequest, next: number, id: string): Promise<boolean> {
    const ops = req.success!.length;
    for (let tries = 0; ; tries++) {
      this.assertOpen();
      try {
        const res = await this.client.kv.txn(req);
        if (res.succeeded) return true;
        const entry = await this.client.kv.range({ key: this.layout.log(next) });
        return entry.kvs[0] !== undefined && logId(entry.kvs[0].value) === id;
      } catch (e) {
        const err = this.mapError(e, ops);
        if (!isFabricError(err, 'WGF_ERR_STORE_UNAVAILABLE') || this.closed || tries >= COMMIT_RETRIES) throw err;
        await sleep(Math.min(1000, 100 * 2 ** tries));
      }
    }
  }

  /** One consistent read (one etcd revision) of the revision key and `keys`, in chunks below etcd's op limit. */
  private async readKeys(keys: readonly string[]): Promise<{ revision: number; revKv: IKeyValue | undefined; kvs: Map<string, KeyValue> }> {
    const kvs = new Map<string, KeyValue>();
    const head = keys.slice(0, READ_CHUNK - 1);
    const first = await this.readTxn([{ request_range: { key: this.layout.rev } }, ...head.map((k) => ({ request_range: { key: this.layout.key(k) } }))]);
    const revKv = first.responses[0]!.response_range.kvs[0];
    const take = (k: string, r: { kvs: IKeyValue[] }) => {
      if (r.kvs[0]) kvs.set(k, decodeKv(k, r.kvs[0].value));
    };
    head.forEach((k, i) => take(k, first.responses[i + 1]!.response_range));
    const at = first.header.revision;
    const chunks: string[][] = [];
    for (let i = head.length; i < keys.length; i += READ_CHUNK) chunks.push(keys.slice(i, i + READ_CHUNK));
    await Promise.all(chunks.map(async (chunk) => {
      const res = await this.readTxn(chunk.map((k): IRequestOp => ({ request_range: { key: this.layout.key(k), revision: at } })));
      chunk.forEach((k, i) => take(k, res.responses[i]!.response_range));
    }));
    return { revision: numberOf(revKv), revKv, kvs };
  }

  private readTxn(reads: IRequestOp[]): Promise<ITxnResponse> {
    return this.call(() => this.client.kv.txn({ success: reads }));
  }

  /** Runs one etcd call, mapping its failures to FabricErrors. */
  async call<T>(fn: () => Promise<T>, ops?: number): Promise<T> {
    this.assertOpen();
    try {
      return await fn();
    } catch (e) {
      throw this.mapError(e, ops);
    }
  }

  mapError(e: unknown, ops?: number): Error {
    if (isFabricError(e)) return e;
    const msg = (e as Error)?.message ?? String(e);
    if (this.closed) return new FabricError('WGF_ERR_STORE_UNAVAILABLE', 'store closed', undefined, { cause: e });
    if (/too many operations in txn request/.test(msg)) {
      return new FabricError('WGF_ERR_STORE_TXN_TOO_LARGE',
        `etcd refused a txn of ${ops ?? '?'} operations (over its --max-txn-ops); nothing was applied. Raise etcd's --max-txn-ops (${ETCD_BATCH_LIMITS.maxTxnOps} fits a batch of 1,000 peers)`,
        { etcdOps: ops, limit: 'max-txn-ops', flag: '--max-txn-ops' }, { cause: e });
    }
    if (/request is too large|larger than max/.test(msg)) {
      return new FabricError('WGF_ERR_STORE_TXN_TOO_LARGE',
        `etcd refused a txn larger than its --max-request-bytes; nothing was applied. Raise etcd's --max-request-bytes (${ETCD_BATCH_LIMITS.maxRequestBytes} fits a batch of 1,000 peers)`,
        { etcdOps: ops, limit: 'max-request-bytes', flag: '--max-request-bytes' }, { cause: e });
    }
    return new FabricError('WGF_ERR_STORE_UNAVAILABLE', `etcd ${this.opts.endpoints.join(',')}: ${msg}`, { endpoints: [...this.opts.endpoints] }, { cause: e });
  }

  assertOpen(): void {
    if (this.closed) throw new FabricError('WGF_ERR_STORE_UNAVAILABLE', 'store is closed');
  }
}

function numberOf(kv: IKeyValue | undefined): number {
  return kv ? Number(kv.value.toString()) : 0;
}

function validateOptions(opts: EtcdStoreOptions): void {
  const bad = (field: string, message: string) => new FabricError('WGF_ERR_VALIDATION', message, { field });
  if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) throw bad('etcdEndpoints', 'etcd needs at least one endpoint URL, as in http://127.0.0.1:2379');
  for (const url of opts.endpoints) {
    let u: URL | undefined;
    try {
      u = new URL(url);
    } catch { /* below */ }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.port === '' || (u.pathname !== '/' && u.pathname !== '')) {
      throw bad('etcdEndpoints', `etcd endpoint "${url}" must be http(s)://HOST:PORT`);
    }
  }
  if (opts.prefix !== undefined && (!isValidKey(opts.prefix))) throw bad('etcdPrefix', `etcd prefix "${opts.prefix}" must be printable ASCII without spaces, as in wgfabric/prod/`);
  if (opts.tls?.certFile && !opts.tls.keyFile) throw bad('etcdKey', 'an etcd client certificate needs its key file');
  if (opts.tls?.keyFile && !opts.tls.certFile) throw bad('etcdCert', 'an etcd client key needs its certificate file');
  if (opts.auth && (!opts.auth.username || typeof opts.auth.password !== 'string')) throw bad('etcdUser', 'etcd auth needs a user name and a password');
}

