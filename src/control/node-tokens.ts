import type { Op } from '../store/store.js';
import type { Ctx } from './context.js';
import * as K from './keys.js';
import { decode, type TokenRecord } from './records.js';

/**
 * The ops that delete the node tokens bound to `pool` (to its `node` only, when given), for the
 * txn that deletes the node or the pool: a node's credential dies with the node. Tokens are few
 * (one per node plus a handful), so a scan is fine. A token created between this scan and the
 * delete's txn survives it (the two txns do not conflict); it is dead all the same, because
 * authenticate() refuses a node token whose node is gone or was re-created.
 */
export async function nodeTokenDeletes(ctx: Ctx, pool: string, node?: string): Promise<Op[]> {
  const ops: Op[] = [];
  for (const kv of (await ctx.store.range(K.TOKEN_PREFIX)).kvs) {
    const t = decode<TokenRecord>(kv);
    if (t.role !== 'node' || t.pool !== pool || (node !== undefined && t.node !== node)) continue;
    ops.push({ type: 'delete', key: kv.key }, { type: 'delete', key: K.tokenNameKey(t.name) });
  }
  return ops;
}
