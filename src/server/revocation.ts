import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FabricError } from '../protocol/errors.js';
import type { PoolChange, TokenInfo } from '../protocol/types.js';
import type { ControlPlane } from '../control/plane.js';
import { authorize } from './authorize.js';
import { tokenOf } from './http.js';
import type { Access } from './policy.js';

/**
 * Revocation of open watch streams. A stream is authenticated once when it opens; after that:
 * - its pool deleted, or (node token) its node deleted: the deletion is itself an event of the
 *   stream, so the stream delivers it and ends right after it, on every replica;
 * - its token deleted through this server: the stream ends before the DELETE is answered;
 * - its token deleted through another replica (or straight in the store): the next heartbeat
 *   runs the normal auth path again (authorize.ts) and ends the stream when it is refused.
 * So a revoked stream ends within one heartbeat period (default 5 s) after the auth cache of
 * its replica learnt the deletion (control/auth-cache.ts: at once on the replica that served
 * it, when the store watch delivers it on the others, at most 30 s if that watch stalls), and
 * immediately on the replica that served the deletion.
 * The stream ends with an `error` event carrying the code (WGF_ERR_UNAUTHORIZED, or
 * WGF_ERR_NOT_FOUND for a deleted pool).
 */

/** What an open stream needs to check its own credential. */
export interface StreamGuard {
  /** Runs the auth path again; rejects with the refusal. */
  recheck(): Promise<void>;
  /** The revision after which the stream ends and why, or null to go on (see endsAfter). */
  endsAfter(changes: readonly PoolChange[]): { revision: number; error: FabricError } | null;
  /** Registers the stream's end function for a local token delete; returns the unregister. */
  track(end: (err: FabricError) => void): () => void;
}

/** Open streams by token id, for an immediate end when this server deletes the token. */
export class Revocations {
  private readonly byToken = new Map<string, Set<(err: FabricError) => void>>();

  track(tokenId: string, end: (err: FabricError) => void): () => void {
    let set = this.byToken.get(tokenId);
    if (!set) this.byToken.set(tokenId, (set = new Set()));
    set.add(end);
    return () => {
      set.delete(end);
      if (set.size === 0 && this.byToken.get(tokenId) === set) this.byToken.delete(tokenId);
    };
  }

  /** Ends every stream of the token (the token was deleted). */
  revokeToken(tokenId: string): void {
    const err = new FabricError('WGF_ERR_UNAUTHORIZED', 'the token of this stream was deleted');
    for (const end of [...(this.byToken.get(tokenId) ?? [])]) end(err);
  }

  /** Open streams (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const s of this.byToken.values()) n += s.size;
    return n;
  }

  /** The guard of a stream opened by `req` (already authenticated) on `pool`. */
  guard(cp: ControlPlane, req: FastifyRequest, access: Access, pool: string): StreamGuard {
    const token: TokenInfo = tokenOf(req);
    const header = req.headers.authorization;
    const params = { ...(req.params as Record<string, unknown>) };
    return {
      recheck: async () => void (await authorize(cp, header, access, params, `watch pool ${pool}`)),
      endsAfter: (changes) => endsAfter(changes, token, pool),
      track: (end) => this.track(token.id, end),
    };
  }
}

/**
 * Pure: the first revision of this batch that deletes the stream's pool, or the node its node
 * token belongs to, with the error that ends the stream after it (a pool delete wins over the
 * node delete of the same revision). Changes after that revision are not delivered.
 */
export function endsAfter(changes: readonly PoolChange[], token: Pick<TokenInfo, 'role' | 'pool' | 'node'>, pool: string): { revision: number; error: FabricError } | null {
  const ends = (c: PoolChange) => c.type === 'pool.delete' || (c.type === 'node.delete' && token.role === 'node' && token.pool === pool && token.node === c.name);
  const first = changes.find(ends);
  if (!first) return null;
  const revision = first.revision;
  if (changes.some((c) => c.revision === revision && c.type === 'pool.delete')) {
    return { revision, error: new FabricError('WGF_ERR_NOT_FOUND', `pool ${pool} was deleted`, { object: `pools/${pool}` }) };
  }
  return { revision, error: new FabricError('WGF_ERR_UNAUTHORIZED', `node ${token.node} was removed from pool ${pool}; its token is no longer valid`) };
}

/** Ends the streams of a token this server deleted, before the DELETE is answered. */
export function registerRevocationHook(app: FastifyInstance, revocations: Revocations): void {
  app.addHook('onSend', (req, reply, payload, done) => {
    if (req.method === 'DELETE' && req.routeOptions.url === '/v1/tokens/:id' && reply.statusCode < 300) {
      revocations.revokeToken(String((req.params as { id: string }).id));
    }
    done(null, payload);
  });
}
