/**
 * The load-balancer service of one VIP: the I/O shell that wires the pure parts together. An
 * `lb run` process runs one per `--pool/--vip` pair (group.ts).
 *
 * - Probe identity: registers its own probe peer `lbprobe-<instance>` (label role=lb-probe) in
 *   the pool, so every node's agent installs it. WireGuard drops initiations whose timestamp is
 *   not newer than the last one of that peer, so every LB instance needs its own key. The
 *   services of one process (one per pool) share that key: the control plane claims a public
 *   key once per pool (control/peers.ts), and each pool's nodes answer on the pool's own
 *   device, whose replay state is its own, so one key as `lbprobe-<instance>` in several pools
 *   is valid (the key file, when given, is read or made by the first service that starts).
 * - Follows the pool and its nodes through the control plane's change stream and readiness
 *   stream (follow/stream.ts; `follow: 'poll'` polls every 500 ms as before, follow/poll.ts) and
 *   turns the nodes into HealthChecker targets: address from node.endpoint, weight, admin
 *   state, agent readiness (a fresh `ready` report). The table settings (affinity, table size) are the pool's (Pool.lb),
 *   so every instance builds the identical table; when they change, the controller rewrites
 *   the whole table (established flows stay on their backends: conntrack holds them).
 *   When the control plane cannot be reached the last known pool and targets stay: a
 *   control-plane outage must not take the data plane down.
 * - Probes every backend with a real handshake + ICMP echo to the pool's server tunnel address.
 * - Drives one LbController (nft + conntrack of the namespace it runs in).
 * - Reports its status to the control plane (report.ts) after every applied table change and
 *   as a heartbeat, in the background: a slow or failing control plane never holds up the data path.
 *
 * Clock: the health machinery runs on the monotonic clock; wall-clock times in status()
 * (leftTableAt, detectedAt) are for people and tests comparing with other processes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { ApiClient } from '../client/api-client.js';
import type { AnnounceReport } from '../protocol/announce.js';
import { FabricError, isFabricError } from '../protocol/errors.js';
import { formatIp, parseNet, serverAddress } from '../protocol/ipam.js';
import { DEFAULT_LB_SETTINGS, DEFAULT_NODE_WEIGHT, lbSettingsOf, sameLbSettings } from '../protocol/lb-settings.js';
import type { LbSettings, Node, Peer, Pool } from '../protocol/types.js';
import { generatePrivateKey, parseKey, publicKeyOf, toBase64, type Key } from '../wg/keys.js';
import { checkPort, parseIp } from './addr.js';
import { systemTimers } from '../sys/timers.js';
import { HealthChecker, wireguardProber, type CheckTarget, type Prober, type ProbeReport } from './checker.js';
import type { ConntrackPort } from './conntrack.js';
import { LbController, type LbBackend, type LbBackendStatus, type LbStatus } from './controller.js';
import { agentReady, failOpenInEffect, type HealthConfig, type HealthDecision } from './health.js';
import type { Affinity, ReturnPath } from './nft.js';
import type { RulesetApplier } from './nft-apply.js';
import type { NftVip } from './nft.js';
import type { DataPathKind, Mac1State, TableWriter, WriteResult } from './dataplane/port.js';
import { lbReportInput, StatusReporter } from './report.js';
import type { LogFn } from '../sys/log.js';
import { PollSource } from '../follow/poll.js';
import type { FollowMode, PoolSource, PoolState } from '../follow/source.js';
import { StreamSource } from '../follow/stream.js';

/** The part of the control-plane API the LB uses (ApiClient implements it). */
export type LbApi = Pick<ApiClient, 'getPool' | 'listNodes' | 'getPeer' | 'createPeer' | 'deletePeer' | 'putLbStatus'>
  & Partial<Pick<ApiClient, 'watchPoolBatches' | 'watchReadiness'>>;

