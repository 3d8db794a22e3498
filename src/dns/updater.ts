/**
 * `wgfabric dns run`: keeps the A/AAAA records of one name equal to the pool's in-service
 * addresses (targets.ts) on an authoritative server, through TSIG-signed RFC 2136 updates.
 *
 * It runs centrally, not on the nodes, so a node that is gone entirely (agent included) still
 * leaves the name: its probes fail and its reports age. It follows the pool's nodes through
 * the control plane's change and readiness streams (src/follow/stream.ts, as the LB does;
 * `follow: 'poll'` reads them every pollMs instead, for servers without the readiness route),
 * LB reports by polling (they are in no stream), probes every node itself through its own probe peer
 * `dnsprobe-<instance>` (registered like the LB's), and after every change of the in-service
 * set (and every resyncMs, which also repairs hand edits of the zone) reads the name's records
 * from the server and sends the difference (plan.ts). While the control plane is unreachable
 * it keeps the last node list and goes on probing it, so dead nodes still leave the name.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ApiClient } from '../client/api-client.js';
import { FabricError, isFabricError } from '../protocol/errors.js';
import { formatIp, parseNet, serverAddress } from '../protocol/ipam.js';
import type { LbReport, Node, Peer, Pool } from '../protocol/types.js';
import { HealthChecker, wireguardProber, type CheckTarget, type Prober } from '../lb/checker.js';
import { DEFAULT_HEALTH_CONFIG, type HealthConfig, type HealthDecision } from '../lb/health.js';
import type { LbBackend } from '../lb/controller.js';
import type { LogFn } from '../sys/log.js';
import { generatePrivateKey, parseKey, publicKeyOf, toBase64, type Key } from '../wg/keys.js';
import { NO_ATTRIBUTES, type Announcer } from '../announce/announcer.js';
import { inServiceAddresses, lbAddresses, nodeTargets } from './targets.js';
import { PollSource } from '../follow/poll.js';
import type { FollowMode, PoolSource, PoolState } from '../follow/source.js';
import { StreamSource } from '../follow/stream.js';

export type DnsApi = Pick<ApiClient, 'getPool' | 'listNodes' | 'getPeer' | 'createPeer' | 'deletePeer' | 'listLbStatus' | 'watchPoolBatches' | 'watchReadiness'>;

export interface DnsUpdaterOptions {
  readonly api: DnsApi;
  /** The name's records (DnsAnnouncer in src/announce/dns.ts): announce() sets them to the in-service set. */
  readonly announcer: Announcer;
  readonly pool: string;
  /** Publish node endpoints (default) or the VIPs of the pool's LBs. */
  readonly source: 'nodes' | 'lbs';
  /** Probe the nodes over WireGuard (default true; source nodes only). */
  readonly probe: boolean;
  /** Names the probe peer dnsprobe-<instance>. */
  readonly instance: string;
  readonly keyFile?: string;
  readonly health?: HealthConfig;
  readonly readyMaxAgeMs: number;
  /** Source nodes: follow the pool through its streams (default) or poll it every pollMs. */
  readonly follow?: FollowMode;
  /** Polling interval: of the nodes with follow poll, of the LB reports with source lbs. */
  readonly pollMs: number;
  /** How often the zone is read back and repaired even without a change. */
  readonly resyncMs: number;
  /** follow stream: the safety-net re-read of the pool and its nodes (default 60 s). */
  readonly followResyncMs?: number;
  readonly log?: LogFn;
  /** Replaces the WireGuard prober (tests). */
  readonly prober?: Prober;
}

/** What the updater last did, for logs and tests. */
export interface DnsUpdaterStatus {
  readonly desired: readonly string[];
  readonly lastError: string | null;
}

const msgOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** An always-passing prober: with probes off, control-plane state alone decides. */
const noProbe: Prober = async () => ({ ok: true, rttMs: 0 });

