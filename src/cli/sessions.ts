import type { ApiClient } from '../client/api-client.js';
import { FabricError } from '../protocol/errors.js';
import type { PeerSession, SessionSummary } from '../protocol/sessions.js';
import type { Peer } from '../protocol/types.js';
import type { Column } from './output.js';

/** Per-peer session state as `peer show`, `peer list` and `status` print it (data from protocol/sessions.ts). */

/** 1536 -> "1.50 KiB", as wg(8) prints transfer. */
export function humanBytes(n: number | null | undefined): string | null {
  if (n === null || n === undefined) return null;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(2)} ${units[i]}`;
}

/** "2026-12-04T17:00:00.000Z (42s ago)", or null without a handshake. */
export function handshakeText(s: PeerSession | null | undefined): string | null {
  if (!s?.lastHandshakeAt) return null;
  return `${s.lastHandshakeAt} (${ageText(s.handshakeAgeSeconds ?? 0)} ago)`;
}

function ageText(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The lines `peer show` adds: NODE, LAST HANDSHAKE, ENDPOINT, RX, TX, and what they mean. */
export function sessionFields(s: PeerSession | null | undefined): [string, unknown][] {
  return [
    ['node', s ? s.node : null], ['last handshake', handshakeText(s)], ['connected', s ? (s.connected ? 'yes' : 'no') : 'no (no node reported a handshake)'],
    ['endpoint', s?.endpoint ?? null], ['rx', humanBytes(s?.rxBytes)], ['tx', humanBytes(s?.txBytes)], ['endpoint changes', s ? s.endpointChanges : null],
  ];
}

/** The columns `peer list` adds. */
export function sessionColumns<T extends Peer>(): Column<T>[] {
  return [
    { header: 'NODE', get: (p) => p.session?.node }, { header: 'LAST HANDSHAKE', get: (p) => (p.session?.lastHandshakeAt ? `${ageText(p.session.handshakeAgeSeconds ?? 0)} ago` : null) },
    { header: 'ENDPOINT', get: (p) => p.session?.endpoint }, { header: 'RX', get: (p) => humanBytes(p.session?.rxBytes) }, { header: 'TX', get: (p) => humanBytes(p.session?.txBytes) },
  ];
}

/** --connected / --disconnected of `peer list` as the API's filter (both: refused). */
export function connectedFilter(f: { connected?: boolean; disconnected?: boolean }): { connected?: boolean } {
  if (f.connected && f.disconnected) throw new FabricError('WGF_ERR_VALIDATION', '--connected and --disconnected exclude each other; give one');
  return f.connected ? { connected: true } : f.disconnected ? { connected: false } : {};
}

/** Connected peers per pool and node for `status` (null when the server has no session summary, e.g. an older one). */
export async function connectedByNode(api: ApiClient): Promise<Map<string, number> | null> {
  let s: SessionSummary;
  try {
    s = await api.sessionSummary();
  } catch {
    return null;
  }
  const out = new Map<string, number>();
  for (const p of s.pools) for (const n of p.nodes) out.set(`${p.pool}/${n.node}`, n.connected);
  return out;
}
