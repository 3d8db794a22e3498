/**
 * The REST API's wire schemas (TypeBox), shared by the server (request validation, OpenAPI
 * document) and the client (typed inputs). Entities follow types.ts; a compile-time check at
 * the bottom keeps both in step. Every object schema rejects unknown fields and every string
 * and array is bounded. Query parameters are strings on the wire and are declared as such
 * (no type coercion anywhere); the server parses them after validation.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ANNOUNCE_STATES, MAX_ANNOUNCE_COMMUNITIES, MAX_ANYCAST_ADDRESSES, MAX_DRAIN_SECONDS, type AnnounceState } from './announce.js';
import { LB_AFFINITIES, MAX_LB_TABLE_SIZE, MAX_NODE_WEIGHT, MIN_LB_TABLE_SIZE, MIN_NODE_WEIGHT } from './lb-settings.js';
import { PeerSessionSchema } from './sessions.js';
import type { AuditEntry, LbAffinity, LbReport, Node, NodeStatus, Peer, Pool, PoolChange, PoolSnapshot, TokenInfo } from './types.js';

export { MAX_LB_TABLE_SIZE } from './lb-settings.js';

/** Names of pools, nodes, peers and tokens. */
export const NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,62}$';
export const LABEL_KEY_PATTERN = '^[a-z0-9][a-z0-9._/-]{0,62}$';
export const LABEL_VALUE_PATTERN = '^[A-Za-z0-9._-]{0,63}$';
/** At most this many labels per object. */
export const MAX_LABELS = 32;
export const MAX_DNS = 8;
export const MAX_ALLOWED_IPS = 64;
/** Page size bounds of every list route. */
export const LIMIT_DEFAULT = 100;
export const LIMIT_MAX = 1000;
/** Longest long-poll wait of GET .../changes, in seconds. */
export const WAIT_MAX_SECONDS = 60;
/** Most backends one load-balancer report may list. */
export const MAX_LB_BACKENDS = 1000;
/** Longest backend reason and LB error text in a load-balancer report. */
export const MAX_LB_REASON = 512;
export const MAX_LB_ERROR = 1024;

const strict = { additionalProperties: false } as const;

/** A name (NAME_PATTERN). */
export const Name = Type.String({ pattern: NAME_PATTERN, minLength: 1, maxLength: 63 });
/** Labels: at most MAX_LABELS pairs, keys and values by their patterns. */
export const Labels = Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), Type.String({ pattern: LABEL_VALUE_PATTERN, maxLength: 63 }), {
  maxProperties: MAX_LABELS,
  additionalProperties: false,
});
/** A WireGuard key in base64 (44 chars) or hex (64 chars); the server stores canonical base64. */
const KeyText = Type.String({ minLength: 44, maxLength: 64 });
const Cidr = Type.String({ minLength: 1, maxLength: 64 });
const Endpoint = Type.String({ minLength: 1, maxLength: 261, description: 'host:port, [v6]:port or dns-name:port' });
const Time = Type.String({ minLength: 1, maxLength: 40, description: 'RFC 3339 time' });
const Revision = Type.Integer({ minimum: 0 });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Mtu = Type.Integer({ minimum: 1280, maximum: 9000 });
const Keepalive = Type.Integer({ minimum: 0, maximum: 65535 });
const Dns = Type.Array(Type.String({ minLength: 1, maxLength: 45 }), { maxItems: MAX_DNS });
/** Wire schema: Role. */
export const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('read-only'), Type.Literal('node')]);
/** Wire schema: AdminState. */
export const AdminStateSchema = Type.Union([Type.Literal('active'), Type.Literal('draining'), Type.Literal('disabled')]);
/** Wire schema: LbAffinity. */
export const LbAffinitySchema = Type.Union(LB_AFFINITIES.map((a) => Type.Literal(a as LbAffinity)));
/** A Maglev table size; that it is a prime is checked by the control plane (field lb.tableSize). */
const LbTableSize = Type.Integer({ minimum: MIN_LB_TABLE_SIZE, maximum: MAX_LB_TABLE_SIZE, description: 'a prime' });
/** A node's weight (Node.weight). */
const Weight = Type.Integer({ minimum: MIN_NODE_WEIGHT, maximum: MAX_NODE_WEIGHT });

// ---- entities (responses) ----

const meta = { revision: Revision, createdAt: Time, updatedAt: Time };

