import { Type } from '@sinclair/typebox';

/**
 * The readiness stream of a pool: GET /v1/pools/{pool}/readiness?maxAgeMs=N, server-sent events.
 *
 * A node is ready when its agent's last status report says `ready` and was stamped at most
 * maxAgeMs ago (the server's clock stamped it and judges its age). Status reports are not in
 * the pool's change stream (agents report every few seconds; every agent would receive every
 * other node's reports), so the load balancers, which need only this one bit per node, follow
 * it here: the server sends only the bits that flip.
 *
 *   event: readiness  data: ReadinessEvent; the first one is `full` (every node that ever
 *                     reported: a node missing from it is not ready), then only changes
 *   event: heartbeat  data: {} every heartbeat interval (a silent stream is a dead one)
 *   event: error      data: error body, then the stream ends
 * There is nothing to resume: a reconnect starts with a `full` event again.
 */
export interface ReadinessEvent {
  /** True: `nodes` is the whole state (replace); false: only the nodes whose readiness flipped. */
  readonly full: boolean;
  /** Node name -> ready. A node whose status is gone (node deleted) is sent as false. */
  readonly nodes: Readonly<Record<string, boolean>>;
}

/** Default age after which a `ready` report no longer counts (the LB's --ready-max-age-ms default). */
export const READINESS_MAX_AGE_MS = 15_000;
/** Bounds of maxAgeMs. */
export const READINESS_MAX_AGE_LIMITS = { min: 100, max: 86_400_000 } as const;

/** Query string of the readiness stream (strings on the wire). */
export const ReadinessQuery = Type.Object({
  maxAgeMs: Type.Optional(Type.String({ pattern: '^[0-9]{1,8}$', description: `age in ms after which a ready report no longer counts (default ${READINESS_MAX_AGE_MS})` })),
}, { additionalProperties: false });
