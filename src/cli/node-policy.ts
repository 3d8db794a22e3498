/**
 * `node update --bgp-*`: a node's own BGP policy (Node.announcePolicy) over its pool's anycast
 * settings. Each flag sets one field; "pool" drops the field (the pool's value applies again);
 * --bgp-policy-clear drops them all. Pure: the new policy from the current one and the flags.
 */
import type { NodeAnnouncePolicy } from '../protocol/announce.js';
import { FabricError } from '../protocol/errors.js';
import { commaList } from './context.js';

export interface NodePolicyFlags {
  bgpCommunity?: string; bgpMed?: string; bgpPrepend?: string; bgpLocalPref?: string; bgpPolicyClear?: boolean;
}

export const NODE_POLICY_FLAG_HELP: readonly [string, string][] = [
  ['--bgp-community <list|pool>', "BGP communities ASN:VALUE of this node's announcements, comma-separated, replacing the pool's ('' for none; pool: the pool's)"],
  ['--bgp-med <n|none|pool>', "BGP MED of this node's announcements (none: no MED; pool: the pool's)"],
  ['--bgp-prepend <n|pool>', "AS-path prepends (0..16) of this node's announcements (pool: the pool's)"],
  ['--bgp-local-pref <n|none>', 'LOCAL_PREF hint for this node\'s site (iBGP carries it; eBGP drops it)'],
  ['--bgp-policy-clear', "drop this node's own BGP policy: the pool's anycast settings apply"],
];

function count(flag: string, v: string): number {
  if (!/^\d{1,10}$/.test(v)) throw new FabricError('WGF_ERR_VALIDATION', `${flag} must be a whole number, got "${v}"`, { field: flag.slice(2) });
  return Number(v);
}

/** The policy to send (null: clear it), or undefined when no --bgp-* flag is given. */
export function nodePolicyFromFlags(current: NodeAnnouncePolicy | undefined, f: NodePolicyFlags): NodeAnnouncePolicy | null | undefined {
  if (f.bgpPolicyClear) {
    if (f.bgpCommunity !== undefined || f.bgpMed !== undefined || f.bgpPrepend !== undefined || f.bgpLocalPref !== undefined) {
      throw new FabricError('WGF_ERR_VALIDATION', '--bgp-policy-clear does not combine with other --bgp-* flags', { field: 'bgp-policy-clear' });
    }
    return null;
  }
  if (f.bgpCommunity === undefined && f.bgpMed === undefined && f.bgpPrepend === undefined && f.bgpLocalPref === undefined) return undefined;
  const next: { -readonly [K in keyof NodeAnnouncePolicy]: NodeAnnouncePolicy[K] } = { ...current };
  if (f.bgpCommunity === 'pool') delete next.communities;
  else if (f.bgpCommunity !== undefined) next.communities = commaList(f.bgpCommunity);
  if (f.bgpMed === 'pool') delete next.med;
  else if (f.bgpMed !== undefined) next.med = f.bgpMed === 'none' ? null : count('--bgp-med', f.bgpMed);
  if (f.bgpPrepend === 'pool') delete next.prepend;
  else if (f.bgpPrepend !== undefined) next.prepend = count('--bgp-prepend', f.bgpPrepend);
  if (f.bgpLocalPref === 'none') delete next.localPref;
  else if (f.bgpLocalPref !== undefined) next.localPref = count('--bgp-local-pref', f.bgpLocalPref);
  return Object.keys(next).length > 0 ? next : null;
}
