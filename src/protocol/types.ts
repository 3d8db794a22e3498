import type { AnnounceReport, AnycastSettings, NodeAnnouncePolicy } from './announce.js';
import type { PeerSession } from './sessions.js';
/**
 * The shared language of wgfabric: entities as the API returns them and the change
 * events the agent consumes. Every role imports these; none imports another role's internals.
 * Keys are WireGuard base64 (44 chars). Timestamps are RFC 3339 strings in UTC.
 */

export type Role = 'admin' | 'operator' | 'read-only' | 'node';
export type AdminState = 'active' | 'draining' | 'disabled';

/** Fields every stored object carries. `revision` is the store modRevision: the ETag. */
export interface Meta {
  readonly revision: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Flow hash key of a pool's load balancers: source address and port, or source address only. */
export type LbAffinity = 'src-ip-port' | 'src-ip';

/**
 * How every load balancer of a pool builds its table. Pool-wide, not per LB process, so every
 * instance of an LB tier computes the identical Maglev table (see src/protocol/lb-settings.ts).
 */
export interface LbSettings {
  readonly affinity: LbAffinity;
  /** Maglev table size M, a prime (default 65537); aim for M > 100 x backends. */
  readonly tableSize: number;
}

export interface Pool extends Meta {
  /** Unique name, also the identifier in paths: ^[a-z0-9][a-z0-9._-]{0,62}$ */
  readonly name: string;
  readonly description: string;
  /** Shared server public key of every node of the pool. The private key never leaves the server unencrypted except to the pool's nodes. */
  readonly publicKey: string;
  readonly listenPort: number;
  /** Tunnel prefixes the IPAM allocates from, e.g. "10.77.0.0/16", "fd77::/64". At least one. */
  readonly ipv4Prefix: string | null;
  readonly ipv6Prefix: string | null;
  /** Endpoint clients put in their config (host:port): a VIP, anycast IP or DNS name. */
  readonly endpoint: string | null;
  readonly dns: readonly string[];
  readonly mtu: number | null;
  /** Default PersistentKeepalive written into client configs (seconds, 0 = off). */
  readonly persistentKeepalive: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Load-balancer settings every `lb run` instance of the pool follows. */
  readonly lb: LbSettings;
  /** What the pool's nodes announce (BGP anycast) while they serve it, and how they drain. */
  readonly anycast: AnycastSettings;
}

export interface NodeStatus {
  readonly reportedAt: string;
  readonly appliedRevision: number;
  readonly peersDesired: number;
  readonly peersApplied: number;
  readonly lastReconcileAt: string | null;
  readonly driftRepairs: number;
  readonly ready: boolean;
  readonly message: string;
  /** The node's announcement (agent --announce), absent when it announces nothing. */
  readonly announce?: AnnounceReport;
  /** Direct server return (agent --vip): the VIPs the agent keeps on lo; absent without --vip. */
  readonly dsr?: DsrReport;
}

/** How an LB's replies reach clients: back through the LB, to the LB's own address (SNAT), or straight from the backend (direct server return). */
export type LbReturnPath = 'via-lb' | 'snat' | 'dsr';
export const LB_RETURN_PATHS: readonly LbReturnPath[] = ['via-lb', 'snat', 'dsr'];

/** NodeStatus.dsr: the VIPs on lo and the ARP sysctls (src/agent/vip.ts). */
export interface DsrReport {
  readonly vips: string[];
  /** Every VIP on lo, arp_ignore 1 (or 2) and arp_announce 2 at the last check. */
  readonly inPlace: boolean;
  /** Changes made after the start (drift repaired: a VIP deleted, a sysctl reset). */
  readonly repairs: number;
  /** Why the last check failed (inPlace false). */
  readonly error?: string;
}

export interface Node extends Meta {
  readonly pool: string;
  readonly name: string;
  /** Public endpoint of this backend (host:port), used by health checks and LBs. */
  readonly endpoint: string | null;
  readonly adminState: AdminState;
  /** Share of new load-balanced flows relative to the pool's other nodes: an integer 1..1000 (default 1). */
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  /** What the node's agent last reported; null until it reports. */
  readonly status: NodeStatus | null;
  /** The node's own BGP policy over its pool's anycast settings (absent: the pool's). */
  readonly announcePolicy?: NodeAnnouncePolicy;
}

/** A backend's probe state as a load balancer reports it ('unknown': no health decision yet). */
export type LbBackendState = 'probing' | 'up' | 'down' | 'suppressed' | 'unknown';

/** One backend in a load balancer's report. */
export interface LbBackendReport {
  /** The node name (the backend's Maglev identity). */
  readonly name: string;
  readonly state: LbBackendState;
  /** Why it is in or out, one line for people ("healthy", "probe failed: timeout after 300 ms"). */
  readonly reason: string;
  /** In the Maglev table the LB's kernel holds now. */
  readonly inTable: boolean;
  /** Slots of that table it owns (0 when out). */
  readonly slots: number;
  /** Round trip of the last successful probe (the WireGuard handshake), ms; null before one; absent from older LBs. */
  readonly rttMs?: number | null;
  /**
   * Flows the LB's data path holds to this backend now (conntrack entries on nft, flow-table
   * entries on bpf); absent when the LB could not count them (or predates the count).
   */
  readonly flows?: number;
}

/**
 * What one `wgfabric lb run` instance last reported about its VIP and backends. An observation
 * (like NodeStatus): not audited, not in the pool's change stream. The server stamps
 * `reportedAt`; a report older than a few heartbeats means the instance stopped reporting.
 */
export interface LbReport {
  readonly pool: string;
  /** The LB instance (`--instance`), unique per LB process of the pool. */
  readonly instance: string;
  readonly vip: string;
  readonly port: number;
  /** The table the instance holds: its size and flow hash key (from the pool's settings). */
  readonly tableSize: number;
  readonly affinity: LbAffinity;
  /** Successful table applies of the instance so far. */
  readonly generation: number;
  readonly lastError: string | null;
  /** Fail-open on readiness holds backends in the table (no backend's agent is in sync). */
  readonly failOpen: boolean;
  readonly backends: readonly LbBackendReport[];
  /** The instance's BGP announcement of its VIPs (lb run --announce), absent when it announces nothing. */
  readonly announce?: AnnounceReport;
  /** How replies reach clients (lb run --return-path); absent from LBs that predate the field. */
  readonly returnPath?: LbReturnPath;
  readonly reportedAt: string;
  /** Store revision of this report (its ETag). */
  readonly revision: number;
}

export interface Peer extends Meta {
  readonly pool: string;
  readonly name: string;
  readonly publicKey: string;
  /** Tunnel addresses allocated by IPAM, as host prefixes ("10.77.0.2/32", "fd77::2/128"). */
  readonly addresses: readonly string[];
  /** Extra AllowedIPs routed to this peer (site-to-site); must not overlap other peers of the pool. */
  readonly allowedIps: readonly string[];
  readonly enabled: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** After this time the peer is treated as disabled; null = never. */
  readonly expiresAt: string | null;
  /** Whether the peer has a preshared key (the key itself is never listed). */
  readonly hasPresharedKey: boolean;
  /**
   * The preshared key (base64): present only in the pool's snapshot and changes as read with
   * a node token of that pool, and in the answer to the create/update that set it.
   */
  readonly presharedKey?: string;
  /** Runtime session state (protocol/sessions.ts): only on GET peer and peer lists; null when no node reported one. */
  readonly session?: PeerSession | null;
}

/**
 * One audited action. Mutations are audited in the same store txn as the change itself, so
 * `revision` is the revision of that change. Reading a pool private key is audited as 'read';
 * store compaction as 'compact' of kind 'store'; a master-key rotation as 'update' of kind 'master-key'. Node status reports are not audited (they are
 * observations, not changes of desired state).
 */
export interface AuditEntry {
  readonly id: string;
  readonly revision: number;
  readonly time: string;
  /** Token name (never the token) that made the change; "system" for the bootstrap token. */
  readonly actor: string;
  readonly action: 'create' | 'update' | 'delete' | 'read' | 'compact';
  /** Object kind and path, e.g. "peer", "pools/demo/peers/alice". */
  readonly kind: 'pool' | 'node' | 'peer' | 'token' | 'store' | 'master-key';
  readonly object: string;
  /** The changed fields with their values before and after (absent on entries from before this was recorded). */
  readonly changes?: AuditChange[];
}

/**
 * One changed field of an audited object. Secrets (sealed keys, token hashes) are never shown:
 * `secret` is true and before/after are "(none)", "(set)" or "(changed)".
 */
export interface AuditChange {
  readonly field: string;
  /** Absent: the field did not exist before (created). */
  readonly before?: unknown;
  /** Absent: the field does not exist after (deleted). */
  readonly after?: unknown;
  readonly secret?: boolean;
}

/** An API token as listed; the secret is shown only once, when the token is created. */
export interface TokenInfo extends Pick<Meta, 'revision' | 'createdAt'> {
  readonly id: string;
  /** Unique; recorded as the audit actor. */
  readonly name: string;
  readonly role: Role;
  /** For role 'node': the pool and node the token is bound to; null otherwise. */
  readonly pool: string | null;
  readonly node: string | null;
  /** After this time the token is refused; null: it does not expire. */
  readonly expiresAt: string | null;
}

/**
 * One change of a pool's desired state, as streamed to agents. Nodes in changes and snapshots
 * carry `status: null`: they describe desired state; read a node itself for its status.
 */
export type PoolChange =
  | { readonly type: 'peer.put'; readonly revision: number; readonly peer: Peer }
  | { readonly type: 'peer.delete'; readonly revision: number; readonly name: string; readonly publicKey: string }
  | { readonly type: 'node.put'; readonly revision: number; readonly node: Node }
  | { readonly type: 'node.delete'; readonly revision: number; readonly name: string }
  | { readonly type: 'pool.put'; readonly revision: number; readonly pool: Pool }
  | { readonly type: 'pool.delete'; readonly revision: number; readonly name: string };

/** A consistent full view of one pool at `revision`; follow changes since `revision` after it. */
export interface PoolSnapshot {
  readonly revision: number;
  readonly pool: Pool;
  readonly nodes: readonly Node[];
  readonly peers: readonly Peer[];
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Opaque cursor for the next page; null on the last page. */
  readonly next: string | null;
  readonly revision: number;
}