/** Wire schema: LbSettings. */
export const LbSettingsSchema = Type.Object({ affinity: LbAffinitySchema, tableSize: LbTableSize }, strict);

/** Anycast settings (Pool.anycast); addresses and communities are checked by the control plane. */
const AnycastFields = {
  addresses: Type.Array(Type.String({ minLength: 2, maxLength: 45, description: 'IP literal' }), { maxItems: MAX_ANYCAST_ADDRESSES }),
  drainSeconds: Type.Integer({ minimum: 0, maximum: MAX_DRAIN_SECONDS }),
  communities: Type.Array(Type.String({ maxLength: 11, pattern: '^[0-9]{1,5}:[0-9]{1,5}$' }), { maxItems: MAX_ANNOUNCE_COMMUNITIES }),
  med: Nullable(Type.Integer({ minimum: 0, maximum: 4294967295 })),
  prepend: Type.Integer({ minimum: 0, maximum: 16 }),
};
/** Wire schema: AnycastSettings. */
export const AnycastSettingsSchema = Type.Object(AnycastFields, strict);
/** Anycast settings in a pool create or update: a field left out keeps its value. */
export const AnycastSettingsInputSchema = Type.Partial(Type.Object(AnycastFields, strict));
/** Wire schema: AnnounceReport (NodeStatus.announce). */
export const AnnounceReportSchema = Type.Object({
  kind: Type.String({ maxLength: 16 }), state: Type.Union(ANNOUNCE_STATES.map((s) => Type.Literal(s as AnnounceState))),
  reason: Type.String({ maxLength: 256 }), addresses: Type.Array(Type.String({ maxLength: 45 }), { maxItems: MAX_ANYCAST_ADDRESSES }), since: Time,
}, strict);

/** Wire schema: NodeAnnouncePolicy (a node's BGP policy over its pool's anycast settings). */
export const NodeAnnouncePolicySchema = Type.Object({
  communities: Type.Optional(Type.Array(Type.String({ maxLength: 11 }), { maxItems: MAX_ANNOUNCE_COMMUNITIES })),
  med: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 4294967295 }))),
  prepend: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 })),
  localPref: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 4294967295 }))),
}, strict);

/** Wire schema: Pool. */
export const PoolSchema = Type.Object({
  ...meta, name: Name, description: Type.String({ maxLength: 256 }), publicKey: KeyText, listenPort: Port,
  ipv4Prefix: Nullable(Cidr), ipv6Prefix: Nullable(Cidr), endpoint: Nullable(Endpoint), dns: Dns, mtu: Nullable(Mtu),
  persistentKeepalive: Keepalive, labels: Labels, lb: LbSettingsSchema, anycast: AnycastSettingsSchema,
}, strict);

/** Wire schema: DsrReport (NodeStatus.dsr, agent --vip). */
export const DsrReportSchema = Type.Object({
  vips: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 }), inPlace: Type.Boolean(), repairs: Type.Integer({ minimum: 0 }),
  error: Type.Optional(Type.String({ maxLength: 256 })),
}, strict);

/** Wire schema: NodeStatus. */
export const NodeStatusSchema = Type.Object({
  reportedAt: Time, appliedRevision: Revision, peersDesired: Type.Integer({ minimum: 0 }), peersApplied: Type.Integer({ minimum: 0 }),
  lastReconcileAt: Nullable(Time), driftRepairs: Type.Integer({ minimum: 0 }), ready: Type.Boolean(), message: Type.String({ maxLength: 512 }),
  announce: Type.Optional(AnnounceReportSchema), dsr: Type.Optional(DsrReportSchema),
}, strict);

/** Wire schema: Node. */
export const NodeSchema = Type.Object({
  ...meta, pool: Name, name: Name, endpoint: Nullable(Endpoint), adminState: AdminStateSchema, weight: Weight, labels: Labels,
  status: Nullable(NodeStatusSchema), announcePolicy: Type.Optional(NodeAnnouncePolicySchema),
}, strict);

/** Wire schema: Peer. */
export const PeerSchema = Type.Object({
  ...meta, pool: Name, name: Name, publicKey: KeyText, addresses: Type.Array(Cidr, { maxItems: 2 }),
  allowedIps: Type.Array(Cidr, { maxItems: MAX_ALLOWED_IPS }), enabled: Type.Boolean(), labels: Labels, expiresAt: Nullable(Time),
  hasPresharedKey: Type.Boolean(),
  presharedKey: Type.Optional(Type.String({ minLength: 44, maxLength: 44, description: 'only for the pool\'s node tokens and in the answer to the request that set it' })),
  session: Type.Optional(Nullable(PeerSessionSchema)),
}, strict);

