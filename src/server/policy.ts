import type { Role, TokenInfo } from '../protocol/types.js';

/**
 * Who may call a route. Every route declares one Access in its config; the auth hook
 * (auth.ts) enforces it before the body is even read. Pure, so it is tested as a table.
 *
 * - public: no token (only /healthz).
 * - any: any valid token, node tokens included (/readyz, /v1/whoami). /metrics is read-only
 *   and up: its figures cover every pool.
 * - role: at least `min` on the ladder read-only < operator < admin; a node token passes
 *   only when `node` is set: 'pool' = the route's :pool is the token's pool, 'self' = also
 *   the route's :node is the token's node.
 */
export type Access =
  | { readonly kind: 'public' }
  | { readonly kind: 'any' }
  | { readonly kind: 'role'; readonly min: Exclude<Role, 'node'>; readonly node?: 'pool' | 'self' };

/** The access rules routes use. */
export const PUBLIC: Access = { kind: 'public' };
export const ANY: Access = { kind: 'any' };
export const READ: Access = { kind: 'role', min: 'read-only' };
export const OPERATE: Access = { kind: 'role', min: 'operator' };
export const ADMIN: Access = { kind: 'role', min: 'admin' };

const LADDER: Record<Exclude<Role, 'node'>, number> = { 'read-only': 1, operator: 2, admin: 3 };

/** True when `token` may call a route with `access` and these path params. */
export function allowed(access: Access, token: TokenInfo, params: Readonly<Record<string, unknown>>): boolean {
  if (access.kind === 'public' || access.kind === 'any') return true;
  if (token.role === 'node') {
    if (access.node === undefined || token.pool === null || params['pool'] !== token.pool) return false;
    return access.node === 'pool' || params['node'] === token.node;
  }
  return LADDER[token.role] >= LADDER[access.min];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (src/server/policy.ts); routes without one are admin-only. */
    access?: Access;
  }
}
