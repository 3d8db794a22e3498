/**
 * The include file the bird driver owns: one static protocol per address family
 * (`<prefix>4`, `<prefix>6`) holding the announced host routes with their BGP attributes.
 * The operator's bird.conf includes it and exports these protocols to its BGP sessions, e.g.
 *   include "/run/wgfabric/announce.conf";
 *   protocol bgp up { ...; ipv4 { export filter wgf_anycast_export; }; }
 * The filter `<prefix>_export` accepts only these routes and sets the MED there (bird sends a
 * MED to an eBGP neighbour only when the export filter sets it).
 * Pure: same input, same text.
 */
import { GRACEFUL_SHUTDOWN_COMMUNITY } from '../protocol/announce.js';
import { ipFamily } from '../wg/addr.js';
import type { AnnounceAttributes } from './announcer.js';

export interface BirdIncludeInput {
  /** Protocol name prefix, e.g. "wgf_anycast" (letters, digits, '_'). */
  readonly prefix: string;
  /** Our local AS, for prepends (bird adds it once itself on eBGP export). */
  readonly localAs: number | null;
  readonly addresses: readonly string[];
  readonly attributes: AnnounceAttributes;
  /** Written as `disabled no|yes`, so a reload or a restarted bird comes back in the state we last set. */
  readonly enabled: boolean;
}

export const PROTOCOL_PREFIX_RE = /^[A-Za-z][A-Za-z0-9_]{0,30}$/;

/** Filter statements that give a static route its BGP attributes. */
export function attributeStatements(a: AnnounceAttributes, localAs: number | null): string[] {
  const out: string[] = [];
  const communities = a.gracefulShutdown ? [GRACEFUL_SHUTDOWN_COMMUNITY, ...a.communities] : [...a.communities];
  for (const c of communities) {
    const [x, y] = c.split(':');
    out.push(`bgp_community.add((${Number(x)},${Number(y)}));`);
  }
  if (localAs !== null) for (let i = 0; i < a.prepend; i++) out.push(`bgp_path.prepend(${localAs});`);
  if (a.localPref !== undefined && a.localPref !== null) out.push(`bgp_local_pref = ${a.localPref};`);
  return out;
}

export function renderBirdInclude(i: BirdIncludeInput): string {
  const stmts = attributeStatements(i.attributes, i.localAs).join(' ');
  const proto = (fam: 4 | 6) => {
    const routes = i.addresses.filter((a) => ipFamily(a) === fam).map((a) => `  route ${a}/${fam === 4 ? 32 : 128} blackhole${stmts ? ` { ${stmts} }` : ''};`);
    return [`protocol static ${i.prefix}${fam} {`, `  ipv${fam};`, `  disabled ${i.enabled ? 'no' : 'yes'};`, ...routes, '}'].join('\n');
  };
  const med = i.attributes.med !== null ? ` bgp_med = ${i.attributes.med};` : '';
  const filter = `filter ${i.prefix}_export {\n  if proto = "${i.prefix}4" || proto = "${i.prefix}6" then {${med} accept; }\n  reject;\n}`;
  return `# Written by wgfabric (announce/bird.ts); do not edit: it is rewritten on every change.\n${proto(4)}\n${proto(6)}\n${filter}\n`;
}