/** Wire schema: AuditEntry. */
export const AuditEntrySchema = Type.Object({
  id: Type.String({ maxLength: 64 }), revision: Revision, time: Time, actor: Type.String({ maxLength: 64 }),
  action: Type.Union(['create', 'update', 'delete', 'read', 'compact'].map((a) => Type.Literal(a as AuditEntry['action']))),
  kind: Type.Union(['pool', 'node', 'peer', 'token', 'store', 'master-key'].map((k) => Type.Literal(k as AuditEntry['kind']))),
  object: Type.String({ maxLength: 256 }),
  changes: Type.Optional(Type.Array(Type.Object({
    field: Type.String({ maxLength: 64 }), before: Type.Optional(Type.Unknown()), after: Type.Optional(Type.Unknown()), secret: Type.Optional(Type.Boolean()),
  }, strict), { maxItems: 64 })),
}, strict);

/** Wire schema: Token. */
export const TokenSchema = Type.Object({
  id: Type.String({ maxLength: 32 }), name: Name, role: RoleSchema, pool: Nullable(Name), node: Nullable(Name), revision: Revision, createdAt: Time,
  expiresAt: Nullable(Time),
}, strict);

/** Wire schema: TokenCreated. */
export const TokenCreatedSchema = Type.Object({
  token: TokenSchema,
  secret: Type.String({ maxLength: 128, description: 'the bearer token; shown only in this response' }),
}, strict);

/** Largest probe round trip an LB report may carry (ms): a probe times out long before. */
export const MAX_LB_RTT_MS = 60_000;
/** Wire schema: LbBackendState. */
export const LbBackendStateSchema = Type.Union(['probing', 'up', 'down', 'suppressed', 'unknown'].map((s) => Type.Literal(s as LbReport['backends'][number]['state'])));
/** Wire schema: LbBackendReport. */
export const LbBackendReportSchema = Type.Object({
  name: Name, state: LbBackendStateSchema, reason: Type.String({ maxLength: MAX_LB_REASON }), inTable: Type.Boolean(),
  slots: Type.Integer({ minimum: 0, maximum: MAX_LB_TABLE_SIZE }),
  rttMs: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: MAX_LB_RTT_MS, description: 'round trip of the last successful probe, ms' }))),
  flows: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
}, strict);
const lbReportFields = {
  vip: Type.String({ minLength: 1, maxLength: 45, description: 'IP literal' }), port: Port,
  tableSize: Type.Integer({ minimum: 1, maximum: MAX_LB_TABLE_SIZE }), affinity: LbAffinitySchema, generation: Type.Integer({ minimum: 0 }),
  lastError: Nullable(Type.String({ maxLength: MAX_LB_ERROR })), failOpen: Type.Boolean(),
  backends: Type.Array(LbBackendReportSchema, { maxItems: MAX_LB_BACKENDS }),
  announce: Type.Optional(AnnounceReportSchema),
  returnPath: Type.Optional(Type.Union([Type.Literal('via-lb'), Type.Literal('snat'), Type.Literal('dsr')], { description: 'how replies reach clients: via-lb, snat or dsr' })),
};
/** Wire schema: LbReport. */
export const LbReportSchema = Type.Object({ pool: Name, instance: Name, ...lbReportFields, reportedAt: Time, revision: Revision }, strict);

/** A page of a list; `next` is an opaque cursor (null on the last page). */
export const PageSchema = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), next: Nullable(Type.String()), revision: Revision }, strict);

/** Wire schema: PoolSnapshot. */
export const PoolSnapshotSchema = Type.Object({
  revision: Revision, pool: PoolSchema, nodes: Type.Array(NodeSchema), peers: Type.Array(PeerSchema),
}, strict);