export interface LbServiceOptions {
  readonly api: LbApi;
  readonly pool: string;
  readonly vip: string;
  readonly port: number;
  /** Names the probe peer (`lbprobe-<instance>`); unique per LB instance. */
  readonly instance: string;
  /** 'via-lb' (default: backends route replies through this LB) or 'snat' (several active LBs); see nft.ts. */
  readonly returnPath?: ReturnPath;
  readonly health: HealthConfig;
  /** nft data path: applies the rendered scripts (ignored when `writer` is given). */
  readonly applier: RulesetApplier;
  /** The flow table of the data path: conntrack (nft) or the BPF program's LRU flow map. */
  readonly conntrack: ConntrackPort;
  /** The BPF data path's table writer; absent: nft through `applier`. */
  readonly writer?: TableWriter;
  /** Which data path forwards (shown in /status; default 'nft'). */
  readonly dataplane?: DataPathKind;
  /** bpf: where the program runs, 'xdp' (in front of tc) or 'tc' (shown in /status). */
  readonly attach?: 'xdp' | 'tc';
  /** Keep the probe private key here (mode 0600) and re-use it across restarts; in memory when absent. */
  readonly keyFile?: string;
  /** A node whose last `ready` report is older than this is "agent not in sync" (default 15 s). */
  readonly readyMaxAgeMs?: number;
  /**
   * How the pool and its nodes are followed: 'stream' (the change and readiness streams; the
   * default when the API has them) or 'poll' (read every pollMs, the former way).
   */
  readonly follow?: FollowMode;
  /** follow 'poll': how often the pool and its node list are read (default 500 ms). */
  readonly pollMs?: number;
  /** follow 'stream': the safety-net re-read of the pool and its nodes (default 60 s). */
  readonly resyncMs?: number;
  /** Heartbeat of the status reports to the control plane (default 2000 ms); changes are reported at once. */
  readonly reportMs?: number;
  /** How often the flows per backend are counted (conntrack -L / the BPF flow map; default 2000 ms, 0: never). */
  readonly flowsMs?: number;
  /** How long a drained or held backend keeps its established flows at most (default 300 s; controller.ts). */
  readonly drainTimeoutMs?: number;
  /** Replaces the WireGuard prober (tests). */
  readonly prober?: Prober;
  /** This VIP's BGP announcement for the status reports (lb run --announce bgp). */
  readonly announceReport?: (vip: string) => AnnounceReport;
  readonly log?: LogFn;
}

/** One backend as /status shows it. */
export interface LbServiceBackend {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly state: LbBackendStatus['state'];
  readonly reason: string;
  readonly inTable: boolean;
  readonly slots: number;
  readonly adminState: string;
  readonly agentReady: boolean;
  readonly probes: number;
  readonly consecutiveFailures: number;
  readonly lastRttMs: number | null;
  /** Detection time of the last removal by probes (first failed probe -> decision), ms. */
  readonly lastDetectionMs: number | null;
  /** Wall-clock ISO time of that decision. */
  readonly detectedAt: string | null;
  /** Wall-clock ISO time the backend last left the applied table. */
  readonly leftTableAt: string | null;
  /** Flows the data path holds to this backend (last count, every flowsMs); null before the first count or when counting fails. */
  readonly flows?: number | null;
}

export interface LbServiceStatus {
  readonly pool: string;
  readonly instance: string;
  readonly vip: string;
  readonly port: number;
  /** Size and flow hash key of the table in the kernel (the pool's LB settings). */
  readonly tableSize: number;
  readonly affinity: Affinity;
  readonly generation: number;
  readonly probePeer: { readonly name: string; readonly publicKey: string; readonly address: string } | null;
  readonly lastError: string | null;
  /** Fail-open on readiness holds backends in the table (no backend's agent is in sync; see health.ts). */
  readonly failOpen: boolean;
  /** The data path forwarding this VIP ('nft' or 'bpf'; absent from LBs that predate the choice). */
  readonly dataplane?: DataPathKind;
  /** bpf: where the program runs, 'xdp' (XDP in front of tc) or 'tc'. */
  readonly attach?: 'xdp' | 'tc';
  /** bpf: whether the program verifies initiations' mac1 with the pool's public key (and why not). */
  readonly mac1?: Mac1State;
  /** How replies reach clients (--return-path); absent from LBs that predate the field. */
  readonly returnPath?: ReturnPath;
  readonly backends: readonly LbServiceBackend[];
}

/** Events for metrics. */
export interface LbServiceHooks {
  onProbe?(backend: string, report: ProbeReport, durationMs: number): void;
  onDetection?(backend: string, ms: number): void;
}

