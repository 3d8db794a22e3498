import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  NodeCreateSchema, NodeListQuery, NodeParams, NodeSchema, NodeStatusInputSchema, NodeUpdateSchema, PageSchema, PeerCreateSchema, PeerListQuery,
  PeerParams, PeerSchema, PeerUpdateSchema, PoolParams, NoQuery, PeerBatchSchema, PeerBatchResultSchema, type PeerBatchItem,
} from '../protocol/api.js';
import type { ControlPlane } from '../control/plane.js';
import { SessionRegistry } from '../control/sessions.js';
import { boolQuery, mutation, pageQuery, sendEntity } from './http.js';
import { ADMIN, OPERATE, READ, type Access } from './policy.js';
import { access, NoContent, responses } from './routes-pools.js';

type PP = Static<typeof PoolParams>;
type NP = Static<typeof NodeParams>;
type PeerP = Static<typeof PeerParams>;

/** /v1/pools/{pool}/nodes[/{node}[/status]] */
export function registerNodeRoutes(app: FastifyInstance, cp: ControlPlane): void {
  const tags = ['nodes'];
  app.get<{ Params: PP; Querystring: Static<typeof NodeListQuery> }>('/v1/pools/:pool/nodes', {
    schema: { tags, summary: 'List nodes', params: PoolParams, querystring: NodeListQuery, response: responses({ 200: PageSchema(NodeSchema) }) },
    config: access(READ),
  }, async (req) => cp.listNodes(req.params.pool, { ...pageQuery(req.query), label: req.query.label, adminState: req.query.adminState }));

  app.post<{ Params: PP; Body: Static<typeof NodeCreateSchema> }>('/v1/pools/:pool/nodes', {
    schema: { tags, summary: 'Create a node', querystring: NoQuery, params: PoolParams, body: NodeCreateSchema, response: responses({ 201: NodeSchema }) },
    config: access(OPERATE),
  }, async (req, reply) => sendEntity(reply, 201, await cp.createNode(req.params.pool, req.body, mutation(req))));

  app.get<{ Params: NP }>('/v1/pools/:pool/nodes/:node', {
    schema: { tags, summary: 'Get a node with its last reported status', querystring: NoQuery, params: NodeParams, response: responses({ 200: NodeSchema }) },
    config: access(READ),
  }, async (req, reply) => sendEntity(reply, 200, await cp.getNode(req.params.pool, req.params.node)));

  app.patch<{ Params: NP; Body: Static<typeof NodeUpdateSchema> }>('/v1/pools/:pool/nodes/:node', {
    schema: { tags, summary: 'Update a node (adminState, endpoint, weight, labels)', querystring: NoQuery, params: NodeParams, body: NodeUpdateSchema, response: responses({ 200: NodeSchema }) },
    config: access(OPERATE),
  }, async (req, reply) => sendEntity(reply, 200, await cp.updateNode(req.params.pool, req.params.node, req.body, mutation(req))));

  app.delete<{ Params: NP }>('/v1/pools/:pool/nodes/:node', {
    schema: { tags, summary: 'Delete a node', querystring: NoQuery, params: NodeParams, response: responses({ 204: NoContent }) },
    config: access(OPERATE),
  }, async (req, reply) => {
    await cp.deleteNode(req.params.pool, req.params.node, mutation(req));
    return reply.code(204).send();
  });

  app.put<{ Params: NP; Body: Static<typeof NodeStatusInputSchema> }>('/v1/pools/:pool/nodes/:node/status', {
    schema: { tags, summary: "Report a node's status (its own node token, or admin)", querystring: NoQuery, params: NodeParams, body: NodeStatusInputSchema, response: responses({ 200: NodeSchema }) },
    config: access({ ...ADMIN, node: 'self' } as Access),
  }, async (req, reply) => sendEntity(reply, 200, await cp.putNodeStatus(req.params.pool, req.params.node, req.body, mutation(req))));
}