/** Wire schema: PoolChange. */
export const PoolChangeSchema = Type.Union([
  Type.Object({ type: Type.Literal('peer.put'), revision: Revision, peer: PeerSchema }, strict),
  Type.Object({ type: Type.Literal('peer.delete'), revision: Revision, name: Name, publicKey: KeyText }, strict),
  Type.Object({ type: Type.Literal('node.put'), revision: Revision, node: NodeSchema }, strict),
  Type.Object({ type: Type.Literal('node.delete'), revision: Revision, name: Name }, strict),
  Type.Object({ type: Type.Literal('pool.put'), revision: Revision, pool: PoolSchema }, strict),
  Type.Object({ type: Type.Literal('pool.delete'), revision: Revision, name: Name }, strict),
]);

/** GET .../changes: follow on with `since = revision`. */
export const ChangesResponseSchema = Type.Object({ revision: Revision, changes: Type.Array(PoolChangeSchema) }, strict);
/** Wire schema: PrivateKeyResponse. */
export const PrivateKeyResponseSchema = Type.Object({ privateKey: KeyText }, strict);
/** Wire schema: CompactResponse. */
export const CompactResponseSchema = Type.Object({ compactRevision: Revision, revision: Revision }, strict);
/** Wire schema: HealthResponse. */
export const HealthResponseSchema = Type.Object({ status: Type.String({ maxLength: 32 }), revision: Type.Optional(Revision) }, strict);
/** Wire schema: ErrorBody. */
export const ErrorBodySchema = Type.Object({
  error: Type.Object({
    code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 1024 }), hint: Type.String({ maxLength: 256 }),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }, strict),
}, strict);

// ---- requests ----

/** LB settings in a pool create or update: a field left out keeps its value (on create: its default). */
export const LbSettingsInputSchema = Type.Object({ affinity: Type.Optional(LbAffinitySchema), tableSize: Type.Optional(LbTableSize) }, strict);

/** Wire schema: PoolCreate. */
export const PoolCreateSchema = Type.Object({
  name: Name,
  description: Type.Optional(Type.String({ maxLength: 256 })),
  listenPort: Type.Optional(Port),
  ipv4Prefix: Type.Optional(Nullable(Cidr)),
  ipv6Prefix: Type.Optional(Nullable(Cidr)),
  endpoint: Type.Optional(Nullable(Endpoint)),
  dns: Type.Optional(Dns),
  mtu: Type.Optional(Nullable(Mtu)),
  persistentKeepalive: Type.Optional(Keepalive),
  labels: Type.Optional(Labels),
  lb: Type.Optional(LbSettingsInputSchema),
  anycast: Type.Optional(AnycastSettingsInputSchema),
  /** Import an existing server private key instead of generating one (admin only). */
  privateKey: Type.Optional(KeyText),
  /** Accept tunnel prefixes that overlap another pool's (refused otherwise). */
  allowOverlap: Type.Optional(Type.Boolean()),
}, strict);

/** Prefixes are fixed at creation: peers hold addresses from them. */
export const PoolUpdateSchema = Type.Object({
  description: Type.Optional(Type.String({ maxLength: 256 })),
  listenPort: Type.Optional(Port),
  endpoint: Type.Optional(Nullable(Endpoint)),
  dns: Type.Optional(Dns),
  mtu: Type.Optional(Nullable(Mtu)),
  persistentKeepalive: Type.Optional(Keepalive),
  labels: Type.Optional(Labels),
  lb: Type.Optional(LbSettingsInputSchema),
  anycast: Type.Optional(AnycastSettingsInputSchema),
}, strict);

/** Wire schema: NodeCreate. */
export const NodeCreateSchema = Type.Object({
  name: Name, endpoint: Type.Optional(Nullable(Endpoint)), adminState: Type.Optional(AdminStateSchema), weight: Type.Optional(Weight),
  labels: Type.Optional(Labels), announcePolicy: Type.Optional(NodeAnnouncePolicySchema),
}, strict);

/** Wire schema: NodeUpdate. */
export const NodeUpdateSchema = Type.Object({
  endpoint: Type.Optional(Nullable(Endpoint)), adminState: Type.Optional(AdminStateSchema), weight: Type.Optional(Weight),
  labels: Type.Optional(Labels), announcePolicy: Type.Optional(Nullable(NodeAnnouncePolicySchema)),
}, strict);

/** What an agent reports; the server stamps `reportedAt` itself. */
export const NodeStatusInputSchema = Type.Object({
  appliedRevision: Revision, peersDesired: Type.Integer({ minimum: 0 }), peersApplied: Type.Integer({ minimum: 0 }),
  lastReconcileAt: Nullable(Time), driftRepairs: Type.Integer({ minimum: 0 }), ready: Type.Boolean(), message: Type.String({ maxLength: 512 }),
  announce: Type.Optional(AnnounceReportSchema), dsr: Type.Optional(DsrReportSchema),
}, strict);

