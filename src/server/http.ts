import type { FastifyReply, FastifyRequest } from 'fastify';
import { LIMIT_DEFAULT } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { TokenInfo } from '../protocol/types.js';

/** Small request/response helpers shared by the route modules. */

const tokens = new WeakMap<FastifyRequest, TokenInfo>();

/** Remembers the authenticated token of a request (set by the auth hook). */
export function setToken(req: FastifyRequest, token: TokenInfo): void {
  tokens.set(req, token);
}

/** The request's token; routes only run after the auth hook set it. */
export function tokenOf(req: FastifyRequest): TokenInfo {
  const t = tokens.get(req);
  if (!t) throw new FabricError('WGF_ERR_UNAUTHORIZED', 'this route needs a token');
  return t;
}

/** Mutation options from a request: the actor (token name) and If-Match, if sent. */
export function mutation(req: FastifyRequest): { actor: string; ifMatch?: number } {
  const actor = tokenOf(req).name;
  const ifMatch = parseIfMatch(req.headers['if-match']);
  return ifMatch === undefined ? { actor } : { actor, ifMatch };
}

/** `"42"`, `W/"42"` or `42` → 42; `*` or absent → undefined; anything else → 400. */
export function parseIfMatch(h: string | string[] | undefined): number | undefined {
  if (h === undefined || h === '*') return undefined;
  const m = typeof h === 'string' ? /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(h) : null;
  if (!m) throw new FabricError('WGF_ERR_VALIDATION', 'If-Match must be a revision ETag such as "42"', { field: 'If-Match' });
  return Number(m[1]);
}

/** Query helpers: the schema already checked the text form. */
export function pageQuery(q: { limit?: string | undefined; cursor?: string | undefined }): { limit: number; cursor?: string } {
  const limit = q.limit === undefined ? LIMIT_DEFAULT : Number(q.limit);
  return q.cursor === undefined ? { limit } : { limit, cursor: q.cursor };
}

/** 'true' / 'false' query text to a boolean (undefined when absent). */
export function boolQuery(v: 'true' | 'false' | undefined): boolean | undefined {
  return v === undefined ? undefined : v === 'true';
}

/** Sends an entity with its revision as ETag. */
export function sendEntity<T extends { revision: number }>(reply: FastifyReply, status: number, entity: T): FastifyReply {
  return reply.code(status).header('etag', `"${entity.revision}"`).send(entity);
}
