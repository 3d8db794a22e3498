import type { Peer, Pool } from '../protocol/types.js';

/**
 * The wg-quick config of a peer made in the browser: the same text as `wgfabric peer add
 * --config` (src/cli/client-config.ts renders it from the wg/ toolkit, which needs Node; this
 * one is for the browser and client-config.test.ts holds both to the same output). Pure. The
 * values come from the API, which validated them, and none may hold a line break.
 */
export function renderClientConfig(pool: Pool, peer: Peer, privateKey: string, presharedKey?: string): string {
  const line = (k: string, v: string) => {
    if (/[\r\n]/.test(v)) throw new Error(`${k} holds a line break`);
    return `${k} = ${v}`;
  };
  const out = ['[Interface]', line('PrivateKey', privateKey)];
  if (peer.addresses.length) out.push(line('Address', peer.addresses.join(', ')));
  if (pool.dns.length) out.push(line('DNS', pool.dns.join(', ')));
  if (pool.mtu) out.push(line('MTU', String(pool.mtu)));
  out.push('', line('# Name', pool.name), '[Peer]', line('PublicKey', pool.publicKey));
  if (presharedKey) out.push(line('PresharedKey', presharedKey));
  const routes = [pool.ipv4Prefix, pool.ipv6Prefix].filter((p): p is string => p !== null);
  if (routes.length) out.push(line('AllowedIPs', routes.join(', ')));
  if (pool.endpoint) out.push(line('Endpoint', pool.endpoint));
  if (pool.persistentKeepalive) out.push(line('PersistentKeepalive', String(pool.persistentKeepalive)));
  return `${out.join('\n')}\n`;
}

/** A file name for the config: the peer's name, safe on every OS. Pure. */
export function configFileName(pool: string, peer: string): string {
  return `${pool}-${peer}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) + '.conf';
}