/** "ip:port" or "[v6]:port" of a node endpoint; undefined when it is not an IP literal endpoint. */
export function parseEndpoint(endpoint: string | null): { address: string; port: number } | undefined {
  if (!endpoint) return undefined;
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(endpoint) ?? /^([0-9.]+):(\d+)$/.exec(endpoint);
  if (!m) return undefined;
  try {
    return { address: parseIp(m[1]!).text, port: checkPort(Number(m[2])) };
  } catch {
    return undefined;
  }
}

/**
 * Health-check targets from the pool's nodes, with the nodes' weights (1 from a server that
 * predates weights): nodes without an IP endpoint of the VIP's family are skipped (they
 * cannot be balanced to). Pure.
 */
export function targetsFromNodes(
  nodes: readonly Node[], family: 4 | 6, wallNowMs: number, readyMaxAgeMs: number, readyOf?: ReadonlyMap<string, boolean>,
): CheckTarget[] {
  const out: CheckTarget[] = [];
  for (const n of nodes) {
    const ep = parseEndpoint(n.endpoint);
    if (!ep || parseIp(ep.address).family !== family) continue;
    out.push({ name: n.name, address: ep.address, port: ep.port, weight: (n as Partial<Node>).weight ?? DEFAULT_NODE_WEIGHT, adminState: n.adminState, ready: readyOf ? (readyOf.get(n.name) ?? false) : agentReady(n.status, wallNowMs, readyMaxAgeMs) });
  }
  return out;
}

/** The pool's server tunnel address of a family (first usable address of its prefix). */
export function serverTunnelIp(pool: Pick<Pool, 'ipv4Prefix' | 'ipv6Prefix'>, family: 4 | 6): string | undefined {
  const prefix = family === 4 ? pool.ipv4Prefix : pool.ipv6Prefix;
  return prefix ? formatIp(family, serverAddress(parseNet(prefix, 'prefix', false))) : undefined;
}

/** Loads the probe key from `file`, or makes one (and writes it with mode 0600 when a file is given). */
function loadOrCreateKey(file: string | undefined): { key: Key; fromFile: boolean } {
  if (file && existsSync(file)) return { key: parseKey(readFileSync(file, 'utf8').trim(), 'probe private key'), fromFile: true };
  const key = generatePrivateKey();
  if (file) writeFileSync(file, toBase64(key) + '\n', { mode: 0o600 });
  return { key, fromFile: false };
}

/** One LB instance for one VIP:port of one pool. */
export class LbService {
  private readonly controller: LbController;
  private checker: HealthChecker | undefined;
  private readonly family: 4 | 6;
  private probePeer: Peer | undefined;
  private source: PoolSource | undefined;
  private stopped = false;
  private started = false;
  private readonly nodes = new Map<string, { adminState: string; ready: boolean }>();
  private readonly leftTableAt = new Map<string, string>();
  private inTable = new Set<string>();
  private readonly detectedAt = new Map<string, string>();
  private readonly log: LogFn;
  /** Wall-clock time the last nft apply finished, and how long it took. */
  private lastApply: { at: string; ms: number } | undefined;
  private readonly reporter: StatusReporter;
  /** Flows per backend "address|port" at the last count; null before it or after a failed one. */
  private flowCounts: Map<string, number> | null = null;
  private flowsTimer: NodeJS.Timeout | undefined;
  private flowsError: string | undefined;
  /** Pool LB settings the controller refused (logged once, not on every poll). */
  private badSettings: LbSettings | undefined;
  /** The pool as last read (its anycast settings drive the instance's BGP drain policy). */
  private poolSeen: Pool | undefined;

  constructor(private readonly o: LbServiceOptions, private readonly hooks: LbServiceHooks = {}) {
    this.family = parseIp(o.vip, 'vip').family;
    this.log = o.log ?? (() => {});
    // Default settings until start() reads the pool's (nothing is applied before that).
    this.controller = new LbController({
      vip: o.vip, port: o.port, affinity: DEFAULT_LB_SETTINGS.affinity, tableSize: DEFAULT_LB_SETTINGS.tableSize, returnPath: o.returnPath ?? 'via-lb',
      ...(o.writer ? { writer: { write: (from, to) => this.timedWrite(from, to) } } : { applier: { apply: (script) => this.timedApply(script) } }), conntrack: {
        deleteFlowsTo: (...a) => this.timedDelete(...a),
        listFlowTargets: (vip, port) => this.o.conntrack.listFlowTargets(vip, port),
      }, now: systemTimers.now, ...(o.drainTimeoutMs === undefined ? {} : { drainTimeoutMs: o.drainTimeoutMs }),
    });
    this.reporter = new StatusReporter({
      send: (report) => this.o.api.putLbStatus(this.o.pool, this.o.instance, report),
      snapshot: () => ({ ...lbReportInput(this.status()), ...(o.announceReport ? { announce: o.announceReport(o.vip) } : {}) }),
      intervalMs: o.reportMs ?? 2000,
      log: this.log,
    });
  }

