import type { Peer, PoolChange, PoolSnapshot } from '../protocol/types.js';
import { normalizeCidr } from '../wg/addr.js';

/** What one peer should look like on a backend's WireGuard device. */
export interface DevicePeerSpec {
  /** Canonical base64 public key. */
  readonly publicKey: string;
  /** Sorted, canonical CIDRs: the peer's tunnel addresses plus its extra AllowedIPs. */
  readonly allowedIps: readonly string[];
  /** Canonical base64 preshared key; absent = none. A secret: never logged. */
  readonly presharedKey?: string;
}

/** A peer is on the device when it is enabled and not expired at `now`. */
export function isServed(peer: Peer, now: Date): boolean {
  return served(peer, now.getTime());
}

function served(peer: Peer, nowMs: number): boolean {
  return peer.enabled && (peer.expiresAt === null || Date.parse(peer.expiresAt) > nowMs);
}

/** One peer version and its device form, computed on first use. */
interface Entry {
  readonly peer: Peer;
  spec: DevicePeerSpec | null;
}

let specsComputed = 0;

/** How many times specOf ran in this process (the agent computes each peer version's spec once). */
export function specComputations(): number {
  return specsComputed;
}

/** The device form of a peer; CIDRs printed as wireguard-go prints them, so diffs compare equal. */
export function specOf(peer: Peer): DevicePeerSpec {
  specsComputed++;
  const n = peer.addresses.length + peer.allowedIps.length;
  let allowedIps: readonly string[];
  if (n <= 2) {
    // The usual peer (one IPv4 and one IPv6 address): no intermediate arrays, no Set.
    const all = peer.allowedIps.length === 0 ? peer.addresses : [...peer.addresses, ...peer.allowedIps];
    const a = all[0] === undefined ? undefined : normalizeCidr(all[0]) ?? all[0];
    const b = all[1] === undefined ? undefined : normalizeCidr(all[1]) ?? all[1];
    // Already canonical and sorted (what a control plane stores): the peer's own array, shared.
    if (a === all[0] && (all.length === 1 || (b === all[1] && a! < b!))) allowedIps = all;
    else allowedIps = a === undefined ? [] : b === undefined || a === b ? [a] : a < b ? [a, b] : [b, a];
  } else {
    const ips = [...peer.addresses, ...peer.allowedIps].map((c) => normalizeCidr(c) ?? c);
    allowedIps = [...new Set(ips)].sort();
  }
  // One object literal per branch (no spread): both shapes are built directly.
  return peer.presharedKey ? { publicKey: peer.publicKey, allowedIps, presharedKey: peer.presharedKey } : { publicKey: peer.publicKey, allowedIps };
}

/**
 * The desired state of one pool as an agent follows it: a snapshot, then whole revisions
 * applied in order. Pure; the agent's I/O shell feeds it. A batch is filtered by the revision
 * the state had when the batch arrived (never inside a batch: one revision may carry many
 * changes, e.g. a forced pool delete or a batch of peers), so replaying revisions already
 * applied after a reconnect is harmless and every change of a new revision is applied.
 */
export class DesiredState {
  /**
   * The peers by name, each with the device form of that peer version, computed once when first
   * asked for (a peer is replaced by a new entry, never changed in place). A plain field rather
   * than a WeakMap from peer to spec: 65k weak entries cost the garbage collector more than the
   * specs themselves.
   */
  private readonly peers = new Map<string, Entry>();
  /** The same entries by public key, kept with `peers` (a change touches one entry, not a rebuild). */
  private readonly byKey = new Map<string, Entry>();
  private rev = 0;
  private deleted = false;

  static fromSnapshot(snapshot: PoolSnapshot): DesiredState {
    const s = new DesiredState();
    for (const p of snapshot.peers) s.put(p);
    s.rev = snapshot.revision;
    return s;
  }

  get revision(): number {
    return this.rev;
  }

  /** True once a pool.delete was applied: the pool is gone and so are all its peers. */
  get poolDeleted(): boolean {
    return this.deleted;
  }

