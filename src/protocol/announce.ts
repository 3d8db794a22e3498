/**
 * Announcement state as it crosses process boundaries: what an agent or LB instance reports
 * to the control plane (NodeStatus.announce), shows in `node list`/`status` and exports as
 * metrics. The announcers themselves live in src/announce/.
 */

/**
 * announced: the addresses are offered (BGP route / DNS record present).
 * draining: still offered, but marked to be avoided (BGP GRACEFUL_SHUTDOWN 65535:0 and the
 *   drain policy); withdrawn after the drain wait.
 * withdrawn: not offered.
 */
export type AnnounceState = 'announced' | 'draining' | 'withdrawn';

export const ANNOUNCE_STATES: readonly AnnounceState[] = ['announced', 'draining', 'withdrawn'];

/** The well-known GRACEFUL_SHUTDOWN community (RFC 8326). */
export const GRACEFUL_SHUTDOWN_COMMUNITY = '65535:0';

/** What one announcer (agent or LB instance) reports. */
export interface AnnounceReport {
  /** The announcer kind: 'bgp', 'dns'. */
  readonly kind: string;
  readonly state: AnnounceState;
  /** One line for people: why it is in that state ("healthy", "probe failed: timeout after 300 ms"). */
  readonly reason: string;
  /** Addresses offered now (empty when withdrawn). */
  readonly addresses: readonly string[];
  /** ISO time of the last state change. */
  readonly since: string;
}
