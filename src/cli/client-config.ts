import type { Peer, Pool } from '../protocol/types.js';
import { newInterface, newPeer, renderConfig, type WgConfig } from '../wg/config.js';

export interface ClientConfigOptions {
  /** Route everything through the tunnel (0.0.0.0/0, ::/0) instead of only the pool prefixes. */
  readonly fullTunnel?: boolean;
  /** Override the pool's endpoint (e.g. one backend directly). */
  readonly endpoint?: string;
  /** The peer's preshared key (base64), when it has one: only its holder knows it. */
  readonly presharedKey?: string;
}

/**
 * The wg-quick config of one client. Pure: the private key is the client's own and only ever
 * lives on the client side (the control plane never sees it).
 */
export function clientConfig(pool: Pool, peer: Peer, privateKey: string, opts: ClientConfigOptions = {}): WgConfig {
  const routes = opts.fullTunnel
    ? ['0.0.0.0/0', ...(pool.ipv6Prefix ? ['::/0'] : [])]
    : [pool.ipv4Prefix, pool.ipv6Prefix].filter((p): p is string => p !== null);
  const endpoint = opts.endpoint ?? pool.endpoint ?? undefined;
  return {
    interface: newInterface({
      privateKey, addresses: [...peer.addresses], dns: [...pool.dns], ...(pool.mtu ? { mtu: pool.mtu } : {}),
    }),
    peers: [newPeer(pool.publicKey, {
      name: pool.name, allowedIps: routes, ...(endpoint ? { endpoint } : {}), ...(opts.presharedKey ? { presharedKey: opts.presharedKey } : {}),
      ...(pool.persistentKeepalive ? { persistentKeepalive: pool.persistentKeepalive } : {}),
    })],
  };
}

export function renderClientConfig(pool: Pool, peer: Peer, privateKey: string, opts: ClientConfigOptions = {}): string {
  return renderConfig(clientConfig(pool, peer, privateKey, opts));
}
