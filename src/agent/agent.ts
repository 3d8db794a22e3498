import { setTimeout as sleep } from 'node:timers/promises';
import { FabricError, isFabricError, needsResnapshot } from '../protocol/errors.js';
import type { AdminState, DsrReport, NodeStatus, Pool, PoolChange } from '../protocol/types.js';
import type { AnnounceReport, NodeAnnouncePolicy } from '../protocol/announce.js';
import { DesiredState } from './desired.js';
import type { DevicePeerSpec } from './desired.js';
import type { DevicePeerState, DeviceState, WireGuardDevice } from './device.js';
import { parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import { diffDesired, diffPeers, type PeerOp } from './diff.js';
import type { DesiredStateSource } from './source.js';

/** The common log call (sys/log.ts). */
export type { LogFn } from '../sys/log.js';
import type { LogFn } from '../sys/log.js';

export interface AgentOptions {
  readonly pool: string;
  readonly node: string;
  readonly source: DesiredStateSource;
  readonly device: WireGuardDevice;
  /** Full compare-and-repair period (default 30 s). */
  readonly reconcileIntervalMs?: number;
  /** Status report period (default 5 s). */
  readonly reportIntervalMs?: number;
  /** Retry backoff bounds (defaults 200 ms .. 10 s, equal jitter); grows until a stream delivers again. */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** Applied revision may trail the control plane by this much and still be ready. */
  readonly readyLagRevisions?: number;
  readonly now?: () => Date;
  readonly log?: LogFn;
  /** Called after the device got the pool's key and port (each snapshot), e.g. to bring the interface up. */
  readonly onConfigured?: (pool: Pool) => Promise<void>;
  /** The node's announcement for status reports (agent --announce). */
  readonly announceReport?: () => AnnounceReport;
  /** Host settings kept besides the device (agent --vip: VipKeeper, src/agent/vip.ts): checked with every reconcile; not ok = not ready. */
  readonly host?: { ensure(): Promise<number>; readonly ok: boolean; report(): DsrReport };
}

/** Counters and gauges the agent exposes (read by metrics and status reports). */
export interface AgentStats {
  appliedRevision: number;
  controlPlaneRevision: number;
  peersDesired: number;
  peersApplied: number;
  driftRepairs: number;
  reconciles: number;
  incrementalOps: number;
  /** Ops applied while loading a snapshot (first start, resync after compaction). */
  snapshotOps: number;
  setOperations: number;
  lastReconcileAt: Date | null;
  connected: boolean;
  deviceUp: boolean;
  /** Times a device that lost its configuration (a restarted wireguard-go) was configured again. */
  deviceReconfigures: number;
  lastError: string;
  /**
   * Why this node no longer serves its pool ('' while it does): its pool or node was deleted,
   * or the control plane refused its credential. Its peers were removed from the device.
   */
  removed: string;
  /** Consecutive failed attempts to follow the control plane (the backoff grows with it). */
  failures: number;
  /** Snapshots taken (the first sync, a compacted revision, a rotated pool key). */
  snapshots: number;
  /** Change streams opened again from the last applied revision after one broke (no snapshot). */
  watchResumes: number;
  /** From the last broken stream to the next one open, in ms (null before any resume). */
  lastResumeGapMs: number | null;
  /** The control-plane replica serving the stream now ('' while none). */
  server: string;
}

/**
 * The node agent's engine: snapshot, then follow the pool's change stream, applying each
 * batch of changes to the device as one incremental set operation; reconcile against the real
 * device at start and every interval; fail static (the device keeps its last state) while the
 * control plane is away; never flush the device on start, reconnect or resnapshot.
 */
export class Agent {
  readonly stats: AgentStats = {
    appliedRevision: 0, controlPlaneRevision: 0, peersDesired: 0, peersApplied: 0, driftRepairs: 0, reconciles: 0,
    incrementalOps: 0, snapshotOps: 0, setOperations: 0, lastReconcileAt: null, connected: false, deviceUp: false, deviceReconfigures: 0, lastError: '',
    removed: '', failures: 0,
    snapshots: 0, watchResumes: 0, lastResumeGapMs: null, server: '',
  };
  private desired: DesiredState | null = null;
  /** Last known device peer set (what we applied, refreshed on every reconcile). */
  private applied = new Map<string, DevicePeerSpec>();
  private lastPeerStates = new Map<string, DevicePeerState>();
  private deviceKey: string | null = null;
  /** The pool as of the last snapshot or pool change (public fields only: no key is kept). */
  private pool: Pool | null = null;
  private nodeAdmin: AdminState | null = null;
  private nodePolicy: NodeAnnouncePolicy | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private expiryTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly now: () => Date;
  private readonly log: LogFn;

  constructor(private readonly opts: AgentOptions) {
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log ?? (() => {});
  }

  /** Starts following; resolves once the loop is running (not when synced: see waitSynced). */
  start(): void {
    if (this.running) return;
    this.running = this.loop();
    this.timers.push(setInterval(() => void this.reconcile().catch(() => {}), this.opts.reconcileIntervalMs ?? 30_000));
    this.timers.push(setInterval(() => void this.report(), this.opts.reportIntervalMs ?? 5_000));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    await this.running?.catch(() => {});
    await this.queue.catch(() => {});
  }

  /** Ready: device up with the pool key and applied revision close to the control plane's. */
  /** The pool as last seen (public fields only), null before the first snapshot. */
  get poolInfo(): Pool | null {
    return this.pool;
  }

  /** This node's admin state as last seen in the pool's snapshot or changes. */
  get nodeAdminState(): AdminState | null {
    return this.nodeAdmin;
  }

  /** This node's own BGP policy (Node.announcePolicy) as last seen; undefined: the pool's settings. */
  get nodeAnnouncePolicy(): NodeAnnouncePolicy | undefined {
    return this.nodePolicy;
  }

  get ready(): boolean {
    const lag = this.stats.controlPlaneRevision - this.stats.appliedRevision;
    return this.stats.deviceUp && this.desired !== null && lag <= (this.opts.readyLagRevisions ?? 0) && (this.opts.host?.ok ?? true);
  }

  /** Peer names by public key, from the desired state (empty before the first snapshot). */
  peerNames(): ReadonlyMap<string, string> {
    return this.desired?.namesByKey() ?? new Map();
  }

  /** Live per-peer state from the last device read (handshakes, bytes). */
  get peerStates(): ReadonlyMap<string, DevicePeerState> {
    return this.lastPeerStates;
  }

  /**
   * Compares the desired set with the real device and repairs any drift. Returns the number of
   * ops applied. The reconcile right after a snapshot loads the device and is not counted as drift.
   */
  reconcile(afterSnapshot = false): Promise<number> {
    return this.serialized(async () => {
      if (!this.desired) return 0;
      // One read of the device gives the key and the peers; configuring it again leaves its peers alone.
      const device = await this.readDevice();
      if (!afterSnapshot) await this.ensureConfigured(device.publicKey).catch((e: unknown) => this.deviceFailed(e));
      const ops = await this.repair(device.peers, afterSnapshot);
      await this.opts.host?.ensure().catch(() => {}); // logged by the keeper; shows as not ready and in the report
      return ops;
    });
  }

  /** Reads the whole device; a failure marks it down (see deviceFailed). */
  private async readDevice(): Promise<DeviceState> {
    try {
      return await this.opts.device.state();
    } catch (e) {
      return this.deviceFailed(e);
    }
  }

  /**
   * The device vanished (wireguard-go killed, interface deleted) or could not be set up again:
   * not ready until a reconcile reads it again, so status reports and the LB's readiness check
   * say so.
   */
  private deviceFailed(e: unknown): never {
    this.stats.deviceUp = false;
    this.stats.lastError = e instanceof Error ? e.message : String(e);
    throw e;
  }

  /** The diff of the desired set against the peers just read, applied; runs inside serialized(). */
  private async repair(actualStates: Map<string, DevicePeerState>, afterSnapshot: boolean): Promise<number> {
    // A device peer is a spec with counters: diffed as it is, no copy per peer, no map of specs.
    const ops = diffDesired(this.desired!, actualStates, this.now());
    if (ops.length > 0) {
      if (!afterSnapshot) this.log('warn', 'reconcile: repairing drift', { pool: this.opts.pool, repairs: ops.length, ...summarize(ops) });
      await this.applyOps(ops);
      if (afterSnapshot) this.stats.snapshotOps += ops.length;
      else this.stats.driftRepairs += ops.length;
    }
    // The peers just read are the applied set; the map is copied only once a change is applied
    // (an agent restarted on an in-sync device does not copy 65k entries to change nothing).
    this.applied = actualStates;
    this.lastPeerStates = actualStates;
    if (ops.length > 0) {
      const applied = this.ownApplied();
      for (const o of ops) o.op === 'remove' ? applied.delete(o.publicKey) : applied.set(o.spec.publicKey, o.spec);
    }
    this.stats.reconciles++;
    this.stats.lastReconcileAt = this.now();
    this.stats.deviceUp = true;
    this.refreshCounts();
    this.scheduleExpiry();
    return ops.length;
  }

  /**
   * Follows the control plane until stopped. The failure count (and so the backoff) only goes
   * back to zero once a stream delivered a heartbeat or a change, so a control plane that
   * answers but refuses, or a stream that breaks at once, is retried with a growing delay.
   * Each new cause of failure is logged once; the same cause again only at attempts 2, 4, 8...
   */
  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    let lastCause = '';
    /** When the last stream broke, while the desired state it had built is still kept. */
    let brokenAt: { at: number; revision: number; server: string } | null = null;
    while (!signal.aborted) {
      try {
        if (!this.desired) {
          brokenAt = null; // a snapshot is no resume
          await this.resync();
        }
        // A device op failed (its changes are in the desired state): repair in full before following on.
        else if (!this.stats.deviceUp) await this.reconcile();
        this.stats.connected = true;
        const since = this.desired!.revision;
        await this.opts.source.follow(this.opts.pool, since, {
          onChanges: (changes) => this.onChanges(changes),
          onHeartbeat: (rev) => this.onHeartbeat(rev),
          onOpen: (server) => {
            this.stats.server = server;
            if (brokenAt === null) return;
            // Resumed from the kept revision, maybe on another replica: no snapshot, no device reload.
            this.stats.watchResumes++;
            this.stats.lastResumeGapMs = Date.now() - brokenAt.at;
            this.log('info', 'watch resumed', { pool: this.opts.pool, since, server, previousServer: brokenAt.server, gapMs: this.stats.lastResumeGapMs });
            brokenAt = null;
          },
        }, signal);
      } catch (e) {
        if (signal.aborted) break;
        if (this.desired && brokenAt === null) brokenAt = { at: Date.now(), revision: this.desired.revision, server: this.stats.server };
        this.stats.server = '';
        this.stats.connected = false;
        this.stats.lastError = e instanceof Error ? e.message : String(e);
        if (needsResnapshot(e)) {
          this.log('warn', isFabricError(e, 'WGF_ERR_STORE_COMPACTED')
            ? 'revision compacted on the control plane; taking a new snapshot'
            : 'revision ahead of the control plane store (restored or replaced); taking a new snapshot', { since: this.desired?.revision });
          this.desired = null;
          continue;
        }
        if (e instanceof Removed) lastCause = 'removed'; // onChanges logged it
        else if (isRefusal(e) && this.stats.removed === '') {
          await this.retire(`the control plane refused this node (${e.code}: ${e.message}); its pool, node or token was deleted`, { code: e.code });
          lastCause = 'removed';
        }
        const failures = ++this.stats.failures;
        const cap = Math.min(this.opts.backoffMaxMs ?? 10_000, (this.opts.backoffMinMs ?? 200) * 2 ** Math.min(failures - 1, 16));
        const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
        const cause = this.stats.removed !== '' ? 'removed' : causeOf(e);
        if (cause !== lastCause) {
          lastCause = cause;
          this.log('warn', CAUSE_MESSAGE[cause], { pool: this.opts.pool, error: this.stats.lastError, code: codeOf(e), retryInMs: delay });
        } else if ((failures & (failures - 1)) === 0) {
          this.log('warn', 'still failing; backing off', { pool: this.opts.pool, cause, code: codeOf(e), attempts: failures, retryInMs: delay });
        }
        await sleep(delay, undefined, { signal }).catch(() => {});
      }
    }
  }

  /** A stream delivered something: the control plane is back, the backoff starts over. */
  private healthy(): void {
    this.stats.failures = 0;
  }

  /**
   * This node no longer serves its pool: takes every peer off the device (revoked clients must
   * not keep access through a node that can no longer learn of revocations), forgets the
   * desired state (not ready; the reconcile has nothing to restore) and logs the reason once.
   * The device keeps its key and port; the agent keeps retrying with backoff and serves again
   * if a snapshot succeeds.
   */
  private retire(reason: string, fields: Record<string, unknown> = {}): Promise<void> {
    return this.serialized(async () => {
      this.desired = null;
      this.stats.removed = reason;
      let removed = 0;
      try {
        const keys = new Set([...this.applied.keys(), ...(await this.opts.device.state()).peers.keys()]);
        const ops: PeerOp[] = [...keys].map((publicKey) => ({ op: 'remove', publicKey }));
        if (ops.length > 0) await this.applyOps(ops);
        removed = ops.length;
        this.applied = new Map();
        this.lastPeerStates = new Map();
      } catch (e) {
        this.log('error', 'node removed but its peers could not be taken off the device', { pool: this.opts.pool, error: e instanceof Error ? e.message : String(e) });
      }
      this.refreshCounts();
      this.log('error', `no longer serving pool ${this.opts.pool}: ${reason}; its peers were removed from the device`, { pool: this.opts.pool, node: this.opts.node, peersRemoved: removed, ...fields });
    });
  }

  /** Snapshot + configure + full reconcile. Never flushes: the diff keeps running tunnels. */
  private async resync(): Promise<void> {
    const snap = await this.opts.source.snapshot(this.opts.pool);
    this.stats.snapshots++;
    const privateKey = await this.opts.source.privateKey(this.opts.pool);
    await this.serialized(async () => {
      // ONE read of the device: its key and port tell whether it needs configuring (a restarted
      // agent on a configured device does not), its peers are what the diff runs against.
      // The device form of every peer is computed (and cached) while the device writes its answer.
      const reading = this.readDevice();
      reading.catch(() => {}); // awaited below; a failure must not count as unhandled meanwhile
      await new Promise((r) => setImmediate(r)); // lets the request reach the socket first
      const desired = DesiredState.fromSnapshot(snap);
      desired.forEachSpec(this.now(), () => {});
      const device = await reading;
      const wantKey = toBase64(publicKeyOf(parseKey(privateKey, 'pool private key')));
      if (device.publicKey !== wantKey || (snap.pool.listenPort !== 0 && device.listenPort !== snap.pool.listenPort)) {
        await this.opts.device.configure({ privateKey, listenPort: snap.pool.listenPort }).catch((e: unknown) => this.deviceFailed(e));
      }
      this.deviceKey = wantKey;
      this.pool = snap.pool;
      const self = snap.nodes.find((n) => n.name === this.opts.node);
      this.nodeAdmin = self?.adminState ?? null;
      this.nodePolicy = self?.announcePolicy;
      await this.opts.onConfigured?.(snap.pool);
      this.desired = desired;
      if (this.stats.removed !== '') this.log('info', 'serving the pool again', { pool: this.opts.pool });
      this.stats.removed = '';
      this.stats.controlPlaneRevision = Math.max(this.stats.controlPlaneRevision, snap.revision);
      await this.repair(device.peers, true);
    });
    this.stats.appliedRevision = snap.revision;
    this.log('info', 'synced from snapshot', { pool: this.opts.pool, revision: snap.revision, peers: snap.peers.length });
  }

  private async onChanges(changes: readonly PoolChange[]): Promise<void> {
    this.healthy();
    await this.serialized(async () => {
      const desired = this.desired;
      if (!desired) return;
      const poolChange = changes.find((c) => c.type === 'pool.put');
      if (poolChange && poolChange.type === 'pool.put') this.pool = poolChange.pool;
      for (const c of changes) {
        if (c.type !== 'node.put' || c.node.name !== this.opts.node) continue;
        this.nodeAdmin = c.node.adminState;
        this.nodePolicy = c.node.announcePolicy;
      }
      if (poolChange && poolChange.type === 'pool.put' && poolChange.pool.publicKey !== this.deviceKey) {
        // Pool key rotated: take the new key with a full resync on the next loop turn.
        this.desired = null;
        throw new Error('pool key changed; resyncing');
      }
      const touched = desired.apply(changes);
      const ops = diffPeers(desired.specsFor(touched, this.now()), this.applied, touched);
      if (ops.length > 0) {
        await this.applyOps(ops);
        const applied = this.ownApplied();
        for (const o of ops) o.op === 'remove' ? applied.delete(o.publicKey) : applied.set(o.spec.publicKey, o.spec);
        this.stats.incrementalOps += ops.length;
      }
      this.stats.appliedRevision = desired.revision;
      this.stats.controlPlaneRevision = Math.max(this.stats.controlPlaneRevision, desired.revision);
      this.refreshCounts();
      this.scheduleExpiry();
    });
    const gone = changes.find((c) => c.type === 'pool.delete') ?? changes.find((c) => c.type === 'node.delete' && c.name === this.opts.node);
    if (gone) {
      const reason = gone.type === 'pool.delete' ? `pool ${this.opts.pool} was deleted` : `node ${this.opts.node} was removed from pool ${this.opts.pool}`;
      await this.retire(reason, { revision: gone.revision });
      throw new Removed(reason);
    }
  }

  private onHeartbeat(revision: number): void {
    this.healthy();
    this.stats.controlPlaneRevision = Math.max(this.stats.controlPlaneRevision, revision);
    // Nothing for this pool happened up to `revision`: we are applied up to it.
    void this.serialized(async () => {
      this.desired?.advanceTo(revision);
      if (this.desired) this.stats.appliedRevision = this.desired.revision;
    });
  }

  private async applyOps(ops: PeerOp[]): Promise<void> {
    try {
      await this.opts.device.apply(ops);
      this.stats.setOperations++;
      this.stats.deviceUp = true;
    } catch (e) {
      this.stats.deviceUp = false;
      this.stats.lastError = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  /** The applied set, made the agent's own (copied from the last device read) before it is changed. */
  private ownApplied(): Map<string, DevicePeerSpec> {
    if (this.applied === this.lastPeerStates) this.applied = new Map(this.applied);
    return this.applied;
  }

  private refreshCounts(): void {
    this.stats.peersDesired = this.desired ? this.desired.servedCount(this.now()) : 0;
    this.stats.peersApplied = this.applied.size;
  }

  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const next = this.desired?.nextExpiry(this.now());
    if (!next) return;
    const delay = Math.min(Math.max(0, next.getTime() - this.now().getTime()) + 50, 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => void this.reconcile().catch(() => {}), delay);
  }

  /**
   * A device that lost its key is a restarted one (wireguard-go came back as a fresh TUN with
   * no key, no port, no address, no peers): configure it again from the control plane (the
   * key is fetched, never kept) and run onConfigured; the caller's diff then restores every
   * peer. Throws when the device cannot be read or the control plane cannot be reached.
   */
  private async ensureConfigured(key: string | null): Promise<void> {
    if (key !== null && key === this.deviceKey) return;
    const pool = this.pool!;
    this.log('warn', 'the device lost its configuration (restarted?); configuring it again', { pool: this.opts.pool, device: this.opts.device.name });
    const privateKey = await this.opts.source.privateKey(this.opts.pool).catch((e: unknown) => {
      throw new Error(`the device lost its configuration and the pool key cannot be read: ${e instanceof Error ? e.message : String(e)}`);
    });
    await this.opts.device.configure({ privateKey, listenPort: pool.listenPort });
    this.deviceKey = await this.opts.device.publicKey();
    await this.opts.onConfigured?.(pool);
    this.stats.deviceReconfigures++;
  }

  /**
   * Before each status report: a cheap look at the device (its key only, not its peers), so a vanished or restarted device
   * shows in the next report (and is repaired) instead of at the next full reconcile.
   */
  private async checkDevice(): Promise<void> {
    if (!this.desired) return;
    let key: string | null;
    try {
      key = await this.opts.device.publicKey();
    } catch (e) {
      this.stats.deviceUp = false;
      this.stats.lastError = e instanceof Error ? e.message : String(e);
      return;
    }
    if (key === null || key !== this.deviceKey || !this.stats.deviceUp) await this.reconcile().catch(() => {});
  }

  /** The status report sent to the control plane. */
  status(): NodeStatus {
    const s = this.stats;
    return {
      reportedAt: this.now().toISOString(), appliedRevision: s.appliedRevision, peersDesired: s.peersDesired, peersApplied: s.peersApplied,
      lastReconcileAt: s.lastReconcileAt?.toISOString() ?? null, driftRepairs: s.driftRepairs, ready: this.ready,
      ...(this.opts.announceReport ? { announce: this.opts.announceReport() } : {}),
      ...(this.opts.host ? { dsr: this.opts.host.report() } : {}),
      message: s.removed !== '' ? `not serving: ${s.removed}` : !s.deviceUp ? `device problem: ${s.lastError}`
        : this.opts.host && !this.opts.host.ok ? `direct server return VIPs not in place: ${this.opts.host.report().error ?? 'not checked yet'}`.slice(0, 512)
        : s.connected ? 'in sync' : 'control plane unreachable; serving last state',
    };
  }

  private async report(): Promise<void> {
    await this.checkDevice();
    try {
      await this.opts.source.reportStatus(this.opts.pool, this.opts.node, this.status());
    } catch {
      // fail static: a missing report is visible on the control plane as a stale reportedAt
    }
  }

  /** Runs device work one at a time so incremental changes and reconciles never interleave. */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }
}

