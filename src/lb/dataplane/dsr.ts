/**
 * Direct server return (`lb run --return-path dsr`, BPF data path only): the LB sends a client's
 * packet unchanged (destination still VIP:port) to the chosen backend's MAC address; the backend
 * holds the VIP itself (on lo or a dummy device, with arp_ignore=1 / arp_announce=2 so it never
 * answers ARP for it) and answers the client directly from VIP:port, bypassing the LB. The
 * backend sees the client's real address. This only works when each backend is on the LB's own
 * L2 segment (its route has no gateway) and listens on the VIP's port (no port rewrite): both are
 * checked here before a table naming the backend is written (WGF_ERR_DSR_OFF_LINK otherwise,
 * nothing written), and again by the program (drop_dsr_off_link) for routes that change later.
 *
 * Replies never pass the LB, so it learns no receiver index from backend handshakes: steering is
 * by the flow table (established flows) and the Maglev table (new flows), as on nft.
 */
import { FabricError } from '../../protocol/errors.js';
import { parseIp } from '../addr.js';
import type { NftVip } from '../nft.js';

/** One entry of `ip -j route get ADDR`. */
interface RouteGet {
  readonly dst?: string;
  readonly gateway?: string;
  readonly via?: unknown;
  readonly dev?: string;
  readonly type?: string;
}

/**
 * Why `backend` cannot be served by direct server return, or undefined when it can. `route` is
 * the output of `ip -j route get <backend address>` in the LB's namespace (undefined: no route).
 */
export function dsrRefusal(backend: { name: string; address: string; port: number }, vipPort: number, route: string | undefined): string | undefined {
  if (backend.port !== vipPort) return `backend ${backend.name} listens on port ${backend.port}, not on the VIP's port ${vipPort}: direct server return does not rewrite ports`;
  let r: RouteGet | undefined;
  try {
    r = route === undefined ? undefined : (JSON.parse(route) as RouteGet[])[0];
  } catch {
    r = undefined;
  }
  if (!r) return `backend ${backend.name} (${backend.address}) has no route from this LB`;
  if (r.type !== undefined && r.type !== 'unicast') return `backend ${backend.name} (${backend.address}) is a ${r.type} address of this LB, not a host on its L2 segment`;
  if (r.gateway !== undefined || r.via !== undefined) return `backend ${backend.name} (${backend.address}) is reached via gateway ${r.gateway ?? JSON.stringify(r.via)}, not on this LB's L2 segment`;
  return undefined;
}

/**
 * Throws WGF_ERR_DSR_OFF_LINK naming every backend of `to` (those not already in `from`) that
 * direct server return cannot reach. `ip` runs `ip ARGS` in the LB's namespace.
 */
export async function checkDsrBackends(to: NftVip, from: NftVip | undefined, ip: (args: string[]) => Promise<string>): Promise<void> {
  const known = new Set((from?.backends ?? []).map((b) => `${parseIp(b.address).text}|${b.port}`));
  const problems: string[] = [];
  for (const b of to.backends) {
    if (known.has(`${parseIp(b.address).text}|${b.port}`)) continue;
    const route = await ip(['-j', 'route', 'get', parseIp(b.address).text]).catch(() => undefined);
    const why = dsrRefusal(b, to.port, route);
    if (why) problems.push(why);
  }
  if (problems.length > 0) {
    throw new FabricError('WGF_ERR_DSR_OFF_LINK', `direct server return refused: ${problems.join('; ')}`, { vip: to.vip, port: to.port, problems });
  }
}
