import type { PeerBatchItem, PeerBatchResult } from '../protocol/api.js';
import { peerBatch } from './peer-batch.js';
import type { AuditListFilter, ChangesResponse, LbReportInput, NodeCreate, NodeStatusInput, NodeUpdate, PeerCreate, PeerUpdate, PoolCreate, PoolUpdate, TokenCreate, TokenCreated } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { AdminState, AuditEntry, LbReport, Node, Page, Peer, Pool, PoolChange, PoolSnapshot, TokenInfo } from '../protocol/types.js';
import type { Store, StoreCheckResult, StoreHealth, Watcher } from '../store/store.js';
import { listAudit } from './audit.js';
import { AuthCache, type AuthCacheOptions } from './auth-cache.js';
import { mapEvents, snapshotFrom } from './changes.js';
import { SNAPSHOT_ENCODER_MODULE, type SnapshotEncoderArgs } from './snapshot-stream.js';
import { rangeEncoded, rangePages } from '../store/pages.js';
import { commit, makeCtx, notFound, systemClock, type Clock, type Ctx, type MutationOptions } from './context.js';
import * as K from './keys.js';
import * as lbs from './lbs.js';
import { checkMasterKeyState, rotateMasterKey, type RotationResult } from './master-key.js';
import * as nodes from './nodes.js';
import type { PageRequest } from './paging.js';
import * as peers from './peers.js';
import * as pools from './pools.js';
import { poolKeyContext } from './records.js';
import type { SecretBox } from './secrets.js';
import * as tokens from './tokens.js';
import * as V from './validate.js';

export type { Clock, MutationOptions } from './context.js';

/** Who reads a pool's snapshot or changes: the pool's node tokens also get the peers' preshared keys. */
export interface PoolView {
  readonly presharedKeys?: boolean;
}

/** What a ControlPlane needs; the clock defaults to the wall clock. */
export interface ControlPlaneOptions {
  readonly store: Store;
  /** Seals pool private keys at rest (master key). */
  readonly secrets: SecretBox;
  readonly clock?: Clock;
  /** Txn attempts under contention before WGF_ERR_UNAVAILABLE (default 32). */
  readonly maxAttempts?: number;
  /** Settings of the token lookup cache (auth-cache.ts); false: no cache, every lookup reads the store. */
  readonly authCache?: AuthCacheOptions | false;
}

/** Most events one GET .../changes answer carries (never splitting a txn). */
const CHANGES_LIMIT = 5000;
/** Keys per page of a snapshot read (store/pages.ts). */
const SNAPSHOT_PAGE = 1000;

/**
 * The control plane: pools, nodes, peers, LB reports, tokens, audit and the change stream, all on the
 * Store interface (no assumption that this process is the only writer). Every mutation is
 * validated, guarded by compares (If-Match → WGF_ERR_CONFLICT) and audited in its own txn;
 * the returned entity's `revision` is that txn's revision. Authorization is the caller's job
 * (the HTTP server's policy); `actor` is only recorded.
 */
export class ControlPlane {
  readonly store: Store;
  private readonly ctx: Ctx;
  /** Token lookups, invalidated through the store watch (null when turned off). */
  readonly authCache: AuthCache | null;

  constructor(opts: ControlPlaneOptions) {
    this.store = opts.store;
    this.authCache = opts.authCache === false ? null : new AuthCache(opts.store, opts.authCache);
    this.ctx = makeCtx(this.authCache ? this.authCache.wrap(opts.store) : opts.store, opts.secrets, opts.clock ?? systemClock, opts.maxAttempts);
  }

  /** Stops the background parts (the auth cache's watch); the store is the caller's to close. */
  close(): void {
    this.authCache?.close();
  }

  // ---- pools ----
  createPool(input: PoolCreate, opts: MutationOptions): Promise<Pool> { return pools.createPool(this.ctx, input, opts); }
  getPool(name: string): Promise<Pool> { return pools.getPool(this.ctx, name); }
  listPools(filter: PageRequest & { label?: string | undefined } = {}): Promise<Page<Pool>> { return pools.listPools(this.ctx, filter); }
  updatePool(name: string, patch: PoolUpdate, opts: MutationOptions): Promise<Pool> { return pools.updatePool(this.ctx, name, patch, opts); }
  /** Refused with WGF_ERR_IN_USE while the pool has nodes or peers, unless `force`. */
  deletePool(name: string, opts: MutationOptions & { force?: boolean }): Promise<void> { return pools.deletePool(this.ctx, name, opts); }
  /** The decrypted server private key (base64) for the pool's nodes and admins; the read is audited. */
  poolPrivateKey(name: string, opts: MutationOptions): Promise<string> { return pools.poolPrivateKey(this.ctx, name, opts); }

