import ipaddr from 'ipaddr.js';
import type { PeerCreate, PoolCreate } from '../protocol/api.js';
import { NAME_PATTERN } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { WgConfig } from '../wg/config.js';

export interface ImportPlan {
  readonly pool: PoolCreate;
  readonly peers: readonly PeerCreate[];
  /** Interface settings that have no place in a pool (PostUp, Table, ...), reported to the user. */
  readonly dropped: readonly string[];
}

const nameRe = new RegExp(NAME_PATTERN);

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 63);
}

/**
 * Turns an existing single-server wg-quick config into a pool and its peers. Pure. The
 * server's own Address lines become the pool prefixes; each peer's host routes inside those
 * prefixes become its tunnel addresses, everything else its extra AllowedIPs. A peer's
 * PresharedKey goes along (the control plane stores it sealed and gives it only to nodes).
 */
export function planImport(cfg: WgConfig, poolName: string, endpoint?: string): ImportPlan {
  const iface = cfg.interface;
  if (!iface.privateKey) throw new FabricError('WGF_ERR_CONFIG_PARSE', 'the config has no [Interface] PrivateKey: it is not a server config');
  if (!nameRe.test(poolName)) throw new FabricError('WGF_ERR_VALIDATION', `pool name must match ${NAME_PATTERN}`);
  const prefixes: { v4?: [ipaddr.IPv4, number]; v6?: [ipaddr.IPv6, number] } = {};
  const ifaceDrops: string[] = [];
  for (const a of iface.addresses) {
    const [addr, len] = ipaddr.parseCIDR(a.includes('/') ? a : `${a}/${a.includes(':') ? 128 : 32}`);
    const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${len}`) : ipaddr.IPv6.networkAddressFromCIDR(`${addr}/${len}`);
    const have = addr.kind() === 'ipv4' ? prefixes.v4 : prefixes.v6;
    if (have) ifaceDrops.push(`Address = ${a} (a pool has one prefix per family: the first Address of each family is used)`);
    else if (addr.kind() === 'ipv4') prefixes.v4 = [net as ipaddr.IPv4, len];
    else prefixes.v6 = [net as ipaddr.IPv6, len];
  }
  for (const d of iface.dns) if (!ipaddr.isValid(d)) ifaceDrops.push(`DNS = ${d} (a search domain: pools carry resolver addresses only)`);
  if (iface.saveConfig !== undefined) ifaceDrops.push(`SaveConfig = ${iface.saveConfig} (the control plane holds the config)`);
  for (const x of iface.extra ?? []) ifaceDrops.push(`${x.key} = ${x.value} (not a key wgfabric knows)`);
  if (!prefixes.v4 && !prefixes.v6) throw new FabricError('WGF_ERR_CONFIG_PARSE', 'the [Interface] has no Address: cannot tell the tunnel prefix');
  const pool: PoolCreate = {
    name: poolName, privateKey: iface.privateKey, description: 'imported from a wg-quick config',
    ...(iface.listenPort ? { listenPort: iface.listenPort } : {}),
    ...(prefixes.v4 ? { ipv4Prefix: `${prefixes.v4[0]}/${prefixes.v4[1]}` } : {}),
    ...(prefixes.v6 ? { ipv6Prefix: `${prefixes.v6[0].toString()}/${prefixes.v6[1]}` } : {}),
    ...(iface.mtu ? { mtu: iface.mtu } : {}),
    ...(iface.dns.length ? { dns: iface.dns.filter((d) => ipaddr.isValid(d)) } : {}),
    ...(endpoint ? { endpoint } : {}),
  };
  const used = new Set<string>();
  const peerDrops: string[] = [];
  const peers = cfg.peers.map((p, i): PeerCreate => {
    let name = slug(p.name ?? '') || `peer-${i + 1}`;
    if (!nameRe.test(name) || used.has(name)) name = `peer-${i + 1}`;
    used.add(name);
    const addresses: string[] = [];
    const extra: string[] = [];
    for (const cidr of p.allowedIps) {
      const [addr, len] = ipaddr.parseCIDR(cidr);
      const v4 = addr.kind() === 'ipv4';
      const inPool = v4 ? prefixes.v4 && (addr as ipaddr.IPv4).match(prefixes.v4) : prefixes.v6 && (addr as ipaddr.IPv6).match(prefixes.v6);
      const host = len === (v4 ? 32 : 128);
      if (inPool && host && !addresses.some((x) => x.includes(':') === !v4)) addresses.push(cidr);
      else extra.push(cidr);
    }
    // Server-side Endpoint/PersistentKeepalive of a client: the backends learn client endpoints themselves.
    if (p.endpoint) peerDrops.push(`peer ${name}: Endpoint = ${p.endpoint} (backends learn each client's endpoint from its packets)`);
    for (const x of p.extra ?? []) peerDrops.push(`peer ${name}: ${x.key} = ${x.value} (not a key wgfabric knows)`);
    if (p.persistentKeepalive) peerDrops.push(`peer ${name}: PersistentKeepalive = ${p.persistentKeepalive} (set it in the client's config instead)`);
    return {
      name, publicKey: p.publicKey, ...(addresses.length ? { addresses } : {}), ...(extra.length ? { allowedIps: extra } : {}),
      ...(p.presharedKey ? { presharedKey: p.presharedKey } : {}),
    };
  });
  const dropped = [
    ...(['preUp', 'postUp', 'preDown', 'postDown'] as const).flatMap((k) => iface[k].map((v) => `${k}: ${v}`)),
    ...(iface.table ? [`Table = ${iface.table}`] : []), ...(iface.fwMark ? [`FwMark = ${iface.fwMark}`] : []),
    ...ifaceDrops, ...peerDrops,
  ];
  return { pool, peers, dropped };
}