  /**
   * Applies one or more whole revisions (in revision order); returns the public keys whose
   * device state may have changed (added, updated or removed), for an incremental update.
   */
  apply(changes: readonly PoolChange[]): Set<string> {
    const touched = new Set<string>();
    const from = this.rev;
    for (const c of changes) {
      if (c.revision <= from) continue;
      if (c.type === 'peer.put') {
        const old = this.peers.get(c.peer.name)?.peer;
        if (old) touched.add(old.publicKey);
        this.put(c.peer);
        touched.add(c.peer.publicKey);
      } else if (c.type === 'peer.delete') {
        const old = this.peers.get(c.name)?.peer;
        if (old) touched.add(old.publicKey);
        else touched.add(c.publicKey);
        if (old) this.remove(old);
      } else if (c.type === 'pool.delete') {
        // Every peer goes with the pool, also one whose own delete event were missing.
        for (const e of this.peers.values()) touched.add(e.peer.publicKey);
        this.peers.clear();
        this.byKey.clear();
        this.deleted = true;
      }
      if (c.revision > this.rev) this.rev = c.revision;
    }
    return touched;
  }

  private put(peer: Peer): void {
    const old = this.peers.get(peer.name);
    if (old) this.remove(old.peer);
    const e: Entry = { peer, spec: null };
    this.peers.set(peer.name, e);
    this.byKey.set(peer.publicKey, e);
  }

  private remove(peer: Peer): void {
    this.peers.delete(peer.name);
    if (this.byKey.get(peer.publicKey)?.peer === peer) this.byKey.delete(peer.publicKey);
  }

  /** Moves the revision forward without changes (heartbeat carrying the store revision). */
  advanceTo(revision: number): void {
    if (revision > this.rev) this.rev = revision;
  }

  /** All peers that should be on the device at `now`, keyed by public key. */
  deviceSpec(now: Date): Map<string, DevicePeerSpec> {
    const out = new Map<string, DevicePeerSpec>();
    const t = now.getTime();
    for (const e of this.peers.values()) if (served(e.peer, t)) out.set(e.peer.publicKey, e.spec ??= specOf(e.peer));
    return out;
  }

  /**
   * Calls `fn` with the device form of every peer that should be on the device at `now` (what
   * deviceSpec lists, in the same order), without building a map of them; returns how many.
   */
  forEachSpec(now: Date, fn: (spec: DevicePeerSpec) => void): number {
    const t = now.getTime();
    let n = 0;
    for (const e of this.peers.values()) {
      if (!served(e.peer, t)) continue;
      fn(e.spec ??= specOf(e.peer));
      n++;
    }
    return n;
  }

  /** Whether the peer with this public key should be on the device at `now`. */
  serves(publicKey: string, now: Date): boolean {
    const e = this.byKey.get(publicKey);
    return e !== undefined && isServed(e.peer, now);
  }

  /** Peer names by public key (for labels such as metrics' friendly_name). */
  namesByKey(): Map<string, string> {
    const out = new Map<string, string>();
    for (const { peer } of this.peers.values()) out.set(peer.publicKey, peer.name);
    return out;
  }

  /** Number of peers that should be on the device at `now` (cheap: no spec is built). */
  servedCount(now: Date): number {
    let n = 0;
    const t = now.getTime();
    for (const e of this.peers.values()) if (served(e.peer, t)) n++;
    return n;
  }

  /** Specs for the given keys only (undefined = should not be on the device). */
  specsFor(keys: Iterable<string>, now: Date): Map<string, DevicePeerSpec | undefined> {
    const out = new Map<string, DevicePeerSpec | undefined>();
    for (const k of keys) {
      const e = this.byKey.get(k);
      out.set(k, e && isServed(e.peer, now) ? (e.spec ??= specOf(e.peer)) : undefined);
    }
    return out;
  }

  /** Earliest future expiry, so the agent can wake up and remove the peer on time. */
  nextExpiry(now: Date): Date | null {
    let best: number | null = null;
    for (const { peer: p } of this.peers.values()) {
      if (!p.enabled || p.expiresAt === null) continue;
      const t = Date.parse(p.expiresAt);
      if (t > now.getTime() && (best === null || t < best)) best = t;
    }
    return best === null ? null : new Date(best);
  }

  get size(): number {
    return this.peers.size;
  }
}
