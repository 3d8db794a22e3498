/**
 * The services of one `lb run` process: one LbService per `--pool/--vip` pair, started and
 * stopped together, so one process (and one keepalived or ECMP setup) fronts several pools.
 *
 * Each service owns its nft table (defaultNftTable(vip, port)) and touches only the conntrack
 * entries of its own VIP:port, so several services share one namespace without seeing each
 * other. A process serves a pool at most once: the probe peer `lbprobe-<instance>` is per pool
 * and instance, so two services of one pool in one process would fight over it.
 */
import { FabricError, toFabricError } from '../protocol/errors.js';
import { formatIpPort } from './addr.js';
import type { LbServiceStatus } from './service.js';

/** What the group needs of a service (LbService implements it). */
export interface LbMember {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): LbServiceStatus;
  /** True from the end of a successful start() until stop(). */
  readonly running: boolean;
}

/** "VIP:port" (IPv6 in brackets) of a service status: how /status?vip= and metrics name a VIP. */
export function vipOf(s: Pick<LbServiceStatus, 'vip' | 'port'>): string {
  return formatIpPort(s.vip, s.port);
}

/** The LB services of one process, in the order given (the order of the `--pool/--vip` pairs). */
export class LbGroup<M extends LbMember = LbMember> {
  /** @throws WGF_ERR_VALIDATION when empty or when two services have the same VIP:port or pool. */
  constructor(readonly members: readonly M[]) {
    if (members.length === 0) throw new FabricError('WGF_ERR_VALIDATION', 'an LB process serves at least one VIP', { field: 'vips' });
    const vips = new Set<string>();
    const pools = new Set<string>();
    for (const m of members) {
      const s = m.status();
      if (vips.has(vipOf(s))) throw new FabricError('WGF_ERR_VALIDATION', `VIP ${vipOf(s)} is served twice`, { field: 'vips', value: vipOf(s) });
      if (pools.has(s.pool)) throw new FabricError('WGF_ERR_VALIDATION', `pool ${s.pool} is served twice`, { field: 'pools', value: s.pool });
      vips.add(vipOf(s));
      pools.add(s.pool);
    }
  }

  /**
   * Starts every service at once and waits for all of them. If any fails, stops every one
   * (those that started too) and rejects with the first failure, its code kept and the pool
   * and VIP named: nothing stays half-running. nft tables already applied stay in the kernel,
   * as after stop().
   */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.members.map((m) => m.start()));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed < 0) return;
    await this.stop();
    const s = this.members[failed]!.status();
    const reason: unknown = (results[failed] as PromiseRejectedResult).reason;
    const e = toFabricError(reason);
    const message = e === reason || !(reason instanceof Error) ? e.message : reason.message;
    throw new FabricError(e.code, `pool ${s.pool}, VIP ${vipOf(s)}: ${message}`, { ...e.details, pool: s.pool, vip: vipOf(s) }, { cause: reason });
  }

  /** Stops every service (see LbService.stop: the nft tables stay, flows keep going). */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop()));
  }

  /** Every service is running: what /healthz answers (keepalived's track script gives the VIPs up otherwise). */
  get healthy(): boolean {
    return this.members.every((m) => m.running);
  }

  /** The VIPs ("VIP:port") whose service is not running, in order. */
  notRunning(): string[] {
    return this.members.filter((m) => !m.running).map((m) => vipOf(m.status()));
  }

  /** The status of every service, in order. */
  status(): LbServiceStatus[] {
    return this.members.map((m) => m.status());
  }
}