  // ---- nodes ----
  createNode(pool: string, input: NodeCreate, opts: MutationOptions): Promise<Node> { return nodes.createNode(this.ctx, pool, input, opts); }
  getNode(pool: string, name: string): Promise<Node> { return nodes.getNode(this.ctx, pool, name); }
  listNodes(pool: string, filter: PageRequest & { label?: string | undefined; adminState?: AdminState | undefined } = {}): Promise<Page<Node>> {
    return nodes.listNodes(this.ctx, pool, filter);
  }
  updateNode(pool: string, name: string, patch: NodeUpdate, opts: MutationOptions): Promise<Node> { return nodes.updateNode(this.ctx, pool, name, patch, opts); }
  deleteNode(pool: string, name: string, opts: MutationOptions): Promise<void> { return nodes.deleteNode(this.ctx, pool, name, opts); }
  /** Stores an agent's status report (not audited, not in the change stream). */
  putNodeStatus(pool: string, name: string, status: NodeStatusInput, opts: MutationOptions): Promise<Node> {
    return nodes.putNodeStatus(this.ctx, pool, name, status, opts);
  }

  // ---- load-balancer reports ----
  /** Stores an LB instance's report (not audited, not in the change stream); the pool must exist. */
  putLbStatus(pool: string, instance: string, input: LbReportInput, opts: MutationOptions): Promise<LbReport> {
    return lbs.putLbStatus(this.ctx, pool, instance, input, opts);
  }
  getLbStatus(pool: string, instance: string): Promise<LbReport> { return lbs.getLbStatus(this.ctx, pool, instance); }
  listLbStatus(pool: string, req: PageRequest = {}): Promise<Page<LbReport>> { return lbs.listLbStatus(this.ctx, pool, req); }
  /** Forgets a retired instance's report; WGF_ERR_NOT_FOUND when there is none. */
  deleteLbStatus(pool: string, instance: string, opts: MutationOptions): Promise<void> { return lbs.deleteLbStatus(this.ctx, pool, instance, opts); }

  // ---- peers ----
  createPeer(pool: string, input: PeerCreate, opts: MutationOptions): Promise<Peer> { return peers.createPeer(this.ctx, pool, input, opts); }
  getPeer(pool: string, name: string): Promise<Peer> { return peers.getPeer(this.ctx, pool, name); }
  listPeers(pool: string, filter: PageRequest & { label?: string | undefined; enabled?: boolean | undefined; prefix?: string | undefined; keep?: ((publicKey: string) => boolean) | undefined } = {}): Promise<Page<Peer>> {
    return peers.listPeers(this.ctx, pool, filter);
  }
  updatePeer(pool: string, name: string, patch: PeerUpdate, opts: MutationOptions): Promise<Peer> { return peers.updatePeer(this.ctx, pool, name, patch, opts); }
  deletePeer(pool: string, name: string, opts: MutationOptions): Promise<void> { return peers.deletePeer(this.ctx, pool, name, opts); }
  /** Group-commit txns so far and the peer mutations they carried. */
  groupCommitStats(): { txns: number; mutations: number } { return { ...this.ctx.group.stats }; }
  /** Up to 1,000 peer creations, updates and deletions in one txn, all or nothing (peer-batch.ts). */
  peerBatch(pool: string, items: readonly PeerBatchItem[], opts: MutationOptions): Promise<PeerBatchResult> { return peerBatch(this.ctx, pool, items, opts.actor); }

  // ---- change stream ----

  /** A consistent view of the pool (one range) at `revision`; follow with since = revision. */
  async poolSnapshot(pool: string, view: PoolView = {}): Promise<PoolSnapshot> {
    V.name('pool', pool);
    const kvs = [];
    let revision = 0;
    for await (const page of rangePages(this.store, K.poolPrefix(pool), SNAPSHOT_PAGE)) {
      kvs.push(...page.kvs);
      revision = page.revision;
    }
    const snap = snapshotFrom(pool, kvs, revision, this.opener(view));
    if (!snap) throw notFound(`pool ${pool}`, `pools/${pool}`);
    return snap;
  }