/** What a load balancer reports about its VIP and backends; the server stamps `reportedAt`. */
export const LbReportInputSchema = Type.Object({ ...lbReportFields }, strict);

/** Wire schema: PeerCreate. */
export const PeerCreateSchema = Type.Object({
  name: Name,
  publicKey: KeyText,
  /** Requested tunnel addresses (at most one IPv4 and one IPv6); the rest is allocated. */
  addresses: Type.Optional(Type.Array(Cidr, { maxItems: 2 })),
  allowedIps: Type.Optional(Type.Array(Cidr, { maxItems: MAX_ALLOWED_IPS })),
  enabled: Type.Optional(Type.Boolean()),
  labels: Type.Optional(Labels),
  expiresAt: Type.Optional(Nullable(Time)),
  /** Preshared key (base64 or hex), stored sealed; sent back only to the pool's nodes. */
  presharedKey: Type.Optional(KeyText),
}, strict);

/** Addresses are fixed for the life of a peer (delete and re-create it to renumber). */
export const PeerUpdateSchema = Type.Object({
  publicKey: Type.Optional(KeyText),
  allowedIps: Type.Optional(Type.Array(Cidr, { maxItems: MAX_ALLOWED_IPS })),
  enabled: Type.Optional(Type.Boolean()),
  labels: Type.Optional(Labels),
  expiresAt: Type.Optional(Nullable(Time)),
  /** A new preshared key (rotation), or null to remove it. */
  presharedKey: Type.Optional(Nullable(KeyText)),
}, strict);

/** Role 'node' needs pool and node; the other roles must not carry them. */
export const TokenCreateSchema = Type.Object({
  name: Name, role: RoleSchema, pool: Type.Optional(Name), node: Type.Optional(Name),
  expiresAt: Type.Optional(Nullable(Time)),
}, strict);

/** Compacts the change log up to `revision` (default: the current revision). */
export const CompactRequestSchema = Type.Object({ revision: Type.Optional(Type.Integer({ minimum: 0 })) }, strict);

// ---- params and queries (strings on the wire) ----

/** Path parameters. */
export const PoolParams = Type.Object({ pool: Name }, strict);
/** Path parameters. */
export const NodeParams = Type.Object({ pool: Name, node: Name }, strict);
/** Path parameters. */
export const PeerParams = Type.Object({ pool: Name, peer: Name }, strict);
/** Path parameters. */
export const LbParams = Type.Object({ pool: Name, instance: Name }, strict);
/** Path parameters. */
export const TokenParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{16}$' }) }, strict);

const LimitQ = Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: `page size 1..${LIMIT_MAX}, default ${LIMIT_DEFAULT}` });
const CursorQ = Type.String({ pattern: '^[A-Za-z0-9_-]{1,400}$', description: 'opaque cursor from the previous page' });
const RevisionQ = Type.String({ pattern: '^(?:0|[1-9][0-9]{0,14})$' });
const BoolQ = Type.Union([Type.Literal('true'), Type.Literal('false')]);
const LabelQ = Type.String({ maxLength: 512, description: 'label selector: k=v[,k=v...]' });
const page = { limit: Type.Optional(LimitQ), cursor: Type.Optional(CursorQ) };

