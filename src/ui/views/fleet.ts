import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { LbReport, Node, Pool } from '../../protocol/types.js';
import type { SessionSummary } from '../api.js';
import { html } from '../html.js';
import { abilities, age, flowsOn, lbCells, nodeActions, readiness, slotsOn } from '../model.js';
import { watchPool } from '../watch.js';
import type { Session } from '../main.js';
import { ErrorLine, errorText, PoolSelect, usePools } from './common.js';

/** Reports (node status, LB reports) are observations outside the change stream: read again this often. */
const REPORT_POLL_MS = 3000;

interface FleetData {
  readonly pool: Pool;
  readonly nodes: Node[];
  readonly lbs: LbReport[];
  /** Per node: pool changes after its applied revision (null: unknown). */
  readonly lag: Record<string, number | null>;
  readonly revision: number;
  /** The pool's session summary; null from a server without session state. */
  readonly sessions: PoolSessions | null;
}

type PoolSessions = SessionSummary['pools'][number];

/**
 * The fleet: every pool, then the selected pool's nodes (admin state, readiness, lag, how each
 * LB instance sees them, announcement) and its LB instances (slots per backend, probe RTT).
 * Desired-state changes arrive on the pool's watch stream; reports are polled.
 */
export function FleetView({ session }: { session: Session }) {
  const { api, me } = session;
  const can = abilities(me.role);
  const { pools, pool, setPool, error: poolsError } = usePools(api);
  const [data, setData] = useState<FleetData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [live, setLive] = useState<'live' | 'reconnecting' | 'off'>('off');
  const [changes, setChanges] = useState(0);
  const [now, setNow] = useState(Date.now());
  const loading = useRef(false);

  const load = useCallback(async (name: string): Promise<number> => {
    loading.current = true;
    try {
      const [p, nodes, lbs, summary] = await Promise.all([api.pool(name), api.nodes(name), api.lbs(name), api.sessionSummary(name).catch(() => null)]);
      const sessions = summary === null ? null : summary.pools.find((x) => x.pool === name) ?? { pool: name, connected: 0, endpointChanges: 0, nodes: [] };
      const lag: Record<string, number | null> = {};
      await Promise.all(nodes.items.map(async (n) => {
        const applied = n.status?.appliedRevision;
        lag[n.name] = applied === undefined ? null : await api.changes(name, applied).then((c) => c.changes.length, () => null);
      }));
      setData({ pool: p, nodes: [...nodes.items], lbs: [...lbs.items], lag, revision: nodes.revision, sessions });
      setNow(Date.now());
      setError(null);
      return nodes.revision;
    } catch (e) {
      setError(errorText(e));
      throw e;
    } finally {
      loading.current = false;
    }
  }, [api]);

  useEffect(() => {
    if (!pool) return;
    let stopWatch: (() => void) | null = null;
    let stopped = false;
    setData(null);
    load(pool).then((revision) => {
      if (stopped) return;
      stopWatch = watchPool(api, pool, revision, {
        onChanges: (batch) => {
          setChanges((c) => c + batch.length);
          if (batch.some((c) => c.type.startsWith('node.') || c.type.startsWith('pool.'))) void load(pool).catch(() => {});
        },
        onState: setLive,
        onReset: () => load(pool),
      });
    }, () => {});
    const timer = setInterval(() => {
      if (!loading.current) void load(pool).catch(() => {});
    }, REPORT_POLL_MS);
    return () => {
      stopped = true;
      stopWatch?.();
      clearInterval(timer);
      setLive('off');
    };
  }, [api, pool, load]);

  const act = async (n: Node, to: Node['adminState']) => {
    try {
      await api.updateNode(n.pool, n.name, { adminState: to });
      await load(n.pool);
    } catch (e) {
      setError(errorText(e));
    }
  };

  return html`<section class="fleet">
    <h2>Pools</h2>
    <table class="pools"><thead><tr><th>Pool</th><th>Endpoint</th><th>Prefixes</th><th>LB affinity</th><th>Anycast</th></tr></thead>
      <tbody>${pools.map((p) => html`<tr class=${p.name === pool ? 'selected' : ''}>
        <td><a href=${`#/fleet?pool=${encodeURIComponent(p.name)}`} onClick=${() => setPool(p.name)}>${p.name}</a></td>
        <td>${p.endpoint ?? '-'}</td><td>${[p.ipv4Prefix, p.ipv6Prefix].filter(Boolean).join(', ')}</td>
        <td>${p.lb.affinity} (M=${p.lb.tableSize})</td><td>${p.anycast?.addresses?.length ? p.anycast.addresses.join(', ') : '-'}</td></tr>`)}
      </tbody></table>
    <div class="bar"><${PoolSelect} pools=${pools} pool=${pool} setPool=${setPool} />
      <span class=${`live ${live === 'live' ? 'ok' : 'warn'}`} data-live=${live}>change stream: ${live}${changes ? `, ${changes} changes` : ''}</span>
      ${data && html`<span class="muted">revision ${data.revision}</span>`}</div>
    <${ErrorLine} error=${poolsError ?? error} />
    ${data && html`<${NodesTable} data=${data} now=${now} operate=${can.operate} act=${act} />
      <${LbTables} lbs=${data.lbs} now=${now} />`}
  </section>`;
}