function summarize(ops: readonly PeerOp[]): { upserts: number; removes: number } {
  const removes = ops.filter((o) => o.op === 'remove').length;
  return { upserts: ops.length - removes, removes };
}

/** Ends the follow once this node's pool or node was deleted (already logged and applied). */
class Removed extends Error {}

/** Answers that mean "this node may no longer follow the pool", not "try again". */
function isRefusal(e: unknown): e is FabricError {
  return isFabricError(e, 'WGF_ERR_UNAUTHORIZED') || isFabricError(e, 'WGF_ERR_FORBIDDEN') || isFabricError(e, 'WGF_ERR_NOT_FOUND');
}

type Cause = 'removed' | 'device' | 'unreachable' | 'other';
const CAUSE_MESSAGE: Record<Cause, string> = {
  removed: 'not serving the pool; retrying with backoff',
  device: 'the WireGuard device cannot be reached or refused an operation; retrying',
  unreachable: 'control plane unreachable; device keeps its last state',
  other: 'following the control plane failed; retrying',
};

function causeOf(e: unknown): Cause {
  if (isFabricError(e, 'WGF_ERR_DEVICE_UNAVAILABLE') || isFabricError(e, 'WGF_ERR_UAPI')) return 'device';
  if (isFabricError(e, 'WGF_ERR_UNAVAILABLE') || isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE')) return 'unreachable';
  return 'other';
}

function codeOf(e: unknown): string | undefined {
  return e instanceof FabricError ? e.code : undefined;
}
