import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TokenCreate, TokenCreated } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { Page, Role, TokenInfo } from '../protocol/types.js';
import type { Compare, KeyValue } from '../store/store.js';
import { commit, notFound, type Ctx, type MutationOptions } from './context.js';
import * as K from './keys.js';
import { scanPage, type PageRequest } from './paging.js';
import { readPool } from './pools.js';
import { decode, tokenEntity, type NodeRecord, type TokenRecord } from './records.js';
import * as V from './validate.js';

/**
 * API tokens. The text is `wgf_<16 hex id>_<43 base64url secret>` (256-bit secret); the
 * store keeps only SHA-256 over the id and secret, compared in constant time. Roles:
 * admin, operator, read-only, and node (bound to one pool and node). What each role may do
 * is the server's policy (src/server/policy.ts).
 */

const TOKEN_RE = /^wgf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** Every role, for validation and help texts. */
export const ROLES: readonly Role[] = ['admin', 'operator', 'read-only', 'node'];

/** Splits a token text into id and secret, or null when it is not shaped like one. */
export function parseToken(text: string): { id: string; secret: string } | null {
  const m = typeof text === 'string' ? TOKEN_RE.exec(text) : null;
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

/** What the store keeps of a token: SHA-256 over a label, the id and the secret (hex). */
export function hashSecret(id: string, secret: string): string {
  return createHash('sha256').update(`wgfabric token\0${id}\0${secret}`).digest('hex');
}

/** A fresh token text and its parts. */
export function newToken(): { id: string; secret: string; text: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, text: `wgf_${id}_${secret}` };
}

/** Creates a token; names are unique; role 'node' needs an existing pool and node. */
export async function createToken(ctx: Ctx, input: TokenCreate, opts: MutationOptions): Promise<TokenCreated> {
  const name = V.name('name', input.name);
  if (!ROLES.includes(input.role)) throw V.invalid('role', `must be one of ${ROLES.join(', ')}`);
  let pool: string | null = null;
  let node: string | null = null;
  if (input.role === 'node') {
    pool = V.name('pool', input.pool);
    node = V.name('node', input.node);
    await readPool(ctx, pool);
  } else if (input.pool !== undefined || input.node !== undefined) {
    throw V.invalid('pool', `and node are only for role 'node'`);
  }
  const expiresAt = V.time('expiresAt', input.expiresAt);
  if (expiresAt !== null && Date.parse(expiresAt) <= ctx.clock.now().getTime()) throw V.invalid('expiresAt', 'is in the past: the token would never work');
  const t = newToken();
  const base: TokenRecord = {
    id: t.id, name, role: input.role, pool, node, hash: hashSecret(t.id, t.secret), createdAt: ctx.clock.now().toISOString(),
    ...(expiresAt !== null ? { expiresAt } : {}),
  };
  return commit(ctx, opts.actor, async () => {
    const holder = await ctx.store.get(K.tokenNameKey(name));
    if (holder) throw new FabricError('WGF_ERR_ALREADY_EXISTS', `a token named ${name} already exists`, { id: holder.value });
    const compares: Compare[] = [{ key: K.tokenNameKey(name), modRevision: 0 }, { key: K.tokenKey(t.id), modRevision: 0 }];
    let rec = base;
    if (pool !== null && node !== null) {
      // Bound to this incarnation of the node, which must still exist when the token is stored.
      const n = await ctx.store.get(K.nodeKey(pool, node));
      if (!n) throw notFound(`node ${node} in pool ${pool}`, `pools/${pool}/nodes/${node}`);
      compares.push({ key: n.key, modRevision: n.modRevision });
      rec = { ...base, nodeCreateRevision: n.createRevision, nodeCreatedAt: decode<NodeRecord>(n).createdAt };
    }
    return {
      compares,
      ops: [{ type: 'put', key: K.tokenKey(t.id), value: JSON.stringify(rec) }, { type: 'put', key: K.tokenNameKey(name), value: t.id }],
      audit: { action: 'create', kind: 'token', object: `tokens/${t.id}` },
      result: (rev) => ({ token: tokenEntity(rec, rev), secret: t.text }),
    };
  });
}

