import { run } from '../sys/exec.js';
import type { Pool } from '../protocol/types.js';
import { formatIp, parseNet, serverAddress } from '../protocol/ipam.js';

/** The tunnel addresses every server of a pool carries: the first usable address of each prefix, with the prefix length. */
export function serverTunnelAddresses(pool: Pick<Pool, 'ipv4Prefix' | 'ipv6Prefix'>): string[] {
  const out: string[] = [];
  for (const [prefix, family] of [[pool.ipv4Prefix, 4], [pool.ipv6Prefix, 6]] as const) {
    if (!prefix) continue;
    const net = parseNet(prefix, 'prefix', false);
    out.push(`${formatIp(family, serverAddress(net))}/${net.len}`);
  }
  return out;
}

/**
 * Brings the WireGuard interface up with the pool's tunnel addresses and MTU. Idempotent
 * (`ip addr replace`), so an agent restart does not disturb running tunnels.
 */
export async function bringUp(iface: string, pool: Pick<Pool, 'ipv4Prefix' | 'ipv6Prefix' | 'mtu'>, netns?: string): Promise<void> {
  const o = netns ? { netns } : {};
  for (const addr of serverTunnelAddresses(pool)) await run('ip', ['addr', 'replace', addr, 'dev', iface], o);
  await run('ip', ['link', 'set', iface, 'mtu', String(pool.mtu ?? 1420), 'up'], o);
}
