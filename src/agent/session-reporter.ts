import { randomBytes } from 'node:crypto';
import { MAX_SESSION_ENTRIES, type SessionEntry, type SessionReportInput, type SessionReportResult } from '../protocol/sessions.js';
import { endpointAddress } from '../protocol/sessions.js';
import type { LogFn } from './agent.js';
import type { DevicePeerState } from './device.js';

/**
 * Per-peer session reports (protocol/sessions.ts): every interval the agent reads its device's
 * peers and sends each control-plane replica only what changed since the last report that
 * replica acknowledged. Peers without a handshake on this node are not reported.
 *
 * Bounded cost: a new handshake, a new endpoint, a peer added or removed go out at the next
 * report; a change of byte counters alone at most every `bytesIntervalMs` per peer, so an
 * active peer costs about one entry per bytes interval, an idle one nothing.
 */

/** One control-plane replica the reports go to. */
export interface SessionTarget {
  /** The replica's URL (for logs). */
  readonly name: string;
  send(report: SessionReportInput): Promise<SessionReportResult>;
}

/** What was last sent for a peer, and when its byte counters last went out. */
interface Sent {
  readonly entry: SessionEntry;
  readonly bytesAt: number;
}

/** A replica's chain: the next seq, what it holds, and whether it must start over. */
interface Chain {
  seq: number;
  sent: Map<string, Sent>;
  reset: boolean;
  /** Last failure logged for it ('' after a success), so failures are logged once per cause. */
  lastError: string;
}

/** The device's peers as session entries (only peers with a handshake on this node). */
export function sessionEntries(peers: ReadonlyMap<string, DevicePeerState>): Map<string, SessionEntry> {
  const out = new Map<string, SessionEntry>();
  for (const [publicKey, p] of peers) {
    if (p.lastHandshakeMs === null) continue;
    out.set(publicKey, { publicKey, lastHandshake: Math.floor(p.lastHandshakeMs / 1000), rxBytes: p.rxBytes, txBytes: p.txBytes, endpoint: p.endpoint });
  }
  return out;
}

/**
 * What to send a replica that holds `sent`: entries whose handshake or endpoint changed (or
 * that are new) always, entries whose bytes alone changed once `bytesIntervalMs` passed since
 * their bytes last went out; keys gone from the device as removals. Pure.
 */
export function sessionDelta(sent: ReadonlyMap<string, Sent>, cur: ReadonlyMap<string, SessionEntry>, nowMs: number, bytesIntervalMs: number): { peers: SessionEntry[]; removed: string[] } {
  const peers: SessionEntry[] = [];
  const removed: string[] = [];
  for (const [k, e] of cur) {
    const s = sent.get(k);
    if (s === undefined || s.entry.lastHandshake !== e.lastHandshake || s.entry.endpoint !== e.endpoint) peers.push(e);
    else if ((s.entry.rxBytes !== e.rxBytes || s.entry.txBytes !== e.txBytes) && nowMs - s.bytesAt >= bytesIntervalMs) peers.push(e);
  }
  for (const k of sent.keys()) if (!cur.has(k)) removed.push(k);
  return { peers, removed };
}

/** Splits a change set into reports of at most MAX_SESSION_ENTRIES items (peers + removals). */
export function chunkReport(peers: readonly SessionEntry[], removed: readonly string[], max = MAX_SESSION_ENTRIES): { peers: SessionEntry[]; removed: string[] }[] {
  const out: { peers: SessionEntry[]; removed: string[] }[] = [];
  let i = 0;
  let j = 0;
  do {
    const p = peers.slice(i, i + max);
    i += p.length;
    const r = removed.slice(j, j + (max - p.length));
    j += r.length;
    out.push({ peers: p, removed: r });
  } while (i < peers.length || j < removed.length);
  return out;
}

export interface SessionReporterOptions {
  readonly pool: string;
  readonly node: string;
  /** Reads the device's peers (one full read). */
  readonly read: () => Promise<ReadonlyMap<string, DevicePeerState>>;
  readonly targets: readonly SessionTarget[];
  /** Report period (default 10 s). */
  readonly intervalMs?: number;
  /** Least time between two reports of a peer whose bytes alone changed (default 60 s). */
  readonly bytesIntervalMs?: number;
  readonly log?: LogFn;
  readonly now?: () => number;
}

/** Figures of the reporter (agent metrics). */
export interface SessionReporterStats {
  reports: number;
  entriesSent: number;
  bytesSent: number;
  resyncs: number;
  failures: number;
  /** Endpoint address changes seen on this node's device (all peers). */
  endpointChanges: number;
}

