import { anycastSettingsOf, type AnycastSettings, type NodeAnnouncePolicy } from '../protocol/announce.js';
import { FabricError } from '../protocol/errors.js';
import { DEFAULT_LB_SETTINGS, DEFAULT_NODE_WEIGHT, lbSettingsOf } from '../protocol/lb-settings.js';
import type { AdminState, AuditEntry, LbReport, LbSettings, Node, NodeStatus, Peer, Pool, TokenInfo } from '../protocol/types.js';
import type { KeyValue } from '../store/store.js';

/**
 * Stored records and their mapping to API entities. Records hold what the entity holds minus
 * `revision` (always the key's modRevision) plus private fields. The mappers copy fields
 * explicitly, so a private field (the sealed pool key, a token hash) can never reach a
 * response or a change event by accident. Fields added after records were first stored are
 * optional here and read as their defaults when absent (a record is never migrated in place).
 */

export interface PoolRecord {
  name: string;
  description: string;
  publicKey: string;
  /** SecretBox-sealed server private key (context: poolKeyContext(name)). Never returned. */
  privateKeySealed: string;
  listenPort: number;
  ipv4Prefix: string | null;
  ipv6Prefix: string | null;
  endpoint: string | null;
  dns: string[];
  mtu: number | null;
  persistentKeepalive: number;
  labels: Record<string, string>;
  /** Absent in pools stored before LB settings existed: read as DEFAULT_LB_SETTINGS. */
  lb?: LbSettings;
  /** Absent in pools stored before anycast settings existed: read as DEFAULT_ANYCAST_SETTINGS. */
  anycast?: AnycastSettings;
  createdAt: string;
  updatedAt: string;
  /** Set by the first phase of a pool delete: child mutations are refused from then on. */
  deleting?: boolean;
}

/** Stored node: desired state only (status lives under status/). */
export interface NodeRecord {
  pool: string;
  name: string;
  endpoint: string | null;
  adminState: AdminState;
  /** Absent in nodes stored before weights existed: read as DEFAULT_NODE_WEIGHT. */
  weight?: number;
  labels: Record<string, string>;
  /** The node's own BGP policy; absent: the pool's anycast settings. */
  announcePolicy?: NodeAnnouncePolicy;
  createdAt: string;
  updatedAt: string;
}

/** Stored peer; every address, the key and every AllowedIPs entry has a claim key. */
export interface PeerRecord {
  pool: string;
  name: string;
  publicKey: string;
  addresses: string[];
  allowedIps: string[];
  enabled: boolean;
  labels: Record<string, string>;
  expiresAt: string | null;
  /** The preshared key sealed with the master key (peerPskContext); absent = none. */
  presharedKeySealed?: string;
  createdAt: string;
  updatedAt: string;
}

/** Stored token: the hash of its secret, never the secret. */
export interface TokenRecord {
  id: string;
  name: string;
  role: TokenInfo['role'];
  pool: string | null;
  node: string | null;
  /** Hex SHA-256 of the secret (see tokens.ts). Never returned. */
  hash: string;
  createdAt: string;
  /** Absent or null: never expires. */
  expiresAt?: string | null;
  /**
   * Role 'node': the createRevision of the node it was made for. The token authenticates only
   * while that very node exists: not after the node is deleted, nor for a new node of the same
   * name. Absent in tokens made before this field existed (then: while a node of that name exists).
   */
  nodeCreateRevision?: number;
  /**
   * Role 'node': the createdAt of the node it was made for. Preferred over nodeCreateRevision
   * because it survives `wgfabric store copy|restore` (revisions are renumbered there, record
   * values are not). Absent in tokens made before it existed.
   */
  nodeCreatedAt?: string;
}

/**
 * Stored load-balancer report (under lbstatus/); revision is the key's modRevision. `affinity`
 * is absent in reports stored before it existed: read as DEFAULT_LB_SETTINGS.affinity.
 */
export type LbReportRecord = Omit<LbReport, 'revision' | 'affinity'> & { affinity?: LbReport['affinity'] };

/** Stored audit entry; id and revision come from its key and modRevision. */
export type AuditRecord = Omit<AuditEntry, 'id' | 'revision'>;

/** Associated data binding a sealed preshared key to its peer. */
export const peerPskContext = (pool: string, peer: string): string => `wgfabric peer preshared key\0${pool}\0${peer}`;

/** Associated data binding a sealed pool key to its pool. */
export const poolKeyContext = (pool: string): string => `wgfabric pool private key\0${pool}`;

