import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  AuditEntrySchema, AuditListQuery, CompactRequestSchema, CompactResponseSchema, HealthResponseSchema, PageSchema, TokenCreatedSchema,
  TokenCreateSchema, TokenListQuery, TokenParams, TokenSchema, NoQuery, StoreCheckRequestSchema, StoreCheckResponseSchema,
  RotateMasterKeyRequestSchema, RotateMasterKeyResponseSchema,
} from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { ControlPlane } from '../control/plane.js';
import { mutation, pageQuery, tokenOf } from './http.js';
import type { ServerMetrics } from './metrics.js';
import { ADMIN, ANY, PUBLIC, READ } from './policy.js';
import { access, NoContent, responses } from './routes-pools.js';

/** Tokens, audit, compaction and whoami. */
export function registerAdminRoutes(app: FastifyInstance, cp: ControlPlane): void {
  app.get<{ Querystring: Static<typeof TokenListQuery> }>('/v1/tokens', {
    schema: { tags: ['admin'], summary: 'List tokens (never their secrets)', querystring: TokenListQuery, response: responses({ 200: PageSchema(TokenSchema) }) },
    config: access(ADMIN),
  }, async (req) => cp.listTokens(pageQuery(req.query)));

  app.post<{ Body: Static<typeof TokenCreateSchema> }>('/v1/tokens', {
    schema: { tags: ['admin'], summary: 'Create a token; the secret is in this response only', querystring: NoQuery, body: TokenCreateSchema, response: responses({ 201: TokenCreatedSchema }) },
    config: access(ADMIN),
  }, async (req, reply) => reply.code(201).header('cache-control', 'no-store').send(await cp.createToken(req.body, mutation(req))));

  app.delete<{ Params: Static<typeof TokenParams> }>('/v1/tokens/:id', {
    schema: { tags: ['admin'], summary: 'Delete a token (not the last admin token)', querystring: NoQuery, params: TokenParams, response: responses({ 204: NoContent }) },
    config: access(ADMIN),
  }, async (req, reply) => {
    await cp.deleteToken(req.params.id, mutation(req));
    return reply.code(204).send();
  });

  app.get<{ Querystring: Static<typeof AuditListQuery> }>('/v1/audit', {
    schema: { tags: ['admin'], summary: 'The audit log, oldest first', querystring: AuditListQuery, response: responses({ 200: PageSchema(AuditEntrySchema) }) },
    config: access(READ),
  }, async (req) => cp.listAudit({ ...req.query, ...pageQuery(req.query) }));

  app.post<{ Body: Static<typeof CompactRequestSchema> }>('/v1/admin/compact', {
    schema: { tags: ['admin'], summary: 'Drop change history up to a revision (default: current)', querystring: NoQuery, body: CompactRequestSchema, response: responses({ 200: CompactResponseSchema }) },
    config: access(ADMIN),
  }, async (req) => cp.compact(req.body.revision, mutation(req)));

  app.post<{ Body: Static<typeof StoreCheckRequestSchema> }>('/v1/admin/store/check', {
    schema: {
      tags: ['admin'], summary: 'Integrity check of the store (quick by default; full reads everything and holds up other requests meanwhile)',
      querystring: NoQuery, body: StoreCheckRequestSchema, response: responses({ 200: StoreCheckResponseSchema }),
    },
    config: access(ADMIN),
  }, async (req) => cp.checkStore(req.body.mode ?? 'quick'));

  app.post<{ Body: Static<typeof RotateMasterKeyRequestSchema> }>('/v1/admin/master-key/rotate', {
    schema: {
      tags: ['admin'], summary: 'Online master-key rotation: every sealed secret re-sealed under the new key, the old key retired (see README)',
      querystring: NoQuery, body: RotateMasterKeyRequestSchema, response: responses({ 200: RotateMasterKeyResponseSchema }),
    },
    config: access(ADMIN),
  }, async (req) => cp.rotateMasterKey(req.body.keyId, mutation(req)));

  app.get('/v1/whoami', {
    schema: { tags: ['meta'], summary: "The calling token's identity", querystring: NoQuery, response: responses({ 200: TokenSchema }) },
    config: access(ANY),
  }, async (req) => tokenOf(req));
}

/** Health, readiness, metrics and the OpenAPI document. */
export function registerMetaRoutes(app: FastifyInstance, cp: ControlPlane, metrics: ServerMetrics): void {
  app.get('/healthz', {
    schema: { tags: ['meta'], summary: 'Liveness (no token)', security: [], response: responses({ 200: HealthResponseSchema }) },
    config: access(PUBLIC),
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: { tags: ['meta'], summary: 'Readiness: the store answers and can commit (503 with the reason otherwise)', response: responses({ 200: HealthResponseSchema }) },
    config: access(ANY),
  }, async () => {
    let health;
    let revision;
    try {
      health = await cp.storeHealth();
      revision = await cp.currentRevision();
    } catch (e) {
      throw new FabricError('WGF_ERR_UNAVAILABLE', 'not ready: the store does not answer', undefined, { cause: e });
    }
    // Not ready while the store cannot commit (disk full, I/O errors) or is damaged.
    if (!health.ok) throw new FabricError('WGF_ERR_UNAVAILABLE', `not ready: ${health.reason ?? 'the store cannot commit'}`, { storeCode: health.code, reason: health.reason });
    return { status: 'ready', revision };
  });

  app.get('/metrics', {
    // Not for node tokens: the figures cover every pool, and a node token sees only its own.
    schema: { tags: ['meta'], summary: 'Prometheus metrics (read-only role or higher; node tokens are refused)', response: responses({ 200: Type.String() }) },
    config: access(READ),
  }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get('/v1/openapi.json', {
    schema: { tags: ['meta'], summary: 'This OpenAPI document', querystring: NoQuery, response: responses({ 200: Type.Object({}, { additionalProperties: true }) }) },
    config: access(READ),
  }, async () => app.swagger());
}