/** Sends session reports to every replica on its own chain; see the file comment. */
export class SessionReporter {
  readonly stats: SessionReporterStats = { reports: 0, entriesSent: 0, bytesSent: 0, resyncs: 0, failures: 0, endpointChanges: 0 };
  /** Endpoint address changes per peer seen here (for --peer-metrics); peers gone from the device are dropped. */
  readonly endpointChangesByPeer = new Map<string, number>();
  private readonly lastAddress = new Map<string, string>();
  /** A new chain per agent process: a replica holding an older one answers resync to the first delta. */
  readonly epoch = randomBytes(12).toString('base64url');
  private readonly chains: Chain[];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly log: LogFn;

  constructor(private readonly opts: SessionReporterOptions) {
    this.chains = opts.targets.map(() => ({ seq: 0, sent: new Map(), reset: true, lastError: '' }));
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => {});
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.tick().finally(() => { this.running = null; });
    }, this.opts.intervalMs ?? 10_000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round: read the device once, send each replica its delta. A device that cannot be read skips the round. */
  async tick(): Promise<void> {
    let cur: Map<string, SessionEntry>;
    try {
      cur = sessionEntries(await this.opts.read());
    } catch {
      return; // the status report says the device is in trouble
    }
    this.countEndpointChanges(cur);
    await Promise.all(this.opts.targets.map((t, i) => this.sendTo(t, this.chains[i]!, cur)));
  }

  /** Counts peers whose endpoint address (not port: NAT rebinding) differs from the last read. */
  private countEndpointChanges(cur: ReadonlyMap<string, SessionEntry>): void {
    for (const [k, e] of cur) {
      if (e.endpoint === null) continue;
      const addr = endpointAddress(e.endpoint);
      const last = this.lastAddress.get(k);
      if (last !== undefined && last !== addr) {
        this.stats.endpointChanges++;
        this.endpointChangesByPeer.set(k, (this.endpointChangesByPeer.get(k) ?? 0) + 1);
      }
      this.lastAddress.set(k, addr);
    }
    for (const k of this.lastAddress.keys()) {
      if (cur.has(k)) continue;
      this.lastAddress.delete(k);
      this.endpointChangesByPeer.delete(k);
    }
  }

  private async sendTo(target: SessionTarget, chain: Chain, cur: Map<string, SessionEntry>): Promise<void> {
    const now = this.now();
    const bytesInterval = this.opts.bytesIntervalMs ?? 60_000;
    const reset = chain.reset;
    const delta = reset ? { peers: [...cur.values()], removed: [] } : sessionDelta(chain.sent, cur, now, bytesInterval);
    // An empty delta still goes out: it says the node is reporting, and a replica that
    // restarted answers resync within one interval instead of at the next change.
    const chunks = chunkReport(delta.peers, delta.removed);
    try {
      for (let c = 0; c < chunks.length; c++) {
        const report: SessionReportInput = { epoch: this.epoch, seq: chain.seq + 1, reset: reset && c === 0, ...chunks[c]! };
        const res = await target.send(report);
        this.stats.reports++;
        this.stats.entriesSent += report.peers.length + report.removed.length;
        this.stats.bytesSent += Buffer.byteLength(JSON.stringify(report));
        if (res.resync) {
          this.stats.resyncs++;
          chain.reset = true;
          chain.sent = new Map();
          return; // the next round starts a new chain on this replica
        }
        chain.seq = report.seq;
        if (report.reset) chain.sent = new Map();
        for (const e of report.peers) {
          const old = chain.sent.get(e.publicKey);
          const bytesMoved = old === undefined || old.entry.rxBytes !== e.rxBytes || old.entry.txBytes !== e.txBytes;
          chain.sent.set(e.publicKey, { entry: e, bytesAt: bytesMoved ? now : old.bytesAt });
        }
        for (const k of report.removed) chain.sent.delete(k);
      }
      chain.reset = false;
      if (chain.lastError !== '') this.log('info', 'session reports delivered again', { pool: this.opts.pool, server: target.name });
      chain.lastError = '';
    } catch (e) {
      // The replica may or may not have applied the last report: start over there.
      this.stats.failures++;
      chain.reset = true;
      const msg = e instanceof Error ? e.message : String(e);
      if (msg !== chain.lastError) this.log('warn', 'session report failed; the next one starts over', { pool: this.opts.pool, server: target.name, error: msg });
      chain.lastError = msg;
    }
  }
}
