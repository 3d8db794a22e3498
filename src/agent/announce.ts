/**
 * `agent --announce bgp`: the node offers the pool's anycast addresses only while it really
 * serves the pool. Every check (default 200 ms) it probes its own device on the anycast address
 * (a real WireGuard handshake plus an ICMP echo through the tunnel, with its own probe peer),
 * reads the agent's state and the node's admin state, lets announce/gate.ts decide, and tells
 * the Announcer. A failed check withdraws at once. A watchdog beside it withdraws when the agent
 * dies or hangs; BFD on the BGP session covers a dead host or speaker.
 */
import { probe as realProbe, type ProbeOptions, type ProbeResult } from '../probe/probe.js';
import type { AnnounceReport } from '../protocol/announce.js';
import { effectiveAnnouncePolicy, GRACEFUL_SHUTDOWN_COMMUNITY } from '../protocol/announce.js';
import { isFabricError } from '../protocol/errors.js';
import { ipFamily } from '../wg/addr.js';
import { parseKey, publicKeyOf, toBase64, type Key } from '../wg/keys.js';
import type { Announcer } from '../announce/announcer.js';
import { decideAnnouncement } from '../announce/gate.js';
import { AnnounceLoop, type AnnounceLoopStats, type AnnounceWant } from '../announce/loop.js';
import type { Agent, LogFn } from './agent.js';
import { serverTunnelAddresses } from './iface.js';

export interface AgentAnnounceOptions {
  readonly agent: Agent;
  readonly announcer: Announcer;
  /** The probe peer's private key (its public key is a peer of the pool, e.g. agentprobe-<node>). */
  readonly probeKey: Key;
  readonly intervalMs?: number;
  readonly probeTimeoutMs?: number;
  /** Called every check that ran (the watchdog's heartbeat). */
  readonly onBeat?: () => void;
  readonly log?: LogFn;
  readonly probe?: (o: ProbeOptions) => Promise<ProbeResult>;
}

export class AgentAnnounce {
  private drainStartedMs: number | null = null;
  private readonly loop: AnnounceLoop;
  private lastProbeMs = 0;
  private readonly probePub: string;

  constructor(private readonly o: AgentAnnounceOptions) {
    this.probePub = toBase64(publicKeyOf(o.probeKey));
    this.loop = new AnnounceLoop({
      announcer: o.announcer, decide: () => this.decide(), ...(o.intervalMs !== undefined ? { intervalMs: o.intervalMs } : {}),
      ...(o.onBeat ? { onBeat: o.onBeat } : {}), ...(o.log ? { log: o.log } : {}),
    });
  }

  /** Checks run, withdrawals made, refused announcements (the loop's), last probe duration (ms). */
  get stats(): AnnounceLoopStats & { lastProbeMs: number } {
    return { ...this.loop.stats, lastProbeMs: this.lastProbeMs };
  }

  start(): void {
    this.loop.start();
  }

  /** Stops checking; withdraws when `withdraw` (a clean shutdown: no stale route, no wait for BFD). */
  stop(withdraw: boolean): Promise<void> {
    return this.loop.stop(withdraw, 'agent stopped');
  }

  /** The watchdog withdrew behind our back: the next check tells the speaker again. */
  watchdogFired(): void {
    this.loop.watchdogFired();
  }

  report(): AnnounceReport {
    return this.loop.report();
  }

  /** One check: probe, decide, apply. Never throws. */
  check(): Promise<void> {
    return this.loop.check();
  }

  /** The gate over what the agent knows, and what to offer: the pool's settings with this node's policy over them. */
  private async decide(): Promise<AnnounceWant> {
    const a = this.o.agent;
    const pool = a.poolInfo;
    const admin = a.nodeAdminState;
    const now = Date.now();
    if (admin === 'draining') this.drainStartedMs ??= now;
    else this.drainStartedMs = null;
    const addresses = pool?.anycast.addresses ?? [];
    const probe = pool && addresses.length > 0 && a.stats.deviceUp ? await this.probeOnce() : null;
    const d = decideAnnouncement({
      addresses, adminState: admin, deviceUp: a.stats.deviceUp, caughtUp: a.ready, appliedRevision: a.stats.appliedRevision,
      controlPlaneRevision: a.stats.controlPlaneRevision, probe, announcing: this.loop.report().state !== 'withdrawn',
      drainStartedMs: this.drainStartedMs, drainSeconds: pool?.anycast.drainSeconds ?? 0, nowMs: now,
    });
    if (d.state === 'withdrawn' || !pool) return d;
    const p = effectiveAnnouncePolicy(pool.anycast, a.nodeAnnouncePolicy);
    return {
      ...d,
      announcement: {
        addresses,
        attributes: { gracefulShutdown: d.state === 'draining', communities: p.communities.filter((c) => c !== GRACEFUL_SHUTDOWN_COMMUNITY), med: p.med, prepend: p.prepend, localPref: p.localPref },
      },
    };
  }

  /** Handshake + echo to our own device on the (first) anycast address, as our probe peer. */
  private async probeOnce(): Promise<{ ok: boolean; reason: string }> {
    const a = this.o.agent;
    const pool = a.poolInfo!;
    const addr = pool.anycast.addresses.find((x) => ipFamily(x) === 4) ?? pool.anycast.addresses[0]!;
    const fam = ipFamily(addr);
    const own = a.peerStates.get(this.probePub)?.allowedIps.find((c) => ipFamily(c.split('/')[0]!) === fam);
    if (!own) return { ok: false, reason: `probe peer ${this.probePub.slice(0, 8)}… is not on the device (add it to the pool)` };
    const target = serverTunnelAddresses(pool).map((c) => c.split('/')[0]!).find((x) => ipFamily(x) === fam);
    const started = performance.now();
    try {
      await (this.o.probe ?? realProbe)({
        host: addr, port: pool.listenPort, serverPublicKey: parseKey(pool.publicKey), privateKey: this.o.probeKey,
        timeoutMs: this.o.probeTimeoutMs ?? 500, ...(target ? { ping: { target, source: own.split('/')[0]! } } : {}),
      });
      this.lastProbeMs = performance.now() - started;
      return { ok: true, reason: '' };
    } catch (e) {
      return { ok: false, reason: isFabricError(e) ? `${e.code}: ${e.message}` : String(e) };
    }
  }
}
