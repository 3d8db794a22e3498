/**
 * Per-peer session state: what each node's device sees of its peers (last handshake, bytes,
 * endpoint), reported by agents as deltas, merged by the control plane ("a peer's session is
 * the node with the most recent handshake") and shown on the peer resources and in a fleet
 * summary. Runtime state, not configuration: it never goes through the revisioned store, the
 * change stream or the audit log (see README "Who is connected where").
 *
 * Routes:
 * - PUT  /v1/pools/{pool}/nodes/{node}/sessions  (the node's own token, or admin): a report
 * - GET  /v1/pools/{pool}/peers/{peer}            carries `session` (PeerSession | null)
 * - GET  /v1/pools/{pool}/peers?connected=true|false  filters on it, each item with `session`
 * - GET  /v1/sessions/summary[?pool=P]           SessionSummary (read-only and up)
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** A session is live while its last handshake is younger than this (WireGuard's REJECT_AFTER_TIME). */
export const CONNECTED_WINDOW_SECONDS = 180;
/** Most peer entries plus removals one report may carry; agents split bigger ones. */
export const MAX_SESSION_ENTRIES = 4000;
/** Largest session report body (MAX_SESSION_ENTRIES entries fit with room to spare). */
export const SESSION_REPORT_BODY_LIMIT = 1024 * 1024;

const strict = { additionalProperties: false } as const;
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const NameS = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', minLength: 1, maxLength: 63 });
const KeyB64 = Type.String({ pattern: '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$', description: 'WireGuard public key, base64' });
const Bytes = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const EndpointS = Type.String({ minLength: 1, maxLength: 64, description: 'ip:port or [ipv6]:port as the device reports it' });
const TimeS = Type.String({ minLength: 1, maxLength: 40, description: 'RFC 3339 time' });

/** Wire schema: one peer as one node's device sees it (SessionEntry). */
export const SessionEntrySchema = Type.Object({
  publicKey: KeyB64,
  /** Unix seconds of the last handshake on this node; null: none since the device got the peer. */
  lastHandshake: Nullable(Type.Integer({ minimum: 0, maximum: 2 ** 40 })),
  rxBytes: Bytes,
  txBytes: Bytes,
  endpoint: Nullable(EndpointS),
}, strict);

/**
 * Wire schema: body of PUT .../nodes/{node}/sessions (SessionReportInput). Deltas on a chain:
 * a report with `reset` replaces everything the replica holds for the node; one without it
 * applies on top of report `seq - 1` of the same `epoch`. A replica that does not hold that
 * predecessor (restarted, missed a report, another agent process) answers `resync: true` and
 * the agent starts a new chain with `reset`. Repeating the last report is harmless.
 */
export const SessionReportInputSchema = Type.Object({
  /** Random id of the reporting agent process (a restart starts a new chain). */
  epoch: Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$' }),
  /** 1, 2, 3... within the epoch, per replica. */
  seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
  reset: Type.Boolean(),
  /** New or changed entries (handshake, bytes or endpoint differ from the last report). */
  peers: Type.Array(SessionEntrySchema, { maxItems: MAX_SESSION_ENTRIES }),
  /** Public keys this node no longer has a session entry for (peer removed from the device). */
  removed: Type.Array(KeyB64, { maxItems: MAX_SESSION_ENTRIES }),
}, strict);

/** Wire schema: answer to a session report (SessionReportResult). */
export const SessionReportResultSchema = Type.Object({
  /** False when the report was not applied (see resync). */
  accepted: Type.Boolean(),
  /** The replica lacks the predecessor of this report: send a `reset` report next. */
  resync: Type.Boolean(),
  /** Entries the replica now holds for this node. */
  peers: Type.Integer({ minimum: 0 }),
}, strict);

/** Wire schema: PeerSession, the `session` field of a peer as GET peer and peer list return it. */
export const PeerSessionSchema = Type.Object({
  /** The node holding the session: the one with the most recent handshake. */
  node: NameS,
  lastHandshakeAt: Nullable(TimeS),
  /** Seconds since lastHandshakeAt when the answer was made (null without a handshake). */
  handshakeAgeSeconds: Nullable(Type.Integer({ minimum: 0 })),
  /** A handshake within CONNECTED_WINDOW_SECONDS. */
  connected: Type.Boolean(),
  endpoint: Nullable(EndpointS),
  /** Bytes received from / sent to the peer by that node's device (since it got the peer). */
  rxBytes: Bytes,
  txBytes: Bytes,
  /**
   * Times the peer's endpoint address (IP; a port-only change is NAT rebinding and not
   * counted) changed, over every node, since this control-plane replica started.
   */
  endpointChanges: Type.Integer({ minimum: 0 }),
  /** When that node's report with this entry reached the control plane. */
  reportedAt: TimeS,
}, strict);

/** Wire schema: one node in the session summary. */
export const NodeSessionSummarySchema = Type.Object({
  node: NameS,
  /** Peers whose session this node holds and that are connected. */
  connected: Type.Integer({ minimum: 0 }),
  /** Entries (peers with any handshake) the node reported. */
  entries: Type.Integer({ minimum: 0 }),
  rxBytes: Bytes,
  txBytes: Bytes,
  /** The node's last session report (null: none reached this replica). */
  reportedAt: Nullable(TimeS),
}, strict);

/** Wire schema: one pool in the session summary. */
export const PoolSessionSummarySchema = Type.Object({
  pool: NameS,
  connected: Type.Integer({ minimum: 0 }),
  endpointChanges: Type.Integer({ minimum: 0 }),
  nodes: Type.Array(NodeSessionSummarySchema),
}, strict);

/** Wire schema: GET /v1/sessions/summary (SessionSummary). */
export const SessionSummarySchema = Type.Object({
  generatedAt: TimeS,
  connected: Type.Integer({ minimum: 0 }),
  endpointChanges: Type.Integer({ minimum: 0 }),
  pools: Type.Array(PoolSessionSummarySchema),
}, strict);

/** Query of GET /v1/sessions/summary. */
export const SessionSummaryQuery = Type.Object({ pool: Type.Optional(NameS) }, strict);

/** Address part of an endpoint "ip:port" or "[v6]:port" (what counts as an endpoint change). */
export function endpointAddress(endpoint: string): string {
  const m = /^\[(.*)\]:\d+$/.exec(endpoint);
  if (m) return m[1]!;
  const i = endpoint.lastIndexOf(':');
  return i > 0 ? endpoint.slice(0, i) : endpoint;
}

export type SessionEntry = Static<typeof SessionEntrySchema>;
export type SessionReportInput = Static<typeof SessionReportInputSchema>;
export type SessionReportResult = Static<typeof SessionReportResultSchema>;
export type PeerSession = Static<typeof PeerSessionSchema>;
export type NodeSessionSummary = Static<typeof NodeSessionSummarySchema>;
export type PoolSessionSummary = Static<typeof PoolSessionSummarySchema>;
export type SessionSummary = Static<typeof SessionSummarySchema>;