  /**
   * Reads the pool (its LB settings), registers the probe peer, reads the nodes once, applies
   * the first table and starts probing. Throws WGF_ERR_VALIDATION when the pool's LB settings
   * cannot be built (the control plane validates them, so only a hand-edited store gets here).
   */
  async start(): Promise<void> {
    const pool = await this.o.api.getPool(this.o.pool);
    this.poolSeen = pool;
    await this.followPoolKey(pool);
    this.controller.setSettings(lbSettingsOf(pool));
    const target = serverTunnelIp(pool, this.family);
    if (!target) throw new FabricError('WGF_ERR_VALIDATION', `pool ${pool.name} has no IPv${this.family} prefix for the VIP's family`, { field: 'vip' });
    const { key, peer } = await this.ensureProbePeer();
    this.probePeer = peer;
    const source = peer.addresses.map((a) => a.split('/')[0]!).find((a) => parseIp(a).family === this.family);
    if (!source) throw new FabricError('WGF_ERR_VALIDATION', `probe peer ${peer.name} has no IPv${this.family} tunnel address`);
    const prober = this.o.prober ?? wireguardProber({
      serverPublicKey: parseKey(pool.publicKey, 'pool public key'), privateKey: key, ping: { target, source }, timeoutMs: this.o.health.timeoutMs,
    });
    const sink = { update: (b: readonly LbBackend[], d: ReadonlyMap<string, HealthDecision>) => this.apply(b, d) };
    this.checker = new HealthChecker({
      prober, sink, health: this.o.health,
      onProbe: (b, r, ms) => this.hooks.onProbe?.(b, r, ms),
      onDetection: (b, ms) => {
        this.detectedAt.set(b, new Date().toISOString());
        this.log('warn', 'backend down', { backend: b, detectionMs: Math.round(ms) });
        this.hooks.onDetection?.(b, ms);
      },
      onError: (e) => this.log('error', 'applying the table failed', { error: e instanceof Error ? e.message : String(e) }),
    });
    this.source = this.makeSource();
    await this.source.start();
    if (this.stopped) {
      this.source.stop();
      return; // stop() came while starting: start nothing that stop() would miss
    }
    this.checker.start();
    this.reporter.start();
    this.started = true;
    const { affinity, tableSize } = this.controller.tableSettings;
    this.log('info', 'lb started', { pool: this.o.pool, vip: `${this.o.vip}:${this.o.port}`, probePeer: peer.name, tableSize, affinity });
    const flowsMs = this.o.flowsMs ?? 2000;
    const flowsLoop = () => {
      if (this.stopped || flowsMs <= 0) return;
      this.flowsTimer = setTimeout(() => void this.countFlows().finally(flowsLoop), flowsMs);
    };
    void this.countFlows().finally(flowsLoop);
  }

  /** Counts the VIP's flows per backend (drain --wait and wgfabric_lb_backend_flows read it). */
  async countFlows(): Promise<void> {
    try {
      const targets = await this.o.conntrack.listFlowTargets(this.o.vip, this.o.port);
      this.flowCounts = new Map(targets.map((t) => [`${t.address}|${t.port}`, t.flows]));
      if (this.flowsError !== undefined) this.log('info', 'counting flows works again');
      this.flowsError = undefined;
    } catch (e) {
      this.flowCounts = null;
      const m = e instanceof Error ? e.message : String(e);
      if (m !== this.flowsError) this.log('warn', 'counting the flows per backend failed; flows are not reported', { error: m });
      this.flowsError = m;
    }
  }

  /** The pool as last read from the control plane (undefined before start). */
  get pool(): Pool | undefined {
    return this.poolSeen;
  }

  /** True from the end of a successful start() until stop() (what /healthz answers). */
  get running(): boolean {
    return this.started && !this.stopped;
  }

