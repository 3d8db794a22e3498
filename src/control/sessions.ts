import { CONNECTED_WINDOW_SECONDS, endpointAddress, type PeerSession, type SessionEntry, type SessionReportInput, type SessionReportResult, type SessionSummary } from '../protocol/sessions.js';

/**
 * The control plane's view of who is connected where: every node's last session report, held
 * in this process's memory (runtime state: never in the revisioned store, the change stream or
 * the audit log). Pure (time comes in as arguments); the HTTP routes are its only shell.
 *
 * - Reports are deltas on a chain (protocol/sessions.ts): a `reset` report replaces the node's
 *   table, a delta applies on top of its predecessor; a gap answers `resync`.
 * - A peer's session is the node with the most recent handshake; recomputed for a key each
 *   time an entry of that key changes, so reads are O(1) per peer.
 * - Endpoint changes: each time the session's endpoint address (IP) differs from the last one
 *   seen for the peer, on any node, the peer's count and the pool's total go up by one.
 *
 * With several replicas each holds its own registry; agents send every report to every
 * replica (agent/session-reporter.ts), so all hold the same view (README).
 */

interface Held {
  readonly lastHandshake: number | null;
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly endpoint: string | null;
  /** ms: when the report carrying this entry arrived. */
  readonly at: number;
}

interface NodeTable {
  epoch: string;
  seq: number;
  /** ms of the last accepted report. */
  reportedAt: number;
  readonly entries: Map<string, Held>;
}

interface PeerAgg {
  /** Node holding the session (most recent handshake; any entry when none has one); null: no node has an entry. */
  best: string | null;
  endpointChanges: number;
  /** Address part of the last endpoint seen as the session's, and the handshake it came with. */
  lastAddress: string | null;
  lastAddressHandshake: number;
}

interface PoolState {
  readonly nodes: Map<string, NodeTable>;
  readonly peers: Map<string, PeerAgg>;
  endpointChanges: number;
}

export class SessionRegistry {
  private readonly pools = new Map<string, PoolState>();
  /** Every endpoint change counted by this replica, all pools (the metric). */
  endpointChangesTotal = 0;
  /** Reports accepted and refused (resync) so far, for metrics. */
  reportsAccepted = 0;
  reportsResync = 0;

  /** Applies one node's report (the caller checked that pool and node exist). */
  apply(pool: string, node: string, r: SessionReportInput, nowMs: number): SessionReportResult {
    const ps = this.pool(pool);
    let t = ps.nodes.get(node);
    const repeat = t !== undefined && t.epoch === r.epoch && t.seq === r.seq;
    if (repeat) return { accepted: true, resync: false, peers: t!.entries.size };
    if (!r.reset && (t === undefined || t.epoch !== r.epoch || r.seq !== t.seq + 1)) {
      this.reportsResync++;
      return { accepted: false, resync: true, peers: t?.entries.size ?? 0 };
    }
    if (t === undefined) {
      t = { epoch: r.epoch, seq: r.seq, reportedAt: nowMs, entries: new Map() };
      ps.nodes.set(node, t);
    }
    const touched = new Set<string>();
    if (r.reset) {
      for (const k of t.entries.keys()) touched.add(k);
      t.entries.clear();
      t.epoch = r.epoch;
    }
    t.seq = r.seq;
    t.reportedAt = nowMs;
    for (const k of r.removed) {
      if (t.entries.delete(k)) touched.add(k);
    }
    for (const e of r.peers) {
      t.entries.set(e.publicKey, held(e, nowMs));
      touched.add(e.publicKey);
    }
    for (const k of touched) this.remerge(ps, k);
    this.reportsAccepted++;
    return { accepted: true, resync: false, peers: t.entries.size };
  }

  /** The peer's merged session, or null when no node reported one. */
  session(pool: string, publicKey: string, nowMs: number): PeerSession | null {
    const ps = this.pools.get(pool);
    const agg = ps?.peers.get(publicKey);
    if (!ps || !agg || agg.best === null) return null;
    const h = ps.nodes.get(agg.best)?.entries.get(publicKey);
    if (!h) return null;
    const age = h.lastHandshake === null ? null : Math.max(0, Math.floor(nowMs / 1000) - h.lastHandshake);
    return {
      node: agg.best,
      lastHandshakeAt: h.lastHandshake === null ? null : new Date(h.lastHandshake * 1000).toISOString(),
      handshakeAgeSeconds: age,
      connected: age !== null && age < CONNECTED_WINDOW_SECONDS,
      endpoint: h.endpoint, rxBytes: h.rxBytes, txBytes: h.txBytes,
      endpointChanges: agg.endpointChanges,
      reportedAt: new Date(h.at).toISOString(),
    };
  }

  /** Whether the peer has a live session now (connected filter). */
  connected(pool: string, publicKey: string, nowMs: number): boolean {
    return this.session(pool, publicKey, nowMs)?.connected ?? false;
  }