/** Query string of PoolList routes (strings on the wire). */
export const PoolListQuery = Type.Object({ ...page, label: Type.Optional(LabelQ) }, strict);
/** Query string of NodeList routes (strings on the wire). */
export const NodeListQuery = Type.Object({ ...page, label: Type.Optional(LabelQ), adminState: Type.Optional(AdminStateSchema) }, strict);
/** Query string of PeerList routes (strings on the wire). */
export const PeerListQuery = Type.Object({
  ...page, label: Type.Optional(LabelQ), enabled: Type.Optional(BoolQ),
  prefix: Type.Optional(Type.String({ pattern: '^[a-z0-9._-]{1,63}$', description: 'name prefix' })),
  connected: Type.Optional(BoolQ),
}, strict);
/** Query string of AuditList routes (strings on the wire). */
export const AuditListQuery = Type.Object({
  ...page,
  actor: Type.Optional(Type.String({ maxLength: 64 })),
  kind: Type.Optional(AuditEntrySchema.properties.kind),
  action: Type.Optional(AuditEntrySchema.properties.action),
  object: Type.Optional(Type.String({ maxLength: 256, description: 'object path prefix, e.g. pools/demo/' })),
  afterId: Type.Optional(Type.String({ pattern: '^[0-9a-f-]{1,64}$', description: 'only entries after this audit id (ids sort by time): resume a follow' })),
}, strict);
/** Query string of LbList routes (strings on the wire). */
export const LbListQuery = Type.Object({ ...page }, strict);
/** Query string of TokenList routes (strings on the wire). */
export const TokenListQuery = Type.Object({ ...page }, strict);
/** For routes that take no query parameters: any is refused rather than ignored. */
export const NoQuery = Type.Object({}, strict);
/** Query string of PoolDelete routes (strings on the wire). */
export const PoolDeleteQuery = Type.Object({ force: Type.Optional(BoolQ) }, strict);
/** Query string of Changes routes (strings on the wire). */
export const ChangesQuery = Type.Object({
  since: RevisionQ,
  wait: Type.Optional(Type.String({ pattern: '^(?:[0-9]|[1-5][0-9]|60)$', description: `long-poll seconds 0..${WAIT_MAX_SECONDS}` })),
}, strict);
/** Query string of Watch routes (strings on the wire). */
export const WatchQuery = Type.Object({
  since: RevisionQ,
  /** Only these kinds of changes (comma-separated pool,node,peer; default all): a load balancer needs no peers. */
  kinds: Type.Optional(Type.String({ pattern: '^(?:pool|node|peer)(?:,(?:pool|node|peer)){0,2}$', description: 'comma-separated change kinds to send: pool, node, peer (default all)' })),
}, strict);

// ---- static types ----

/** Static type of the PoolCreate wire form. */
export type PoolCreate = Static<typeof PoolCreateSchema>;
/** Static type of the PoolUpdate wire form. */
export type PoolUpdate = Static<typeof PoolUpdateSchema>;
/** Static type of the NodeCreate wire form. */
export type NodeCreate = Static<typeof NodeCreateSchema>;
/** Static type of the NodeUpdate wire form. */
export type NodeUpdate = Static<typeof NodeUpdateSchema>;
/** Static type of the NodeStatusInput wire form. */
export type NodeStatusInput = Static<typeof NodeStatusInputSchema>;
/** Static type of the LbReportInput wire form. */
export type LbReportInput = Static<typeof LbReportInputSchema>;
/** Static type of the PeerCreate wire form. */
export type PeerCreate = Static<typeof PeerCreateSchema>;
/** Static type of the PeerUpdate wire form. */
export type PeerUpdate = Static<typeof PeerUpdateSchema>;
/** Static type of the TokenCreate wire form. */
export type TokenCreate = Static<typeof TokenCreateSchema>;
/** Static type of the CompactRequest wire form. */
export type CompactRequest = Static<typeof CompactRequestSchema>;
/** Static type of the PoolListFilter wire form. */
export type PoolListFilter = Static<typeof PoolListQuery>;
/** Static type of the NodeListFilter wire form. */
export type NodeListFilter = Static<typeof NodeListQuery>;
/** Static type of the PeerListFilter wire form. */
export type PeerListFilter = Static<typeof PeerListQuery>;
/** Static type of the AuditListFilter wire form. */
export type AuditListFilter = Static<typeof AuditListQuery>;
/** POST /v1/tokens answer: the only time the secret is shown. */
export interface TokenCreated { readonly token: TokenInfo; readonly secret: string }
/** GET .../changes answer: continue with since = revision. */
export interface ChangesResponse { readonly revision: number; readonly changes: readonly PoolChange[] }

