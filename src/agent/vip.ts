/**
 * Direct server return on a backend (`agent --vip ADDR`): the LB sends clients' packets to the
 * node unchanged (destination the VIP), so the node must accept the VIP as its own without
 * claiming it on the wire. The agent puts each VIP on `lo` (/32 or /128) and sets
 * net.ipv4.conf.all.arp_ignore=1 (answer ARP only for addresses of the asking interface: never
 * for the VIP on lo) and arp_announce=2 (never use the VIP as the source of an ARP request).
 * The kernel uses the larger of conf/all and conf/<dev>, so `all` covers every interface; an
 * arp_ignore of 2 (stricter) is left alone. IPv6 VIPs need no sysctl: neighbour discovery only
 * answers for addresses of the asking interface.
 *
 * Pure core (vipRepairs) + a narrow host interface (VipHost) with the real shell (ipHost:
 * `ip`, /proc/sys) and a fake for tests. The agent checks them at start and with every
 * reconcile (drift repair), and reports them in its status (NodeStatus.dsr). Stopping the agent
 * leaves them in place, like the WireGuard device: DSR replies keep working while it restarts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { FabricError } from '../protocol/errors.js';
import { canonicalIp } from '../wg/addr.js';
import type { DsrReport } from '../protocol/types.js';
import { run } from '../sys/exec.js';
import type { LogFn } from '../sys/log.js';

export type ArpSysctl = 'arp_ignore' | 'arp_announce';

/** What the host holds: the addresses on lo and the two `all` sysctls. */
export interface VipHostState {
  readonly loAddresses: ReadonlySet<string>;
  readonly sysctls: Readonly<Record<ArpSysctl, number>>;
}

export type VipRepair = { readonly kind: 'address'; readonly vip: string } | { readonly kind: 'sysctl'; readonly key: ArpSysctl; readonly value: number };

/** The host's side: read its state, add an address to lo, set one conf/all sysctl. */
export interface VipHost {
  read(): Promise<VipHostState>;
  addAddress(vip: string): Promise<void>;
  setSysctl(key: ArpSysctl, value: number): Promise<void>;
}

/** Validates --vip values (IPv4 or IPv6 literals, no prefix); canonical, sorted, without duplicates. */
export function parseVips(values: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of values) {
    const v = raw.trim();
    if (v === '') continue;
    const ip = v.includes('/') ? null : canonicalIp(v);
    if (ip === null) {
      throw new FabricError('WGF_ERR_VALIDATION', `--vip must be an IPv4 or IPv6 address (no prefix), got "${raw}"`, { field: 'vip', value: raw });
    }
    out.add(ip);
  }
  return [...out].sort();
}

/** What must change on the host so it holds `vips` for DSR (empty: nothing to do). Pure. */
export function vipRepairs(state: VipHostState, vips: readonly string[]): VipRepair[] {
  const out: VipRepair[] = vips.filter((v) => !state.loAddresses.has(v)).map((vip) => ({ kind: 'address', vip }));
  if (vips.some((v) => !v.includes(':'))) {
    const ignore = state.sysctls.arp_ignore;
    if (ignore !== 1 && ignore !== 2) out.push({ kind: 'sysctl', key: 'arp_ignore', value: 1 });
    if (state.sysctls.arp_announce !== 2) out.push({ kind: 'sysctl', key: 'arp_announce', value: 2 });
  }
  return out;
}

/** Keeps the VIPs on the host: ensure() at start and with every reconcile; report() for the status. */
export class VipKeeper {
  private inPlace = false;
  private repairs = 0;
  private lastError: string | null = null;
  private checks = 0;

  constructor(private readonly o: { host: VipHost; vips: readonly string[]; log?: LogFn }) {}

  /** True once the last check found (or left) every VIP and sysctl in place. */
  get ok(): boolean {
    return this.inPlace;
  }

  /**
   * Reads the host and applies what is missing. The first check sets things up (logged as
   * such); a later one that has to change anything repairs drift (logged, counted). Throws
   * WGF_ERR_HOST_SETUP when the host cannot be read or changed (the agent is then not ready).
   */
  async ensure(): Promise<number> {
    const first = this.checks++ === 0;
    try {
      const todo = vipRepairs(await this.o.host.read(), this.o.vips);
      if (todo.length > 0) {
        this.o.log?.(first ? 'info' : 'warn', first ? 'dsr: putting the VIPs on lo' : 'dsr: repairing drift of the VIPs on lo', { vips: this.o.vips, repairs: todo.map(describe) });
        for (const r of todo) r.kind === 'address' ? await this.o.host.addAddress(r.vip) : await this.o.host.setSysctl(r.key, r.value);
        if (!first) this.repairs += todo.length;
      }
      if (this.lastError !== null) this.o.log?.('info', 'dsr: the VIPs are in place again', { vips: this.o.vips });
      this.inPlace = true;
      this.lastError = null;
      return todo.length;
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      if (m !== this.lastError) this.o.log?.('error', 'dsr: cannot put the VIPs on lo; not ready', { vips: this.o.vips, error: m });
      this.inPlace = false;
      this.lastError = m;
      throw new FabricError('WGF_ERR_HOST_SETUP', `agent --vip: ${m}`, { vips: [...this.o.vips] });
    }
  }

  report(): DsrReport {
    return { vips: [...this.o.vips], inPlace: this.inPlace, repairs: this.repairs, ...(this.lastError !== null ? { error: this.lastError.slice(0, 256) } : {}) };
  }
}

function describe(r: VipRepair): string {
  return r.kind === 'address' ? `lo ${r.vip}` : `net.ipv4.conf.all.${r.key}=${r.value}`;
}

const sysctlPath = (key: ArpSysctl): string => `/proc/sys/net/ipv4/conf/all/${key}`;

/** The real host, in the agent's network namespace: `ip` for lo, /proc/sys for the sysctls. */
export const ipHost: VipHost = {
  async read() {
    const { stdout } = await run('ip', ['-j', 'addr', 'show', 'dev', 'lo']);
    const links = JSON.parse(stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
    const loAddresses = new Set<string>();
    for (const l of links) for (const a of l.addr_info ?? []) if (a.local && (a.prefixlen === 32 || a.prefixlen === 128)) loAddresses.add(canonicalIp(a.local) ?? a.local);
    const sysctl = async (k: ArpSysctl) => Number((await readFile(sysctlPath(k), 'utf8')).trim());
    return { loAddresses, sysctls: { arp_ignore: await sysctl('arp_ignore'), arp_announce: await sysctl('arp_announce') } };
  },
  async addAddress(vip) {
    await run('ip', ['addr', 'replace', `${vip}/${vip.includes(':') ? 128 : 32}`, 'dev', 'lo']);
  },
  async setSysctl(key, value) {
    await writeFile(sysctlPath(key), `${value}\n`);
  },
};