  /**
   * The same snapshot as JSON bytes (snapshot-stream.ts), read in pages at one revision that
   * never hold up writes, and decoded and encoded off the event loop where the store can
   * (SQLite: in its reader thread), written out as they are read. WGF_ERR_NOT_FOUND for a
   * missing pool, and errors of the first page, come before the first chunk.
   */
  async poolSnapshotStream(pool: string, view: PoolView = {}): Promise<AsyncIterable<Uint8Array>> {
    V.name('pool', pool);
    await pools.readPool(this.ctx, pool);
    const args: SnapshotEncoderArgs = { pool, ...(view.presharedKeys ? { masterKeys: this.ctx.secrets.heldKeys() } : {}) };
    const chunks = rangeEncoded(this.store, K.poolPrefix(pool), SNAPSHOT_PAGE, { module: SNAPSHOT_ENCODER_MODULE, args });
    const first = await chunks.next();
    return (async function* () {
      if (!first.done) yield first.value;
      yield* chunks;
    })();
  }

  /** Whether anything of the pool's snapshot changed after `revision` (true when it can no longer be told). */
  async poolChangedSince(pool: string, revision: number): Promise<boolean> {
    try {
      return (await this.store.changes(K.poolPrefix(pool), revision, 1)).events.length > 0;
    } catch {
      return true;
    }
  }

  /**
   * Changes of the pool with revision > since; follow on with `since = revision` of the
   * answer. Throws WGF_ERR_STORE_COMPACTED when `since` is too old (take a snapshot).
   */
  async poolChanges(pool: string, since: number, view: PoolView = {}): Promise<ChangesResponse> {
    V.name('pool', pool);
    const prefix = K.poolPrefix(pool);
    const res = await this.store.changes(prefix, since, CHANGES_LIMIT);
    assertNotAhead(since, res.revision);
    if (res.events.length === 0) return { revision: res.revision, changes: [] };
    const last = res.events[res.events.length - 1]!.revision;
    // Only claim the current revision when nothing of this pool lies beyond what we return.
    const more = await this.store.changes(prefix, last, 1);
    return { revision: more.events.length === 0 ? more.revision : last, changes: mapEvents(pool, res.events, this.opener(view)) };
  }

  /**
   * One page of the pool's changes with revision > since: at most `limit` store events, never
   * half a revision (a single larger revision comes whole). `through` is the revision the
   * page is complete up to (resume from it); `caughtUp` says nothing lies beyond it.
   * Throws WGF_ERR_STORE_COMPACTED (too old) or WGF_ERR_REVISION_AHEAD (above the store).
   */
  async poolBacklog(pool: string, since: number, limit: number, view: PoolView = {}): Promise<{ changes: PoolChange[]; through: number; caughtUp: boolean }> {
    V.name('pool', pool);
    const res = await this.store.changes(K.poolPrefix(pool), since, limit);
    assertNotAhead(since, res.revision);
    if (res.events.length === 0) return { changes: [], through: res.revision, caughtUp: true };
    return { changes: mapEvents(pool, res.events, this.opener(view)), through: res.events[res.events.length - 1]!.revision, caughtUp: false };
  }

  /** Throws WGF_ERR_REVISION_AHEAD when `since` is above the current revision (see assertNotAhead). */
  async checkSince(since: number): Promise<void> {
    assertNotAhead(since, await this.store.currentRevision());
  }

  /**
   * Streams the pool's changes with revision > since: `onChanges(changes, revision)` per
   * batch (revision: the batch's last event), `onError` once (e.g. WGF_ERR_STORE_COMPACTED).
   */
  watchPool(
    pool: string, since: number, onChanges: (changes: PoolChange[], revision: number) => void, onError: (err: Error) => void, view: PoolView = {},
  ): Watcher {
    V.name('pool', pool);
    const openPsk = this.opener(view);
    return this.store.watch(K.poolPrefix(pool), since, (events) => {
      if (events.length > 0) onChanges(mapEvents(pool, events, openPsk), events[events.length - 1]!.revision);
    }, onError);
  }

  private opener(view: PoolView) {
    return view.presharedKeys ? peers.pskOpener(this.ctx) : undefined;
  }

  /**
   * The highest revision a follower that has seen every change up to `delivered` may resume
   * from: the current revision when no change of the pool lies after `delivered`.
   */
  async resumeRevision(pool: string, delivered: number): Promise<number> {
    try {
      const res = await this.store.changes(K.poolPrefix(pool), delivered, 1);
      return res.events.length === 0 ? Math.max(res.revision, delivered) : delivered;
    } catch (e) {
      if (e instanceof FabricError && e.code === 'WGF_ERR_STORE_COMPACTED') return delivered;
      throw e;
    }
  }

