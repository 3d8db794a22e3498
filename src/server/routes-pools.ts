import type { Static, TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  ErrorBodySchema, PageSchema, PoolCreateSchema, PoolDeleteQuery, PoolListQuery, PoolParams, PoolSchema, PoolUpdateSchema, PrivateKeyResponseSchema, NoQuery,
} from '../protocol/api.js';
import type { ControlPlane } from '../control/plane.js';
import { mutation, pageQuery, sendEntity } from './http.js';
import { ADMIN, READ, type Access } from './policy.js';

/** OpenAPI responses: the success schemas plus the one error body. */
export function responses(ok: Record<number, TSchema>): Record<string, TSchema> {
  return { ...ok, '4xx': ErrorBodySchema, '5xx': ErrorBodySchema };
}

/** OpenAPI schema of an empty 204 answer. */
export const NoContent = Type.Null({ description: 'no content' });

/** Route config carrying the access rule (see policy.ts). */
export const access = (a: Access) => ({ access: a });

type P = Static<typeof PoolParams>;

/** /v1/pools and /v1/pools/{pool}, and the pool private key. */
export function registerPoolRoutes(app: FastifyInstance, cp: ControlPlane): void {
  const tags = ['pools'];
  app.get<{ Querystring: Static<typeof PoolListQuery> }>('/v1/pools', {
    schema: { tags, summary: 'List pools', querystring: PoolListQuery, response: responses({ 200: PageSchema(PoolSchema) }) },
    config: access(READ),
  }, async (req) => cp.listPools({ ...pageQuery(req.query), label: req.query.label }));

  app.post<{ Body: Static<typeof PoolCreateSchema> }>('/v1/pools', {
    schema: { tags, summary: 'Create a pool (generates the server key pair unless privateKey is imported)', querystring: NoQuery, body: PoolCreateSchema, response: responses({ 201: PoolSchema }) },
    config: access(ADMIN),
  }, async (req, reply) => sendEntity(reply, 201, await cp.createPool(req.body, mutation(req))));

  app.get<{ Params: P }>('/v1/pools/:pool', {
    schema: { tags, summary: 'Get a pool (ETag: its revision)', querystring: NoQuery, params: PoolParams, response: responses({ 200: PoolSchema }) },
    config: access(READ),
  }, async (req, reply) => sendEntity(reply, 200, await cp.getPool(req.params.pool)));

  app.patch<{ Params: P; Body: Static<typeof PoolUpdateSchema> }>('/v1/pools/:pool', {
    schema: { tags, summary: 'Update a pool (If-Match honoured; lb settings are merged field by field)', querystring: NoQuery, params: PoolParams, body: PoolUpdateSchema, response: responses({ 200: PoolSchema }) },
    config: access(ADMIN),
  }, async (req, reply) => sendEntity(reply, 200, await cp.updatePool(req.params.pool, req.body, mutation(req))));

  app.delete<{ Params: P; Querystring: Static<typeof PoolDeleteQuery> }>('/v1/pools/:pool', {
    schema: { tags, summary: 'Delete a pool (refused while it has nodes or peers unless force=true)', params: PoolParams, querystring: PoolDeleteQuery, response: responses({ 204: NoContent }) },
    config: access(ADMIN),
  }, async (req, reply) => {
    await cp.deletePool(req.params.pool, { ...mutation(req), force: req.query.force === 'true' });
    return reply.code(204).send();
  });

  app.get<{ Params: P }>('/v1/pools/:pool/private-key', {
    schema: { tags, summary: "The pool's server private key (the pool's nodes and admins; audited)", querystring: NoQuery, params: PoolParams, response: responses({ 200: PrivateKeyResponseSchema }) },
    config: access({ ...ADMIN, node: 'pool' } as Access),
  }, async (req, reply) => {
    const privateKey = await cp.poolPrivateKey(req.params.pool, mutation(req));
    return reply.header('cache-control', 'no-store').send({ privateKey });
  });
}