  /** Stops polling, probing and reporting; leaves the nft table as it is (flows keep going). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.source?.stop();
    clearTimeout(this.flowsTimer);
    this.reporter.stop();
    await this.checker?.stop();
  }

  status(): LbServiceStatus {
    const c: LbStatus = this.stampLeavers();
    const checks = new Map((this.checker?.status() ?? []).map((s) => [s.name, s]));
    const failOpen = failOpenInEffect([...checks.values()].map((s) => s.decision));
    return {
      pool: this.o.pool, instance: this.o.instance, vip: c.vip, port: c.port, tableSize: c.tableSize, affinity: c.affinity, generation: c.generation,
      probePeer: this.probePeer ? { name: this.probePeer.name, publicKey: this.probePeer.publicKey, address: this.probePeer.addresses[0] ?? '' } : null,
      lastError: c.lastError, failOpen, dataplane: this.o.dataplane ?? 'nft', ...(this.o.attach ? { attach: this.o.attach } : {}), returnPath: this.o.returnPath ?? 'via-lb',
      ...(this.o.writer?.mac1 ? { mac1: this.o.writer.mac1() } : {}),
      backends: c.backends.map((b) => {
        const s = checks.get(b.name);
        const n = this.nodes.get(b.name);
        return {
          name: b.name, address: b.address, port: b.port, state: b.state, reason: b.reason, inTable: b.inTable, slots: b.slots,
          adminState: n?.adminState ?? 'unknown', agentReady: n?.ready ?? false,
          probes: s?.probes ?? 0, consecutiveFailures: s?.consecutiveFailures ?? 0, lastRttMs: s?.lastRttMs ?? null,
          lastDetectionMs: s?.lastDetectionMs ?? null, detectedAt: this.detectedAt.get(b.name) ?? null, leftTableAt: this.leftTableAt.get(b.name) ?? null,
          flows: this.flowCounts ? (this.flowCounts.get(`${b.address}|${b.port}`) ?? 0) : null,
        };
      }),
    };
  }

  /** bpf: hands the pool's public key to the program's mac1 check (a failed write is logged; the check keeps its last key). */
  private async followPoolKey(pool: Pool): Promise<void> {
    try {
      await this.o.writer?.setPoolKey?.(pool.publicKey);
    } catch (e) {
      this.log('warn', 'could not write the pool key for the mac1 check', { error: e instanceof Error ? e.message : String(e) });
    }
  }

  private async timedWrite(from: NftVip | undefined, to: NftVip): Promise<WriteResult> {
    const t0 = performance.now();
    const r = await this.o.writer!.write(from, to);
    this.lastApply = { at: new Date().toISOString(), ms: performance.now() - t0 };
    setImmediate(() => this.stampLeavers());
    return r;
  }

  private async timedApply(script: string): Promise<void> {
    const t0 = performance.now();
    await this.o.applier.apply(script);
    this.lastApply = { at: new Date().toISOString(), ms: performance.now() - t0 };
    // The controller records the new membership right after this resolves.
    setImmediate(() => this.stampLeavers());
  }

  private async timedDelete(vip: string, port: number, addr: string, backendPort: number): Promise<number> {
    const t0 = performance.now();
    const n = await this.o.conntrack.deleteFlowsTo(vip, port, addr, backendPort);
    this.log('info', 'flows deleted', { backend: `${addr}:${backendPort}`, flows: n, ms: Math.round(performance.now() - t0) });
    return n;
  }

  /** Stamps backends that left the applied table since the last look with the time of the apply that took them out. */
  private stampLeavers(): LbStatus {
    const c = this.controller.status();
    const now = new Set(c.backends.filter((b) => b.inTable).map((b) => b.name));
    for (const name of this.inTable) if (!now.has(name)) this.leftTableAt.set(name, this.lastApply?.at ?? new Date().toISOString());
    this.inTable = now;
    return c;
  }

