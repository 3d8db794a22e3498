/**
 * One announcement interface for every way wgfabric steers clients to a healthy server: BGP
 * (bird.ts: anycast routes for nodes, VIP routes for LB instances) and DNS (records of the
 * pool's name). The agent and the LB decide WHEN to announce (gate.ts, pure); an Announcer
 * only does it. Every driver passes contract.ts; fake.ts is the in-memory one for unit tests.
 */
import type { AnnounceState } from '../protocol/announce.js';

export type { AnnounceReport, AnnounceState } from '../protocol/announce.js';

/** How the addresses are offered. Drivers ignore what their medium cannot express (DNS: everything but gracefulShutdown). */
export interface AnnounceAttributes {
  /**
   * Draining: BGP adds GRACEFUL_SHUTDOWN (65535:0) so receivers set local-pref 0 and move new
   * flows elsewhere; a DNS driver drops the record. The state then reads 'draining'.
   */
  readonly gracefulShutdown: boolean;
  /** Standard BGP communities "ASN:VALUE" (each 0..65535), e.g. a site's tag. */
  readonly communities: readonly string[];
  /** BGP MULTI_EXIT_DISC, null for none. */
  readonly med: number | null;
  /** Extra copies of the local AS prepended to the AS path (0..16). */
  readonly prepend: number;
  /** LOCAL_PREF hint (iBGP sessions carry it; eBGP drops it), null or absent for none. */
  readonly localPref?: number | null;
}

export const NO_ATTRIBUTES: AnnounceAttributes = { gracefulShutdown: false, communities: [], med: null, prepend: 0 };

/** A set of host addresses (IPv4 as /32, IPv6 as /128) with their attributes. */
export interface Announcement {
  /** IP literals, no prefix length; at least one. */
  readonly addresses: readonly string[];
  readonly attributes: AnnounceAttributes;
}

/** What an announcer holds now, read back from the speaker where it can be. */
export interface AnnouncerStatus {
  readonly state: AnnounceState;
  /** Offered now (empty when withdrawn), sorted. */
  readonly addresses: readonly string[];
  /** Attributes of what is offered (null when withdrawn). */
  readonly attributes: AnnounceAttributes | null;
  /** The reason given with the last announce/withdraw. */
  readonly reason: string;
  /** When the state last changed. */
  readonly since: Date;
}

/**
 * Offers a set of addresses to the network and takes it back. Contract (contract.ts):
 * - announce() replaces the whole set: addresses not in it are withdrawn; the same call twice
 *   is a no-op; it resolves once the speaker holds the new set.
 * - withdraw() takes everything back, at once, and resolves once the speaker no longer offers
 *   it; withdrawing twice is fine.
 * - bad input (not an IP literal, community out of range) rejects with WGF_ERR_VALIDATION and
 *   changes nothing.
 * - close() releases the driver's resources and does NOT withdraw (a restarting agent must not
 *   flap the route); callers withdraw first when they mean it.
 */
export interface Announcer {
  /** 'bgp', 'dns', 'fake'. */
  readonly kind: string;
  announce(a: Announcement, reason: string): Promise<void>;
  withdraw(reason: string): Promise<void>;
  status(): Promise<AnnouncerStatus>;
  close(): Promise<void>;
}

/** 'draining' when offered with GRACEFUL_SHUTDOWN, else 'announced'. */
export function stateOf(attrs: AnnounceAttributes): AnnounceState {
  return attrs.gracefulShutdown ? 'draining' : 'announced';
}