// Compile-time contract: the response schemas describe exactly the shared entity types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Check<T extends true> = T;
type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer U)[] ? U[] : T[K] extends Readonly<Record<string, string>> ? Record<string, string> : T[K] };
/** Compile-time only: fails to type-check when a schema and its entity type drift apart. */
export type _SchemaChecks = [
  Check<Same<Static<typeof PoolSchema>, Mutable<Pool>>>,
  Check<Same<Static<typeof LbSettingsSchema>, Mutable<Pool['lb']>>>,
  Check<Same<Static<typeof NodeStatusSchema>, Mutable<NodeStatus>>>,
  Check<Same<Omit<Static<typeof NodeSchema>, 'status'>, Omit<Mutable<Node>, 'status'>>>,
  Check<Same<Static<typeof PeerSchema>, Mutable<Peer>>>,
  Check<Same<Static<typeof AuditEntrySchema>, Mutable<AuditEntry>>>,
  Check<Same<Static<typeof TokenSchema>, Mutable<TokenInfo>>>,
  Check<Same<Static<typeof LbReportSchema>, Mutable<LbReport>>>,
  Check<Same<LbReportInput, Omit<Mutable<LbReport>, 'pool' | 'instance' | 'reportedAt' | 'revision'>>>,
  Check<Same<Static<typeof PoolSnapshotSchema>['revision'], PoolSnapshot['revision']>>,
  Check<Same<Static<typeof PoolChangeSchema>['type'], PoolChange['type']>>,
];

// ---- store integrity check (POST /v1/admin/store/check) ----

/** Wire schema: body of POST /v1/admin/store/check ('quick' default). */
export const StoreCheckRequestSchema = Type.Object({ mode: Type.Optional(Type.Union([Type.Literal('quick'), Type.Literal('full')])) }, strict);
/** Wire schema: answer of POST /v1/admin/store/check (ok false: the store is now refusing writes). */
export const StoreCheckResponseSchema = Type.Object({
  ok: Type.Boolean(), mode: Type.String({ maxLength: 8 }), problems: Type.Array(Type.String()), durationMs: Type.Integer({ minimum: 0 }),
}, strict);

/** POST /v1/admin/master-key/rotate: the key to rotate to (default: the one new key of the serving replica's key file). */
export const RotateMasterKeyRequestSchema = Type.Object({ keyId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{16}$' })) }, strict);
export const RotateMasterKeyResponseSchema = Type.Object({
  from: Type.String(), to: Type.String(),
  resealed: Type.Object({ pools: Type.Integer({ minimum: 0 }), presharedKeys: Type.Integer({ minimum: 0 }) }, strict),
  revision: Revision,
}, strict);
export type RotateMasterKeyResponse = Static<typeof RotateMasterKeyResponseSchema>;

// ---- peer batch (POST /v1/pools/{pool}/peers/batch) ----

/**
 * Wire schema: one item of a peer batch. The item's own fields (peer, patch) are checked
 * per item by the control plane, so every failing item is named with its own error code.
 */
export const PeerBatchItemSchema = Type.Object({
  op: Type.Union([Type.Literal('create'), Type.Literal('update'), Type.Literal('delete')]),
  /** The peer of an update or delete. */
  name: Type.Optional(Type.String({ maxLength: 128 })),
  /** The new peer of a create (PeerCreate). */
  peer: Type.Optional(Type.Unknown()),
  /** The change of an update (PeerUpdate). */
  patch: Type.Optional(Type.Unknown()),
  /** Expected revision of the peer (update, delete). */
  ifMatch: Type.Optional(Type.Integer({ minimum: 1 })),
}, strict);
/** Wire schema: body of POST /v1/pools/{pool}/peers/batch: 1..1000 items, all or nothing. */
export const PeerBatchSchema = Type.Object({ items: Type.Array(PeerBatchItemSchema, { minItems: 1, maxItems: 1000 }) }, strict);
/** Wire schema: one result of a committed batch, in the order of the items. */
export const PeerBatchResultItemSchema = Type.Object({
  index: Type.Integer({ minimum: 0 }), op: Type.Union([Type.Literal('create'), Type.Literal('update'), Type.Literal('delete')]),
  name: Name, peer: Type.Optional(PeerSchema),
}, strict);
/** Wire schema: answer of a committed batch: every change has this one revision. */
export const PeerBatchResultSchema = Type.Object({ revision: Revision, results: Type.Array(PeerBatchResultItemSchema) }, strict);
/** Static types of the batch wire forms. */
export type PeerBatchItem =
  | { readonly op: 'create'; readonly peer: PeerCreate }
  | { readonly op: 'update'; readonly name: string; readonly patch: PeerUpdate; readonly ifMatch?: number }
  | { readonly op: 'delete'; readonly name: string; readonly ifMatch?: number };
export interface PeerBatchResultItem { readonly index: number; readonly op: PeerBatchItem['op']; readonly name: string; readonly peer?: Peer }
export interface PeerBatchResult { readonly revision: number; readonly results: readonly PeerBatchResultItem[] }