  /** The controller update, recording when each backend leaves the applied table. */
  private async apply(backends: readonly LbBackend[], decisions: ReadonlyMap<string, HealthDecision>): Promise<void> {
    const before = new Set(this.controller.status().backends.filter((b) => b.inTable).map((b) => b.name));
    const r = await this.controller.update(backends, decisions);
    if (!r.applied) return;
    // One line per transaction that changed the kernel: a delta writes only the changed slots.
    this.log('info', 'table applied', { generation: r.generation, write: r.write.mode, slots: r.write.slots, applyMs: Math.round(this.lastApply?.ms ?? 0) });
    this.stampLeavers();
    const now = new Set(this.controller.status().backends.filter((b) => b.inTable).map((b) => b.name));
    for (const name of before) {
      if (now.has(name)) continue;
      this.log('info', 'backend left the table', { backend: name, at: this.leftTableAt.get(name), reason: decisions.get(name)?.reason ?? 'removed', flowsDeleted: r.flowsDeleted.get(name) ?? 0 });
    }
    for (const name of now) if (!before.has(name)) this.log('info', 'backend joined the table', { backend: name });
    this.reporter.kick(); // the control plane hears of every applied change at once
  }

  /** The pool source of the follow mode (see LbServiceOptions.follow). */
  private makeSource(): PoolSource {
    const { api } = this.o;
    const common = { pool: this.o.pool, readyMaxAgeMs: this.o.readyMaxAgeMs ?? 15_000, onState: (st: PoolState) => this.onState(st), log: this.log };
    const mode = this.o.follow ?? (api.watchPoolBatches && api.watchReadiness ? 'stream' : 'poll');
    if (mode === 'poll') return new PollSource({ ...common, api, ...(this.o.pollMs === undefined ? {} : { pollMs: this.o.pollMs }) });
    if (!api.watchPoolBatches || !api.watchReadiness) throw new FabricError('WGF_ERR_VALIDATION', 'follow stream needs an API client that can watch', { field: 'follow' });
    const streamApi = { getPool: api.getPool.bind(api), listNodes: api.listNodes.bind(api), watchPoolBatches: api.watchPoolBatches.bind(api), watchReadiness: api.watchReadiness.bind(api) };
    return new StreamSource({ ...common, api: streamApi, ...(this.o.resyncMs === undefined ? {} : { resyncMs: this.o.resyncMs }) });
  }

  /**
   * A new view of the pool from the source. New LB settings go to the controller first, so the
   * push that setTargets() makes rebuilds the table with them (one full write).
   */
  private onState(st: PoolState): void {
    this.poolSeen = st.pool;
    void this.followPoolKey(st.pool);
    this.followSettings(lbSettingsOf(st.pool));
    const targets = targetsFromNodes(st.nodes, this.family, Date.now(), this.o.readyMaxAgeMs ?? 15_000, st.ready);
    this.nodes.clear();
    for (const t of targets) this.nodes.set(t.name, { adminState: t.adminState, ready: t.ready });
    this.checker?.setTargets(targets);
  }

  /** Hands changed pool LB settings to the controller, logging the change once. */
  private followSettings(next: LbSettings): void {
    const old = this.controller.tableSettings;
    if (sameLbSettings(old, next)) return;
    try {
      this.controller.setSettings(next);
    } catch (e) {
      // Only a hand-edited store gets here (the control plane validates the settings).
      if (!this.badSettings || !sameLbSettings(this.badSettings, next)) {
        this.log('error', 'the pool\'s lb settings cannot be built; keeping the current ones', { old, new: next, error: e instanceof Error ? e.message : String(e) });
      }
      this.badSettings = next;
      return;
    }
    this.badSettings = undefined;
    this.log('info', 'lb settings changed', { old, new: next, note: 'the whole table is rewritten; established flows stay on their backends' });
  }

  /** Finds or registers `lbprobe-<instance>` with our key; replaces it when its key is not ours. */
  private async ensureProbePeer(): Promise<{ key: Key; peer: Peer }> {
    const name = `lbprobe-${this.o.instance}`;
    const { key, fromFile } = loadOrCreateKey(this.o.keyFile);
    const pub = toBase64(publicKeyOf(key));
    let existing: Peer | undefined;
    try {
      existing = await this.o.api.getPeer(this.o.pool, name);
    } catch (e) {
      if (!isFabricError(e, 'WGF_ERR_NOT_FOUND')) throw e;
    }
    if (existing && fromFile && existing.publicKey === pub) return { key, peer: existing };
    if (existing) {
      this.log('info', 'replacing the probe peer (its key is not ours)', { peer: name });
      await this.o.api.deletePeer(this.o.pool, name);
    }
    const peer = await this.o.api.createPeer(this.o.pool, { name, publicKey: pub, labels: { role: 'lb-probe' } });
    this.log('info', 'registered the probe peer', { peer: name, address: peer.addresses[0] });
    return { key, peer };
  }
}
