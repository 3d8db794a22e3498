/**
 * The announcement routes of an LB's HTTP face (lb run --announce bgp):
 * - GET /announce: the instance's AnnounceReport (state, reason, VIPs offered, since).
 * - POST /announce/drain: start the instance's drain (GRACEFUL_SHUTDOWN, then withdrawal).
 * - POST /announce/undrain: cancel it; the VIPs are offered again while they serve.
 * Without --announce these paths answer 404 with a FabricError body naming the flag.
 */
import { FabricError } from '../protocol/errors.js';
import type { LbAnnounce } from './announce.js';
import type { LbHttpResponse } from './service-http.js';

const JSON_TYPE = 'application/json';

/** The answer for /announce paths, null for any other path. */
export function announceHttpAnswer(announce: Pick<LbAnnounce, 'report' | 'drain'> | undefined, method: string, path: string): LbHttpResponse | null {
  if (path !== '/announce' && path !== '/announce/drain' && path !== '/announce/undrain') return null;
  if (!announce) {
    const e = new FabricError('WGF_ERR_NOT_FOUND', 'this LB announces nothing (start it with --announce bgp)');
    return { code: e.status, type: JSON_TYPE, body: JSON.stringify(e.toJSON()) };
  }
  const want = path === '/announce' ? 'GET' : 'POST';
  if (method !== want) return { code: 405, type: 'text/plain', body: `${path} takes ${want}\n` };
  if (path !== '/announce') announce.drain(path === '/announce/drain');
  return { code: 200, type: JSON_TYPE, body: JSON.stringify(announce.report()) };
}