/** A page of tokens (no secrets, no hashes). */
export function listTokens(ctx: Ctx, req: PageRequest): Promise<Page<TokenInfo>> {
  return scanPage(ctx.store, K.TOKEN_PREFIX, K.TOKEN_PREFIX, req, (kv) => tokenEntity(decode<TokenRecord>(kv), kv.modRevision));
}

/** Deletes a token; the last admin token cannot go (WGF_ERR_IN_USE), or nobody could manage tokens. */
export async function deleteToken(ctx: Ctx, id: string, opts: MutationOptions): Promise<void> {
  await commit(ctx, opts.actor, async () => {
    const kv = /^[0-9a-f]{16}$/.test(id) ? await ctx.store.get(K.tokenKey(id)) : undefined;
    if (!kv) throw notFound(`token ${id}`, `tokens/${id}`);
    const rec = decode<TokenRecord>(kv);
    const compares: Compare[] = [{ key: kv.key, modRevision: kv.modRevision }];
    if (rec.role === 'admin') {
      const admins = (await ctx.store.range(K.TOKEN_PREFIX)).kvs.filter((t) => t.key !== kv.key && decode<TokenRecord>(t).role === 'admin');
      if (admins.length === 0) throw new FabricError('WGF_ERR_IN_USE', 'this is the last admin token; create another admin token first');
      // Another admin deleted concurrently moves its modRevision, so two deletes cannot both pass.
      compares.push(...admins.map((t) => ({ key: t.key, modRevision: t.modRevision })));
    }
    return {
      compares,
      ops: [{ type: 'delete', key: kv.key }, { type: 'delete', key: K.tokenNameKey(rec.name) }],
      audit: { action: 'delete', kind: 'token', object: `tokens/${id}` },
      result: () => undefined,
    };
  });
}

/**
 * The token's identity when `text` is a valid, existing token; null otherwise. `read` fetches
 * the token and node records (default: the store; the control plane passes its AuthCache).
 */
export async function authenticate(ctx: Ctx, text: string, read: (key: string) => Promise<KeyValue | undefined> = (k) => ctx.store.get(k)): Promise<TokenInfo | null> {
  const parts = parseToken(text);
  if (!parts) return null;
  const kv = await read(K.tokenKey(parts.id));
  if (!kv) return null;
  const rec = decode<TokenRecord>(kv);
  const want = Buffer.from(rec.hash, 'hex');
  const got = Buffer.from(hashSecret(parts.id, parts.secret), 'hex');
  if (!(want.length === got.length && timingSafeEqual(want, got))) return null;
  if (rec.expiresAt && Date.parse(rec.expiresAt) <= ctx.clock.now().getTime()) return null;
  if (rec.role === 'node') {
    // A node token lives as long as its node: deleted (or deleted and re-created), it is refused.
    const n = rec.pool !== null && rec.node !== null ? await read(K.nodeKey(rec.pool, rec.node)) : undefined;
    if (!n) return null;
    // The incarnation check: the node's createdAt (kept by store copies), else its createRevision (older tokens).
    if (rec.nodeCreatedAt !== undefined ? decode<NodeRecord>(n).createdAt !== rec.nodeCreatedAt
      : rec.nodeCreateRevision !== undefined && n.createRevision !== rec.nodeCreateRevision) return null;
  }
  return tokenEntity(rec, kv.modRevision);
}

/**
 * Creates the admin token "bootstrap" when no token exists and returns its text (once);
 * returns null when tokens exist (or another process bootstrapped first).
 */
export async function bootstrap(ctx: Ctx): Promise<string | null> {
  if ((await ctx.store.count(K.TOKEN_PREFIX)) > 0) return null;
  try {
    return (await createToken(ctx, { name: 'bootstrap', role: 'admin' }, { actor: 'system' })).secret;
  } catch (e) {
    if (e instanceof FabricError && e.code === 'WGF_ERR_ALREADY_EXISTS') return null;
    throw e;
  }
}
