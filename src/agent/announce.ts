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
import { GRACEFUL_SHUTDOWN_COMMUNITY } from '../protocol/announce.js';
import { isFabricError } from '../protocol/errors.js';
import { ipFamily } from '../wg/addr.js';
import { parseKey, publicKeyOf, toBase64, type Key } from '../wg/keys.js';
import type { Announcer } from '../announce/announcer.js';
import { decideAnnouncement, type GateDecision } from '../announce/gate.js';
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
  private decision: GateDecision = { state: 'withdrawn', reason: 'starting' };
  private since = new Date();
  private drainStartedMs: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private forceResync = false;
  /** Checks run, withdrawals made, last probe result. */
  readonly stats = { checks: 0, withdrawals: 0, announceErrors: 0, lastProbeMs: 0 };
  private readonly probePub: string;

  constructor(private readonly o: AgentAnnounceOptions) {
    this.probePub = toBase64(publicKeyOf(o.probeKey));
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.o.intervalMs ?? 200);
  }

  /** Stops checking; withdraws when `withdraw` (a clean shutdown: no stale route, no wait for BFD). */
  async stop(withdraw: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
    if (withdraw) await this.o.announcer.withdraw('agent stopped').catch(() => {});
  }

  /** The watchdog withdrew behind our back: the next check tells the speaker again. */
  watchdogFired(): void {
    this.forceResync = true;
    this.o.log?.('warn', 'announce watchdog withdrew the routes (agent stalled?)', {});
  }

  report(): AnnounceReport {
    const pool = this.o.agent.poolInfo;
    return {
      kind: this.o.announcer.kind, state: this.decision.state, reason: this.decision.reason,
      addresses: this.decision.state === 'withdrawn' ? [] : [...(pool?.anycast.addresses ?? [])], since: this.since.toISOString(),
    };
  }

  /** One check: probe, decide, apply. Never throws. */
  async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
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
        controlPlaneRevision: a.stats.controlPlaneRevision, probe, announcing: this.decision.state !== 'withdrawn',
        drainStartedMs: this.drainStartedMs, drainSeconds: pool?.anycast.drainSeconds ?? 0, nowMs: now,
      });
      await this.apply(d);
      this.stats.checks++;
      this.o.onBeat?.();
    } finally {
      this.busy = false;
    }
  }

  private async apply(d: GateDecision): Promise<void> {
    const pool = this.o.agent.poolInfo;
    const changed = d.state !== this.decision.state;
    try {
      if (this.forceResync) {
        await this.o.announcer.withdraw('watchdog fired');
        this.forceResync = false;
      }
      if (d.state === 'withdrawn') {
        await this.o.announcer.withdraw(d.reason);
      } else {
        const s = pool!.anycast;
        await this.o.announcer.announce({
          addresses: s.addresses,
          attributes: { gracefulShutdown: d.state === 'draining', communities: s.communities.filter((c) => c !== GRACEFUL_SHUTDOWN_COMMUNITY), med: s.med, prepend: s.prepend },
        }, d.reason);
      }
    } catch (e) {
      this.stats.announceErrors++;
      this.o.log?.('error', 'announcement failed', { error: e instanceof Error ? e.message : String(e), want: d.state });
      return;
    }
    if (changed) {
      this.since = new Date();
      if (d.state === 'withdrawn') this.stats.withdrawals++;
      this.o.log?.(d.state === 'withdrawn' ? 'warn' : 'info', `announcement ${d.state}`, { reason: d.reason, addresses: pool?.anycast.addresses ?? [] });
    }
    this.decision = d;
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
      this.stats.lastProbeMs = performance.now() - started;
      return { ok: true, reason: '' };
    } catch (e) {
      return { ok: false, reason: isFabricError(e) ? `${e.code}: ${e.message}` : String(e) };
    }
  }
}
