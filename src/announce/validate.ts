import { FabricError } from '../protocol/errors.js';
import { canonicalIp } from '../wg/addr.js';
import type { AnnounceAttributes, Announcement } from './announcer.js';

/** Largest AS-path prepend count accepted (more only makes a path absurd). */
export const MAX_PREPEND = 16;

function bad(field: string, message: string): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', `${field}: ${message}`, { field });
}

/** "ASN:VALUE" with both halves 0..65535. */
export function isCommunity(s: string): boolean {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(s);
  return m !== null && Number(m[1]) <= 65535 && Number(m[2]) <= 65535;
}

export function validateAttributes(a: AnnounceAttributes): AnnounceAttributes {
  for (const c of a.communities) if (!isCommunity(c)) throw bad('communities', `"${c}" is not a community ASN:VALUE with both parts in 0..65535`);
  if (a.med !== null && (!Number.isInteger(a.med) || a.med < 0 || a.med > 0xffffffff)) throw bad('med', `${a.med} is not an integer in 0..4294967295`);
  if (!Number.isInteger(a.prepend) || a.prepend < 0 || a.prepend > MAX_PREPEND) throw bad('prepend', `${a.prepend} is not an integer in 0..${MAX_PREPEND}`);
  const localPref = a.localPref ?? null;
  if (localPref !== null && (!Number.isInteger(localPref) || localPref < 0 || localPref > 0xffffffff)) throw bad('localPref', `${localPref} is not an integer in 0..4294967295`);
  return { gracefulShutdown: a.gracefulShutdown === true, communities: [...new Set(a.communities)].sort(), med: a.med, prepend: a.prepend, localPref };
}

/** Checks and canonicalizes an announcement (addresses canonical, sorted, unique). Throws WGF_ERR_VALIDATION. */
export function validateAnnouncement(a: Announcement): Announcement {
  if (!Array.isArray(a.addresses) || a.addresses.length === 0) throw bad('addresses', 'at least one address is needed');
  const addresses = new Set<string>();
  for (const s of a.addresses) {
    const ip = typeof s === 'string' && !s.includes('/') ? canonicalIp(s) : null;
    if (ip === null) throw bad('addresses', `"${String(s)}" is not an IP address (a host address, without a prefix length)`);
    addresses.add(ip);
  }
  return { addresses: [...addresses].sort(), attributes: validateAttributes(a.attributes) };
}

export function sameAttributes(a: AnnounceAttributes | null, b: AnnounceAttributes | null): boolean {
  if (a === null || b === null) return a === b;
  return a.gracefulShutdown === b.gracefulShutdown && a.med === b.med && a.prepend === b.prepend && a.communities.join() === b.communities.join()
    && (a.localPref ?? null) === (b.localPref ?? null);
}