/** Parses a stored JSON value; a corrupt value is an internal error (never echoed). */
export function decode<T>(kv: { key: string; value: string }): T {
  try {
    return JSON.parse(kv.value) as T;
  } catch (e) {
    throw new FabricError('WGF_ERR_INTERNAL', 'a stored record is corrupt', { key: kv.key }, { cause: e });
  }
}

/** Pool entity of a record (drops the sealed private key). */
export function poolEntity(r: PoolRecord, revision: number): Pool {
  return {
    name: r.name, description: r.description, publicKey: r.publicKey, listenPort: r.listenPort, ipv4Prefix: r.ipv4Prefix,
    ipv6Prefix: r.ipv6Prefix, endpoint: r.endpoint, dns: [...r.dns], mtu: r.mtu, persistentKeepalive: r.persistentKeepalive,
    labels: { ...r.labels }, lb: lbSettingsOf(r), anycast: anycastSettingsOf(r), revision, createdAt: r.createdAt, updatedAt: r.updatedAt,
  };
}

export { lbSettingsOf };

/** Node entity of a record with the given status. */
export function nodeEntity(r: NodeRecord, revision: number, status: NodeStatus | null): Node {
  return {
    pool: r.pool, name: r.name, endpoint: r.endpoint, adminState: r.adminState, weight: r.weight ?? DEFAULT_NODE_WEIGHT, labels: { ...r.labels }, status,
    ...(r.announcePolicy ? { announcePolicy: { ...r.announcePolicy } } : {}), revision, createdAt: r.createdAt, updatedAt: r.updatedAt,
  };
}

/**
 * Opens a peer's sealed preshared key (base64). Given only to views that may carry it: the
 * pool's node tokens (changes.ts) and the answer to the request that set it.
 */
export type PskOpener = (r: PeerRecord) => string | undefined;

/** Peer entity of a record; the preshared key only when `openPsk` is given (node views). */
export function peerEntity(r: PeerRecord, revision: number, openPsk?: PskOpener): Peer {
  const psk = openPsk && r.presharedKeySealed !== undefined ? openPsk(r) : undefined;
  return {
    pool: r.pool, name: r.name, publicKey: r.publicKey, addresses: [...r.addresses], allowedIps: [...r.allowedIps],
    enabled: r.enabled, labels: { ...r.labels }, expiresAt: r.expiresAt, hasPresharedKey: r.presharedKeySealed !== undefined,
    ...(psk !== undefined ? { presharedKey: psk } : {}), revision, createdAt: r.createdAt, updatedAt: r.updatedAt,
  };
}

/** Token entity of a record (drops the hash). */
export function tokenEntity(r: TokenRecord, revision: number): TokenInfo {
  return { id: r.id, name: r.name, role: r.role, pool: r.pool, node: r.node, revision, createdAt: r.createdAt, expiresAt: r.expiresAt ?? null };
}

/** The node status stored at `kv`, or null when none was reported. */
export function statusEntity(kv: KeyValue | undefined): NodeStatus | null {
  if (!kv) return null;
  const s = decode<NodeStatus>(kv);
  return {
    reportedAt: s.reportedAt, appliedRevision: s.appliedRevision, peersDesired: s.peersDesired, peersApplied: s.peersApplied,
    lastReconcileAt: s.lastReconcileAt, driftRepairs: s.driftRepairs, ready: s.ready, message: s.message,
    ...(s.announce ? { announce: s.announce } : {}),
    ...(s.dsr ? { dsr: s.dsr } : {}),
  };
}

/** LB report entity of a record. */
export function lbReportEntity(r: LbReportRecord, revision: number): LbReport {
  return {
    pool: r.pool, instance: r.instance, vip: r.vip, port: r.port, tableSize: r.tableSize, affinity: r.affinity ?? DEFAULT_LB_SETTINGS.affinity,
    generation: r.generation, lastError: r.lastError,
    failOpen: r.failOpen,
    backends: r.backends.map((b) => ({ name: b.name, state: b.state, reason: b.reason, inTable: b.inTable, slots: b.slots, ...(b.rttMs === undefined ? {} : { rttMs: b.rttMs }), ...(b.flows === undefined ? {} : { flows: b.flows }) })),
    ...(r.announce ? { announce: r.announce } : {}), ...(r.returnPath ? { returnPath: r.returnPath } : {}), reportedAt: r.reportedAt, revision,
  };
}

/** Audit entity of a stored entry. */
export function auditEntity(kv: KeyValue, id: string): AuditEntry {
  const r = decode<AuditRecord>(kv);
  return { id, revision: kv.modRevision, time: r.time, actor: r.actor, action: r.action, kind: r.kind, object: r.object, ...(r.changes ? { changes: r.changes } : {}) };
}