function NodesTable({ data, now, operate, act }: { data: FleetData; now: number; operate: boolean; act: (n: Node, to: Node['adminState']) => void }) {
  const anyAnnounce = data.nodes.some((n) => n.status?.announce);
  const s = data.sessions;
  return html`<h2>Nodes of ${data.pool.name}</h2>
    ${s && html`<p class="sessions-summary" data-connected=${s.connected}>${s.connected} peers connected, ${s.endpointChanges} endpoint changes</p>`}
    <table class="nodes"><thead><tr>
      <th>Node</th><th>Admin state</th><th>Ready</th><th class="num">Lag</th><th class="num">Peers</th><th>Report</th><th>Endpoint</th>
      ${s && html`<th class="num">Connected</th>`}
      ${data.lbs.map((r) => html`<th>LB ${r.instance}</th>`)}
      ${anyAnnounce && html`<th>Announce</th>`}
      ${operate && html`<th>Actions</th>`}
    </tr></thead><tbody>
    ${data.nodes.map((n) => {
      const ready = readiness(n);
      const lag = data.lag[n.name];
      const slots = slotsOn(n.name, data.lbs);
      const flows = flowsOn(n.name, data.lbs);
      return html`<tr data-node=${n.name}>
        <td>${n.name}</td>
        <td data-admin=${n.adminState}>${n.adminState}${n.adminState !== 'active' && data.lbs.length > 0 ? html`<div class="muted drain">${slots} LB slots left${flows === null ? '' : `, ${flows} flows left`}</div>` : ''}</td>
        <td class=${ready.tone}>${ready.text}${n.status?.message ? html`<div class="muted">${n.status.message}</div>` : ''}</td>
        <td class="num">${lag === null || lag === undefined ? '-' : lag}</td>
        <td class="num">${n.status ? `${n.status.peersApplied}/${n.status.peersDesired}` : '-'}</td>
        <td>${age(n.status?.reportedAt, now)}</td>
        <td>${n.endpoint ?? '-'}</td>
        ${s && html`<td class="num" data-connected>${s.nodes.find((x) => x.node === n.name)?.connected ?? 0}</td>`}
        ${lbCells(n.name, data.lbs, now).map((c) => html`<td class=${c.tone} title=${c.title}>${c.text}</td>`)}
        ${anyAnnounce && html`<td>${n.status?.announce ? `${n.status.announce.state}${n.status.announce.state === 'announced' ? '' : ` (${n.status.announce.reason})`}` : '-'}</td>`}
        ${operate && html`<td>${nodeActions(n).map((a) => html`<button data-action=${a.to} onClick=${() => act(n, a.to)}>${a.label}</button>`)}</td>`}
      </tr>`;
    })}
    </tbody></table>`;
}

function LbTables({ lbs, now }: { lbs: LbReport[]; now: number }) {
  if (lbs.length === 0) return html`<p class="muted">No load balancer reports for this pool.</p>`;
  return html`<h2>Load balancers</h2>${lbs.map((r) => html`<div class="lb" data-instance=${r.instance}>
    <h3>${r.instance} <span class="muted">VIP ${r.vip}:${r.port}, table M=${r.tableSize} ${r.affinity}, generation ${r.generation}, reported ${age(r.reportedAt, now)} ago${r.failOpen ? ', FAIL-OPEN' : ''}</span></h3>
    ${r.lastError && html`<div class="error">${r.lastError}</div>`}
    <table><thead><tr><th>Backend</th><th>State</th><th>In table</th><th class="num">Slots</th><th class="num">Share</th><th class="num">Probe RTT</th><th>Reason</th></tr></thead><tbody>
      ${r.backends.map((b) => {
        const rtt = b.rttMs;
        return html`<tr data-backend=${b.name}><td>${b.name}</td><td class=${b.state === 'up' ? 'ok' : b.state === 'down' ? 'bad' : 'warn'}>${b.state}</td>
        <td>${b.inTable ? 'yes' : 'no'}</td><td class="num">${b.slots}</td><td class="num">${((b.slots / r.tableSize) * 100).toFixed(1)}%</td>
        <td class="num">${rtt === undefined || rtt === null ? '-' : `${rtt.toFixed(1)} ms`}</td><td>${b.reason}</td></tr>`;
      })}
    </tbody></table></div>`)}`;
}