  /**
   * Drops change history up to `revision` (default: current). Audited, as an admin's act;
   * the server's automatic compaction (compaction.ts) calls the store directly and only logs.
   */
  async compact(revision: number | undefined, opts: MutationOptions): Promise<{ compactRevision: number; revision: number }> {
    const current = await this.store.currentRevision();
    const target = revision ?? current;
    if (!Number.isSafeInteger(target) || target < 0 || target > current) {
      throw V.invalid('revision', `must be an integer 0..${current} (the current revision)`);
    }
    await this.store.compact(target);
    const rev = await commit(this.ctx, opts.actor, async () => ({
      compares: [], ops: [], audit: { action: 'compact', kind: 'store', object: 'store' }, result: (r) => r,
    }));
    return { compactRevision: await this.store.compactRevision(), revision: rev };
  }

  currentRevision(): Promise<number> { return this.store.currentRevision(); }

  /** Whether the store can commit (readiness); stores without health() are always ok. */
  async storeHealth(): Promise<StoreHealth> {
    return this.store.health ? this.store.health() : { ok: true };
  }

  /** Integrity check of the store; WGF_ERR_VALIDATION when its driver has none. */
  async checkStore(mode: 'quick' | 'full'): Promise<StoreCheckResult> {
    if (!this.store.check) throw V.invalid('mode', 'this store driver has no integrity check');
    return this.store.check(mode);
  }

  /** Lowest `since` the change stream still accepts (for metrics). */
  compactRevision(): Promise<number> { return this.store.compactRevision(); }

  /**
   * Throws WGF_ERR_CRYPTO when the loaded master key cannot open the sealed keys of the
   * store (a wrong or replaced master key file), so a server refuses to start rather than
   * fail later on every private-key read. Checks one pool; passes on an empty store. Also
   * WGF_ERR_MASTER_KEY_RETIRED / _MISSING after a rotation (master-key.ts); returns a warning
   * to log when a rotation is unfinished, else null.
   */
  async checkMasterKey(): Promise<string | null> {
    const warning = await checkMasterKeyState(this.ctx);
    const first = (await this.store.range(K.POOL_LIST_PREFIX, { limit: 1 })).kvs[0];
    if (first) await this.poolPrivateKeyUnaudited(first.key.slice(K.POOL_LIST_PREFIX.length));
    return warning;
  }

  /**
   * Online master-key rotation (master-key.ts): every sealed secret re-sealed under key `keyId`
   * (default: the one new key of the key file), the old key retired, one audit entry.
   */
  rotateMasterKey(keyId: string | undefined, opts: MutationOptions): Promise<RotationResult> {
    return rotateMasterKey(this.ctx, keyId, opts.actor);
  }

  private async poolPrivateKeyUnaudited(name: string): Promise<void> {
    const { rec } = await pools.readPool(this.ctx, name);
    this.ctx.secrets.open(rec.privateKeySealed, poolKeyContext(name)).fill(0);
  }

  /** Peers per pool (for metrics). */
  async peerCounts(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const kv of (await this.store.range(K.POOL_LIST_PREFIX)).kvs) {
      const pool = kv.key.slice(K.POOL_LIST_PREFIX.length);
      out.set(pool, await this.store.count(K.peersPrefix(pool)));
    }
    return out;
  }

  // ---- audit and tokens ----
  listAudit(filter: Omit<AuditListFilter, 'limit'> & { limit?: number | undefined } = {}): Promise<Page<AuditEntry>> { return listAudit(this.ctx, filter); }
  /** The secret is in the answer only: it is not stored. */
  createToken(input: TokenCreate, opts: MutationOptions): Promise<TokenCreated> { return tokens.createToken(this.ctx, input, opts); }
  listTokens(req: PageRequest = {}): Promise<Page<TokenInfo>> { return tokens.listTokens(this.ctx, req); }
  deleteToken(id: string, opts: MutationOptions): Promise<void> { return tokens.deleteToken(this.ctx, id, opts); }
  /** The token's identity, or null for anything that is not a valid existing token. */
  authenticate(text: string): Promise<TokenInfo | null> {
    const cache = this.authCache;
    return cache ? tokens.authenticate(this.ctx, text, (k) => cache.get(k)) : tokens.authenticate(this.ctx, text);
  }
  /** The "bootstrap" admin token text when no token exists yet (returned once), else null. */
  bootstrap(): Promise<string | null> { return tokens.bootstrap(this.ctx); }
}

/**
 * A follower whose revision is above the store's has followed another store (restored from
 * a backup, replaced): no change it missed can be named, so it must take a fresh snapshot.
 */
function assertNotAhead(since: number, current: number): void {
  if (since > current) {
    throw new FabricError('WGF_ERR_REVISION_AHEAD', `revision ${since} is ahead of this store (current revision ${current}); take a fresh snapshot`,
      { since, currentRevision: current });
  }
}