/** /v1/pools/{pool}/peers[/{peer}]; GET peer and the list carry each peer's `session` (runtime state from `sessions`). */
export function registerPeerRoutes(app: FastifyInstance, cp: ControlPlane, sessions: SessionRegistry = new SessionRegistry()): void {
  const tags = ['peers'];
  app.get<{ Params: PP; Querystring: Static<typeof PeerListQuery> }>('/v1/pools/:pool/peers', {
    schema: { tags, summary: 'List peers with their session (filters: enabled, label, name prefix, connected)', params: PoolParams, querystring: PeerListQuery, response: responses({ 200: PageSchema(PeerSchema) }) },
    config: access(READ),
  }, async (req) => {
    const pool = req.params.pool;
    const now = Date.now();
    const connected = boolQuery(req.query.connected);
    const keep = connected === undefined ? undefined : (key: string) => sessions.connected(pool, key, now) === connected;
    const page = await cp.listPeers(pool, { ...pageQuery(req.query), label: req.query.label, enabled: boolQuery(req.query.enabled), prefix: req.query.prefix, keep });
    return { ...page, items: page.items.map((p) => ({ ...p, session: sessions.session(pool, p.publicKey, now) })) };
  });

  app.post<{ Params: PP; Body: Static<typeof PeerCreateSchema> }>('/v1/pools/:pool/peers', {
    schema: { tags, summary: 'Create a peer (tunnel addresses are allocated unless requested)', querystring: NoQuery, params: PoolParams, body: PeerCreateSchema, response: responses({ 201: PeerSchema }) },
    config: access(OPERATE),
  }, async (req, reply) => sendEntity(reply, 201, await cp.createPeer(req.params.pool, req.body, mutation(req))));

  app.post<{ Params: PP; Body: Static<typeof PeerBatchSchema> }>('/v1/pools/:pool/peers/batch', {
    schema: {
      tags, summary: 'Create, update or delete up to 1,000 peers in one revision, all or nothing (WGF_ERR_BATCH_REJECTED lists each failing item)',
      querystring: NoQuery, params: PoolParams, body: PeerBatchSchema, response: responses({ 200: PeerBatchResultSchema }),
    },
    config: access(OPERATE),
    // 1,000 items of up to ~1 KiB each: above the default body limit of single requests.
    bodyLimit: 1024 * 1024,
  }, async (req) => cp.peerBatch(req.params.pool, req.body.items as PeerBatchItem[], mutation(req)));

  app.get<{ Params: PeerP }>('/v1/pools/:pool/peers/:peer', {
    schema: { tags, summary: 'Get a peer with its session (ETag: its revision)', querystring: NoQuery, params: PeerParams, response: responses({ 200: PeerSchema }) },
    config: access(READ),
  }, async (req, reply) => {
    const peer = await cp.getPeer(req.params.pool, req.params.peer);
    return sendEntity(reply, 200, { ...peer, session: sessions.session(req.params.pool, peer.publicKey, Date.now()) });
  });

  app.patch<{ Params: PeerP; Body: Static<typeof PeerUpdateSchema> }>('/v1/pools/:pool/peers/:peer', {
    schema: { tags, summary: 'Update a peer (If-Match honoured)', querystring: NoQuery, params: PeerParams, body: PeerUpdateSchema, response: responses({ 200: PeerSchema }) },
    config: access(OPERATE),
  }, async (req, reply) => sendEntity(reply, 200, await cp.updatePeer(req.params.pool, req.params.peer, req.body, mutation(req))));

  app.delete<{ Params: PeerP }>('/v1/pools/:pool/peers/:peer', {
    schema: { tags, summary: 'Delete a peer and free its addresses', querystring: NoQuery, params: PeerParams, response: responses({ 204: NoContent }) },
    config: access(OPERATE),
  }, async (req, reply) => {
    await cp.deletePeer(req.params.pool, req.params.peer, mutation(req));
    return reply.code(204).send();
  });
}
