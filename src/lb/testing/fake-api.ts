import { DEFAULT_ANYCAST_SETTINGS } from '../../protocol/announce.js';
import type { LbReportInput } from '../../protocol/api.js';
import { FabricError } from '../../protocol/errors.js';
import type { LbReport, Node, NodeStatus, Peer, Pool } from '../../protocol/types.js';
import { generateKeyPair, toBase64 } from '../../wg/keys.js';
import type { LbApi } from '../service.js';

const META = { revision: 1, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };

/** A pool `name` with the IPv4 prefix 10.<n>.0.0/16 and a small LB table (251 slots). */
export function fakePool(name: string, n: number, over: Partial<Pool> = {}): Pool {
  return {
    ...META, name, description: '', publicKey: toBase64(generateKeyPair().publicKey), listenPort: 51820, ipv4Prefix: `10.${n}.0.0/16`, ipv6Prefix: null,
    endpoint: null, dns: [], mtu: null, persistentKeepalive: 0, labels: {}, lb: { affinity: 'src-ip-port', tableSize: 251 },
    anycast: DEFAULT_ANYCAST_SETTINGS, ...over,
  };
}

/** A node of `pool` at `endpoint`, active, weight 1, with a fresh `ready` report. */
export function fakeNode(pool: string, name: string, endpoint: string | null, over: Partial<Node> = {}): Node {
  const status: NodeStatus = {
    reportedAt: new Date().toISOString(), appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready: true, message: '',
  };
  return { ...META, pool, name, endpoint, adminState: 'active', weight: 1, labels: {}, status, ...over };
}

/**
 * An in-memory control plane of several pools for LB tests: pools, nodes, peers and LB
 * reports. Like the real one (control/peers.ts), a public key may be a peer once per pool
 * (WGF_ERR_ALREADY_EXISTS for a second peer of one pool with it) and in any number of pools.
 */
export class FakeLbApi implements LbApi {
  readonly pools = new Map<string, Pool>();
  /** Nodes per pool. */
  readonly nodes = new Map<string, Node[]>();
  /** Peers by "pool/name". */
  readonly peers = new Map<string, Peer>();
  /** Every report stored, in order. */
  readonly reports: (LbReportInput & { pool: string; instance: string })[] = [];
  /** Reads of these pools fail with WGF_ERR_UNAVAILABLE (getPool; the rest works). */
  readonly failing = new Set<string>();
  private next = 2;

  private poolOf(pool: string): Pool {
    const p = this.pools.get(pool);
    if (!p) throw new FabricError('WGF_ERR_NOT_FOUND', `no pool ${pool}`);
    return p;
  }

  getPool = async (pool: string): Promise<Pool> => {
    if (this.failing.has(pool)) throw new FabricError('WGF_ERR_UNAVAILABLE', `reading pool ${pool} fails`);
    return this.poolOf(pool);
  };

  listNodes = async (pool: string) => (this.poolOf(pool), { items: this.nodes.get(pool) ?? [], next: null, revision: 1 });

  getPeer = async (pool: string, name: string): Promise<Peer> => {
    const p = this.peers.get(`${pool}/${name}`);
    if (!p) throw new FabricError('WGF_ERR_NOT_FOUND', `no peer ${name} in pool ${pool}`);
    return p;
  };

  createPeer = async (pool: string, input: { name: string; publicKey: string; labels?: Record<string, string> }): Promise<Peer> => {
    const prefix = this.poolOf(pool).ipv4Prefix!;
    if (this.peers.has(`${pool}/${input.name}`)) throw new FabricError('WGF_ERR_ALREADY_EXISTS', `peer ${input.name} exists in pool ${pool}`);
    const holder = [...this.peers.values()].find((p) => p.pool === pool && p.publicKey === input.publicKey);
    if (holder) throw new FabricError('WGF_ERR_ALREADY_EXISTS', `this public key is already used by peer ${holder.name} of pool ${pool}`);
    const address = `${prefix.split('/')[0]!.replace(/\.0$/, `.${this.next++}`)}/32`;
    const p: Peer = { ...META, pool, name: input.name, publicKey: input.publicKey, addresses: [address], allowedIps: [], enabled: true, labels: input.labels ?? {}, expiresAt: null, hasPresharedKey: false };
    this.peers.set(`${pool}/${p.name}`, p);
    return p;
  };

  deletePeer = async (pool: string, name: string): Promise<void> => {
    this.peers.delete(`${pool}/${name}`);
  };

  putLbStatus = async (pool: string, instance: string, input: LbReportInput): Promise<LbReport> => {
    this.reports.push({ ...input, pool, instance });
    return { ...input, pool, instance, reportedAt: new Date().toISOString(), revision: this.reports.length };
  };
}
