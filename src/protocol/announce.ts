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
  readonly addresses: string[];
  /** ISO time of the last state change. */
  readonly since: string;
}

/**
 * How the nodes of a pool announce (Pool.anycast): the anycast addresses every node offers
 * while it serves the pool, and the drain policy. Empty `addresses`: nodes announce nothing.
 */
export interface AnycastSettings {
  /** Host addresses (IPv4 announced as /32, IPv6 as /128), at most MAX_ANYCAST_ADDRESSES. */
  readonly addresses: string[];
  /** How long a draining node keeps announcing with GRACEFUL_SHUTDOWN before it withdraws. */
  readonly drainSeconds: number;
  /** Standard communities "ASN:VALUE" added to every announcement (e.g. the site's tag). */
  readonly communities: string[];
  /** MULTI_EXIT_DISC sent with the route, null for none. */
  readonly med: number | null;
  /** AS-path prepends (0..16): a site that should be a backup prepends. */
  readonly prepend: number;
}

export const MAX_ANYCAST_ADDRESSES = 8;
export const MAX_ANNOUNCE_COMMUNITIES = 16;
export const MAX_DRAIN_SECONDS = 3600;
export const DEFAULT_ANYCAST_SETTINGS: AnycastSettings = { addresses: [], drainSeconds: 10, communities: [], med: null, prepend: 0 };

/** The anycast settings of a pool (or its stored record): defaults field by field where it has none (stored before they existed). */
export function anycastSettingsOf(pool: { readonly anycast?: Partial<AnycastSettings> | undefined }): AnycastSettings {
  const a = pool.anycast ?? {};
  return {
    addresses: [...(a.addresses ?? [])], drainSeconds: a.drainSeconds ?? DEFAULT_ANYCAST_SETTINGS.drainSeconds,
    communities: [...(a.communities ?? [])], med: a.med ?? null, prepend: a.prepend ?? 0,
  };
}

/**
 * A node's own BGP policy (Node.announcePolicy), overriding its pool's anycast settings field by
 * field: a field set here replaces the pool's (communities replace, they do not add up); a field
 * left out follows the pool. localPref is a hint for the node's site: sent as LOCAL_PREF on iBGP
 * sessions (eBGP drops it, RFC 4271), so a site's route reflectors prefer or avoid this node.
 */
export interface NodeAnnouncePolicy {
  readonly communities?: string[];
  readonly med?: number | null;
  readonly prepend?: number;
  readonly localPref?: number | null;
}

export const MAX_LOCAL_PREF = 4294967295;

/** What a node offers with its routes: the pool's settings with the node's policy over them. Pure. */
export function effectiveAnnouncePolicy(pool: AnycastSettings, node: NodeAnnouncePolicy | undefined): { communities: string[]; med: number | null; prepend: number; localPref: number | null } {
  return {
    communities: [...(node?.communities ?? pool.communities)], med: node?.med !== undefined ? node.med : pool.med,
    prepend: node?.prepend ?? pool.prepend, localPref: node?.localPref ?? null,
  };
}