export class DnsUpdater {
  private checker: HealthChecker | undefined;
  private source: PoolSource | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private desired: string[] = [];
  private syncing: Promise<void> | undefined;
  private dirty = false;
  private lastError: string | null = null;
  private keptLogged = false;
  private skippedLogged = '';
  private readonly log: LogFn;
  /** Syncs that reached the DNS server (each sends at most one update, only of a difference) and syncs that failed. */
  readonly stats = { syncs: 0, failures: 0 };

  constructor(private readonly o: DnsUpdaterOptions) {
    this.log = o.log ?? (() => {});
  }

  /** Reads the pool, registers the probe peer (source nodes), starts polling, probing and syncing. */
  async start(): Promise<void> {
    const pool = await this.o.api.getPool(this.o.pool);
    if (this.o.source === 'nodes') {
      let prober = this.o.prober ?? noProbe;
      if (this.o.probe && !this.o.prober) {
        const { key, peer } = await this.ensureProbePeer();
        prober = wireguardProber({ serverPublicKey: parseKey(pool.publicKey, 'pool public key'), privateKey: key, ping: pingOf(pool, peer), timeoutMs: (this.o.health ?? DEFAULT_HEALTH_CONFIG).timeoutMs });
      }
      this.checker = new HealthChecker({
        prober, health: this.o.health ?? DEFAULT_HEALTH_CONFIG,
        sink: { update: async (b, d) => this.onDecisions(b, d) },
        onDetection: (node, ms) => this.log('info', 'node failed its probes', { node, detectionMs: Math.round(ms) }),
        onError: (e) => this.log('warn', 'decision push failed', { error: msgOf(e) }),
      });
    }
    if (this.o.source === 'nodes') {
      const follow = this.o.follow ?? 'stream';
      const common = { api: this.o.api, pool: this.o.pool, readyMaxAgeMs: this.o.readyMaxAgeMs, onState: (st: PoolState) => this.onPoolState(st), log: this.log };
      this.source = follow === 'stream'
        ? new StreamSource({ ...common, ...(this.o.followResyncMs !== undefined ? { resyncMs: this.o.followResyncMs } : {}) })
        : new PollSource({ ...common, pollMs: this.o.pollMs });
      await this.source.start();
      this.checker?.start();
    } else {
      await this.pollLbs();
      const loop = (): void => {
        this.pollTimer = setTimeout(() => void this.pollLbs().finally(() => !this.stopped && loop()), this.o.pollMs);
      };
      loop();
    }
    const resync = (): void => {
      this.resyncTimer = setTimeout(() => { this.kick(); resync(); }, this.o.resyncMs);
    };
    resync();
    this.kick();
    this.log('info', 'dns updater started', { pool: this.o.pool, source: this.o.source, probe: this.o.source === 'nodes' && this.o.probe, follow: this.o.source === 'nodes' ? this.o.follow ?? 'stream' : 'poll' });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.source?.stop();
    clearTimeout(this.pollTimer);
    clearTimeout(this.resyncTimer);
    await this.checker?.stop();
    await this.syncing;
  }

  status(): DnsUpdaterStatus {
    return { desired: [...this.desired], lastError: this.lastError };
  }

  /** Resolves when no sync is running or pending. */
  async idle(): Promise<void> {
    while (this.syncing) await this.syncing;
  }

  private onDecisions(backends: readonly LbBackend[], decisions: ReadonlyMap<string, HealthDecision>): void {
    this.setDesired(inServiceAddresses(backends, decisions));
  }

  private setDesired(next: string[]): void {
    if (next.join(',') === this.desired.join(',')) return;
    this.log('info', 'in-service set changed', { from: this.desired, to: next });
    this.desired = next;
    this.kick();
  }

  /** Reads the LB reports; a failed read keeps the last known state. */
  private async pollLbs(): Promise<void> {
    try {
      const reports: LbReport[] = [];
      for await (const r of ApiClient.all((c) => this.o.api.listLbStatus(this.o.pool, { limit: 1000, ...(c ? { cursor: c } : {}) }))) reports.push(r);
      this.setDesired(lbAddresses(reports, Date.now(), this.o.readyMaxAgeMs));
    } catch (e) {
      this.log('warn', 'reading the control plane failed; keeping the last known state', { error: msgOf(e) });
    }
  }

