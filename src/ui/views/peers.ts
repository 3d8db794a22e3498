import { useEffect, useRef, useState } from 'preact/hooks';
import type { Peer } from '../../protocol/types.js';
import type { PeerSessionView } from '../api.js';
import { html } from '../html.js';
import { abilities, age, localToIso } from '../model.js';
import type { Session } from '../main.js';
import { AddPeer } from './peer-add.js';
import { ErrorLine, errorText, PoolSelect, usePools } from './common.js';

/** Rows per page. */
export const PEER_PAGE = 50;
const NAME_PREFIX_RE = /^[a-z0-9._-]{1,63}$/;

/**
 * Peers of a pool, a page at a time: the server filters (name prefix, enabled) and pages with
 * a keyset cursor, so a page costs the same with 100 or 100,000 peers; the browser never
 * holds more than one page. Session columns appear when the API reports sessions.
 */
export function PeersView({ session }: { session: Session }) {
  const { api, me } = session;
  const can = abilities(me.role);
  const { pools, pool, setPool, error: poolsError } = usePools(api);
  const [prefix, setPrefix] = useState('');
  const [enabled, setEnabled] = useState('');
  const [connected, setConnected] = useState('');
  /** Whether the server reports sessions (null: not known yet). */
  const [sessionsOn, setSessionsOn] = useState<boolean | null>(null);
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<{ items: Peer[]; next: string | null; revision: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);
  const [tick, setTick] = useState(0);
  const inflight = useRef<AbortController | null>(null);
  const cursor = cursors[cursors.length - 1];
  const badPrefix = prefix !== '' && !NAME_PREFIX_RE.test(prefix);

  useEffect(() => {
    if (!pool) return;
    api.sessionSummary(pool).then((s) => setSessionsOn(s !== null), () => setSessionsOn(false));
  }, [api, pool]);

  useEffect(() => {
    if (!pool || badPrefix) return;
    inflight.current?.abort();
    const ctl = new AbortController();
    inflight.current = ctl;
    const t = setTimeout(() => {
      api.peers(pool, { limit: PEER_PAGE, cursor, prefix, enabled, connected }, ctl.signal).then((p) => {
        setPage({ items: [...p.items], next: p.next, revision: p.revision });
        setError(null);
      }, (e) => {
        if (!ctl.signal.aborted) setError(errorText(e));
      });
    }, 150); // typing: one request per pause
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [api, pool, prefix, enabled, connected, cursor, tick, badPrefix]);

  const restart = () => setCursors([undefined]);
  const update = async (p: Peer, body: { enabled?: boolean; expiresAt?: string | null }) => {
    try {
      const u = await api.updatePeer(p.pool, p.name, body);
      setPage((pg) => pg && { ...pg, items: pg.items.map((x) => (x.name === u.name ? u : x)) });
    } catch (e) {
      setError(errorText(e));
    }
  };
  const remove = async (p: Peer) => {
    if (!confirm(`Delete peer ${p.name}? Its addresses are freed.`)) return;
    try {
      await api.deletePeer(p.pool, p.name);
      setTick((t) => t + 1);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const now = Date.now();
  const sessions = sessionsOn === true || (page?.items.some((p) => (p as { session?: unknown }).session !== undefined) ?? false);

  return html`<section class="peers">
    <div class="bar">
      <${PoolSelect} pools=${pools} pool=${pool} setPool=${(p: string) => { setPool(p); restart(); }} />
      <label>Name starts with <input name="search" type="search" value=${prefix} placeholder="alice"
        onInput=${(e: Event) => { setPrefix((e.target as HTMLInputElement).value.trim().toLowerCase()); restart(); }} /></label>
      <label>State <select name="enabled" value=${enabled} onChange=${(e: Event) => { setEnabled((e.target as HTMLSelectElement).value); restart(); }}>
        <option value="">all</option><option value="true">enabled</option><option value="false">disabled</option></select></label>
      ${sessionsOn && html`<label>Session <select name="connected" value=${connected} onChange=${(e: Event) => { setConnected((e.target as HTMLSelectElement).value); restart(); }}>
        <option value="">any</option><option value="true">connected</option><option value="false">not connected</option></select></label>`}
      ${can.operate && html`<button class="primary" data-action="add-peer" onClick=${() => setAdding(true)} disabled=${!pool}>Add peer</button>`}
    </div>
    ${badPrefix && html`<div class="error">A name prefix is 1..63 of a-z 0-9 . _ -</div>`}
    <${ErrorLine} error=${poolsError ?? error} />
    ${adding && pool && html`<${AddPeer} api=${api} pool=${pool} onDone=${() => { setAdding(false); setTick((t) => t + 1); }} />`}
    ${page && html`<table class="peer-list"><thead><tr>
        <th>Name</th><th>Addresses</th><th>Public key</th><th>Enabled</th><th>Expires</th><th>PSK</th><th>Updated</th>
        ${sessions && html`<th>Node</th><th>Last handshake</th><th>Endpoint</th><th class="num">Endpoint changes</th><th class="num">RX</th><th class="num">TX</th>`}
        ${can.operate && html`<th>Actions</th>`}
      </tr></thead><tbody>
      ${page.items.map((p) => html`<${PeerRow} p=${p} now=${now} sessions=${sessions} operate=${can.operate} update=${update} remove=${remove} />`)}
      </tbody></table>
      <div class="bar pager">
        <button data-action="first" disabled=${cursors.length === 1} onClick=${restart}>First</button>
        <button data-action="prev" disabled=${cursors.length === 1} onClick=${() => setCursors((c) => c.slice(0, -1))}>Previous</button>
        <span class="muted">page ${cursors.length}, ${page.items.length} peers${page.items.length === 0 ? ' (none match)' : ''}</span>
        <button data-action="next" disabled=${!page.next} onClick=${() => setCursors((c) => [...c, page.next ?? undefined])}>Next</button>
      </div>`}
  </section>`;
}

function bytes(n: number | undefined): string {
  if (n === undefined) return '-';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
}

function PeerRow({ p, now, sessions, operate, update, remove }: {
  p: Peer; now: number; sessions: boolean; operate: boolean;
  update: (p: Peer, body: { enabled?: boolean; expiresAt?: string | null }) => void; remove: (p: Peer) => void;
}) {
  const [expiry, setExpiry] = useState('');
  const s = (p as { session?: PeerSessionView | null }).session ?? null;
  const expired = p.expiresAt !== null && Date.parse(p.expiresAt) <= now;
  return html`<tr data-peer=${p.name}>
    <td>${p.name}</td><td class="mono">${p.addresses.join(', ')}</td><td class="mono" title=${p.publicKey}>${p.publicKey.slice(0, 10)}…</td>
    <td class=${p.enabled ? 'ok' : 'bad'}>${p.enabled ? 'yes' : 'no'}</td>
    <td class=${expired ? 'bad' : ''}>${p.expiresAt ? `${p.expiresAt}${expired ? ' (expired)' : ''}` : 'never'}</td>
    <td>${p.hasPresharedKey ? 'yes' : 'no'}</td><td>${age(p.updatedAt, now)} ago</td>
    ${sessions && html`<td class=${s?.connected ? 'ok' : 'muted'} data-session=${s ? (s.connected ? 'connected' : 'stale') : 'none'}>${s?.node ?? '-'}</td>
      <td>${s?.lastHandshakeAt ? `${age(s.lastHandshakeAt, now)} ago` : '-'}</td><td class="mono">${s?.endpoint ?? '-'}</td>
      <td class=${`num ${s && s.endpointChanges > 0 ? 'warn' : ''}`}>${s ? s.endpointChanges : '-'}</td>
      <td class="num">${bytes(s?.rxBytes)}</td><td class="num">${bytes(s?.txBytes)}</td>`}
    ${operate && html`<td>
      <button data-action=${p.enabled ? 'disable' : 'enable'} onClick=${() => update(p, { enabled: !p.enabled })}>${p.enabled ? 'Disable' : 'Enable'}</button>
      <input type="datetime-local" name="expiry" value=${expiry} onInput=${(e: Event) => setExpiry((e.target as HTMLInputElement).value)} />
      <button data-action="set-expiry" disabled=${!expiry} onClick=${() => update(p, { expiresAt: localToIso(expiry) ?? null })}>Set expiry</button>
      ${p.expiresAt && html`<button data-action="clear-expiry" onClick=${() => update(p, { expiresAt: null })}>Never expire</button>`}
      <button class="danger" data-action="delete" onClick=${() => remove(p)}>Delete</button>
    </td>`}
  </tr>`;
}
