import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { NodeParams } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import {
  SESSION_REPORT_BODY_LIMIT, SessionReportInputSchema, SessionReportResultSchema, SessionSummaryQuery, SessionSummarySchema, type SessionReportInput,
} from '../protocol/sessions.js';
import type { ControlPlane } from '../control/plane.js';
import type { SessionRegistry } from '../control/sessions.js';
import { ADMIN, READ, type Access } from './policy.js';
import { access, responses } from './routes-pools.js';

type NP = Static<typeof NodeParams>;

/**
 * /v1/pools/{pool}/nodes/{node}/sessions (agents report) and /v1/sessions/summary (the fleet).
 * Reports are held in this replica's memory (control/sessions.ts): no store write, no audit.
 */
export function registerSessionRoutes(app: FastifyInstance, cp: ControlPlane, sessions: SessionRegistry, now: () => number = Date.now): void {
  const tags = ['sessions'];
  app.put<{ Params: NP; Body: SessionReportInput }>('/v1/pools/:pool/nodes/:node/sessions', {
    schema: {
      tags, summary: "Report a node's per-peer session state as a delta (its own node token, or admin; not stored in the revisioned store, not audited)",
      params: NodeParams, body: SessionReportInputSchema, response: responses({ 200: SessionReportResultSchema }),
    },
    config: access({ ...ADMIN, node: 'self' } as Access),
    bodyLimit: SESSION_REPORT_BODY_LIMIT,
  }, async (req) => {
    checkReport(req.body);
    await cp.getNode(req.params.pool, req.params.node); // WGF_ERR_NOT_FOUND for a pool or node that is gone
    return sessions.apply(req.params.pool, req.params.node, req.body, now());
  });

  app.get<{ Querystring: Static<typeof SessionSummaryQuery> }>('/v1/sessions/summary', {
    schema: { tags, summary: 'Connected peers and traffic per pool and node (this replica\'s view of the agents\' reports)', querystring: SessionSummaryQuery, response: responses({ 200: SessionSummarySchema }) },
    config: access(READ),
  }, async (req) => sessions.summary(now(), req.query.pool));
}

/** A key twice in one report (or both changed and removed) is refused: which one would win is not defined. */
export function checkReport(r: SessionReportInput): void {
  const seen = new Set<string>();
  r.peers.forEach((p, i) => {
    if (seen.has(p.publicKey)) throw new FabricError('WGF_ERR_VALIDATION', `peers[${i}].publicKey repeats ${p.publicKey}`, { field: `peers[${i}].publicKey` });
    seen.add(p.publicKey);
  });
  r.removed.forEach((k, i) => {
    if (seen.has(k)) throw new FabricError('WGF_ERR_VALIDATION', `removed[${i}] is also listed in peers or repeats`, { field: `removed[${i}]` });
    seen.add(k);
  });
  if (r.peers.length + r.removed.length > 4000) throw new FabricError('WGF_ERR_VALIDATION', 'a report carries at most 4000 peers and removals together; split it', { field: 'peers' });
}

/**
 * Session metrics of a server: aggregate endpoint changes (per pool: bounded by the number of
 * pools), connected sessions per pool and node, reports. Never one series per peer.
 */
export function registerSessionMetrics(registry: Registry, sessions: SessionRegistry, now: () => number = Date.now): void {
  const registers = [registry];
  new Counter({
    name: 'wgfabric_peer_endpoint_changes_total', help: "Times a peer's endpoint address changed (roaming, or one config used from two places), all peers", registers,
    collect() {
      this.reset();
      this.inc(sessions.endpointChangesTotal);
    },
  });
  new Gauge({
    name: 'wgfabric_sessions_connected', help: 'Peers with a handshake in the last 180 s, by pool and the node holding the session', labelNames: ['pool', 'node'], registers,
    collect() {
      this.reset();
      for (const p of sessions.summary(now()).pools) for (const n of p.nodes) this.set({ pool: p.pool, node: n.node }, n.connected);
    },
  });
  new Gauge({
    name: 'wgfabric_session_entries', help: 'Per-peer session entries held in memory (peers x nodes that reported a handshake)', registers,
    collect() {
      this.set(sessions.size().entries);
    },
  });
  new Counter({
    name: 'wgfabric_session_reports_total', help: 'Session reports by outcome (resync: the replica lacked its predecessor)', labelNames: ['outcome'], registers,
    collect() {
      this.reset();
      this.inc({ outcome: 'accepted' }, sessions.reportsAccepted);
      this.inc({ outcome: 'resync' }, sessions.reportsResync);
    },
  });
}