  /**
   * A new view of the pool (a whole revision, or a readiness flip): the probe targets follow it
   * at once. The source keeps the last view while the control plane is gone, so the probes of
   * the last nodes go on and dead nodes still leave the name.
   */
  private onPoolState(st: PoolState): void {
    if (this.stopped) return;
    const { targets, skipped } = nodeTargets(st.nodes, Date.now(), this.o.readyMaxAgeMs, st.ready);
    if (skipped.join(',') !== this.skippedLogged) {
      this.skippedLogged = skipped.join(',');
      if (skipped.length) this.log('warn', 'nodes without an IP endpoint are not published', { nodes: skipped });
    }
    this.checker?.setTargets(targets as CheckTarget[]);
  }

  /** Runs a sync now, or once more after the running one. */
  private kick(): void {
    this.dirty = true;
    if (this.syncing || this.stopped) return;
    this.syncing = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        await this.sync();
      }
    })().finally(() => {
      this.syncing = undefined;
    });
  }

  /**
   * Announces the in-service set (the announcer reads the zone and sends only a difference).
   * Nothing in service: the published records stay (see the guard in src/dns/plan.ts): a name
   * pointing at nodes that may be dead beats a name that resolves to nothing.
   */
  private async sync(): Promise<void> {
    const desired = this.desired;
    if (desired.length === 0) {
      if (!this.keptLogged) this.log('warn', 'nothing is in service; keeping the published records rather than leaving the name empty');
      this.keptLogged = true;
      return;
    }
    this.keptLogged = false;
    try {
      await this.o.announcer.announce({ addresses: desired, attributes: NO_ATTRIBUTES }, 'in service');
      this.stats.syncs++;
      if (this.lastError) this.log('info', 'dns server reachable again');
      this.lastError = null;
    } catch (e) {
      const m = msgOf(e);
      this.stats.failures++;
      if (m !== this.lastError) this.log('error', 'dns sync failed; retrying', { error: m, code: isFabricError(e) ? e.code : undefined });
      this.lastError = m;
    }
  }

  /** Finds or registers dnsprobe-<instance> with our key; replaces it when its key is not ours. */
  private async ensureProbePeer(): Promise<{ key: Key; peer: Peer }> {
    const name = `dnsprobe-${this.o.instance}`;
    const file = this.o.keyFile;
    const fromFile = !!file && existsSync(file);
    const key = fromFile ? parseKey(readFileSync(file, 'utf8').trim(), 'probe private key') : generatePrivateKey();
    if (file && !fromFile) writeFileSync(file, toBase64(key) + '\n', { mode: 0o600 });
    const pub = toBase64(publicKeyOf(key));
    let existing: Peer | undefined;
    try {
      existing = await this.o.api.getPeer(this.o.pool, name);
    } catch (e) {
      if (!isFabricError(e, 'WGF_ERR_NOT_FOUND')) throw e;
    }
    if (existing && existing.publicKey === pub) return { key, peer: existing };
    if (existing) {
      this.log('info', 'replacing the probe peer (its key is not ours)', { peer: name });
      await this.o.api.deletePeer(this.o.pool, name);
    }
    const peer = await this.o.api.createPeer(this.o.pool, { name, publicKey: pub, labels: { role: 'dns-probe' } });
    this.log('info', 'registered the probe peer', { peer: name, address: peer.addresses[0] });
    return { key, peer };
  }
}

/** Ping the pool's server tunnel address from the probe peer's address of the same family (IPv4 first). */
function pingOf(pool: Pool, peer: Peer): { target: string; source: string } {
  for (const family of [4, 6] as const) {
    const prefix = family === 4 ? pool.ipv4Prefix : pool.ipv6Prefix;
    const source = peer.addresses.map((a) => a.split('/')[0]!).find((a) => a.includes(':') === (family === 6));
    if (prefix && source) return { target: formatIp(family, serverAddress(parseNet(prefix, 'prefix', false))), source };
  }
  throw new FabricError('WGF_ERR_VALIDATION', `probe peer ${peer.name} has no tunnel address in the pool's prefixes`);
}
