import type { Announcer } from './announcer.js';
import type { Observe } from './contract.js';

/**
 * What the network sees of a DNS announcer: the records in the zone. DNS can not mark a record
 * "avoid me", so draining shows outside as the record being gone while the announcer still
 * offers the address with gracefulShutdown: such an address is reported { gracefulShutdown: true }.
 */
export function dnsObserve(announcer: Announcer, published: () => Promise<readonly string[]>): Observe {
  return async () => {
    const inZone = new Set(await published());
    const out = new Map([...inZone].map((a) => [a, { gracefulShutdown: false }]));
    const st = await announcer.status();
    if (st.attributes?.gracefulShutdown) for (const a of st.addresses) if (!inZone.has(a)) out.set(a, { gracefulShutdown: true });
    return out;
  };
}