  /** Fleet summary: per pool and node, connected sessions and traffic. */
  summary(nowMs: number, onlyPool?: string): SessionSummary {
    const pools: SessionSummary['pools'] = [];
    let connected = 0;
    let changes = 0;
    for (const [name, ps] of [...this.pools].sort(([a], [b]) => a.localeCompare(b))) {
      if (onlyPool !== undefined && name !== onlyPool) continue;
      const perNode = new Map<string, { connected: number; entries: number; rxBytes: number; txBytes: number; reportedAt: string | null }>();
      for (const [node, t] of ps.nodes) {
        let rx = 0;
        let tx = 0;
        for (const h of t.entries.values()) {
          rx += h.rxBytes;
          tx += h.txBytes;
        }
        perNode.set(node, { connected: 0, entries: t.entries.size, rxBytes: rx, txBytes: tx, reportedAt: new Date(t.reportedAt).toISOString() });
      }
      let poolConnected = 0;
      for (const k of ps.peers.keys()) {
        const s = this.session(name, k, nowMs);
        if (!s?.connected) continue;
        poolConnected++;
        const n = perNode.get(s.node);
        if (n) n.connected++;
      }
      connected += poolConnected;
      changes += ps.endpointChanges;
      pools.push({
        pool: name, connected: poolConnected, endpointChanges: ps.endpointChanges,
        nodes: [...perNode].sort(([a], [b]) => a.localeCompare(b)).map(([node, n]) => ({ node, ...n })),
      });
    }
    return { generatedAt: new Date(nowMs).toISOString(), connected, endpointChanges: changes, pools };
  }

  /** Entries held (all pools and nodes), and peers tracked: the registry's size. */
  size(): { entries: number; peers: number; nodes: number } {
    let entries = 0;
    let peers = 0;
    let nodes = 0;
    for (const ps of this.pools.values()) {
      peers += ps.peers.size;
      nodes += ps.nodes.size;
      for (const t of ps.nodes.values()) entries += t.entries.size;
    }
    return { entries, peers, nodes };
  }

  /** Drops node tables not reported for `maxAgeMs` (a node that is gone), and whole pools left empty. */
  expire(nowMs: number, maxAgeMs: number): void {
    for (const [name, ps] of this.pools) {
      for (const [node, t] of ps.nodes) {
        if (nowMs - t.reportedAt <= maxAgeMs) continue;
        ps.nodes.delete(node);
        for (const k of t.entries.keys()) this.remerge(ps, k);
      }
      for (const [k, agg] of ps.peers) if (agg.best === null) ps.peers.delete(k);
      if (ps.nodes.size === 0) this.pools.delete(name);
    }
  }

  private pool(name: string): PoolState {
    let ps = this.pools.get(name);
    if (!ps) {
      ps = { nodes: new Map(), peers: new Map(), endpointChanges: 0 };
      this.pools.set(name, ps);
    }
    return ps;
  }

  /** Recomputes which node holds the key's session, and counts an endpoint address change. */
  private remerge(ps: PoolState, key: string): void {
    let bestNode: string | null = null;
    let best: Held | null = null;
    for (const [node, t] of ps.nodes) {
      const h = t.entries.get(key);
      if (!h) continue;
      if (best === null || (h.lastHandshake ?? -1) > (best.lastHandshake ?? -1) || ((h.lastHandshake ?? -1) === (best.lastHandshake ?? -1) && node < bestNode!)) {
        best = h;
        bestNode = node;
      }
    }
    let agg = ps.peers.get(key);
    if (best === null || bestNode === null) {
      // Kept (with its endpoint-change count) until expire(): a reset report clears a table
      // before the next reports of its chain fill it again.
      if (agg) agg.best = null;
      return;
    }
    if (!agg) {
      agg = { best: bestNode, endpointChanges: 0, lastAddress: null, lastAddressHandshake: -1 };
      ps.peers.set(key, agg);
    }
    agg.best = bestNode;
    // Only evidence at least as new as the last counted endpoint counts: when a node's table is
    // reset, the session may fall back for a moment to another node's older entry, and that
    // stale endpoint is no roaming. (Roaming keeps the handshake: equal times count.)
    const hs = best.lastHandshake ?? -1;
    if (best.endpoint !== null && hs >= agg.lastAddressHandshake) {
      const addr = endpointAddress(best.endpoint);
      if (agg.lastAddress !== null && agg.lastAddress !== addr) {
        agg.endpointChanges++;
        ps.endpointChanges++;
        this.endpointChangesTotal++;
      }
      agg.lastAddress = addr;
      agg.lastAddressHandshake = hs;
    }
  }
}

function held(e: SessionEntry, at: number): Held {
  return { lastHandshake: e.lastHandshake, rxBytes: e.rxBytes, txBytes: e.txBytes, endpoint: e.endpoint, at };
}
