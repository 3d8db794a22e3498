import { FabricError } from '../protocol/errors.js';
import type { RangeResult } from '../store/store.js';
import { classifyPoolKey } from './keys.js';
import { decode, nodeEntity, peerEntity, poolEntity, type NodeRecord, type PeerRecord, type PoolRecord, type PskOpener } from './records.js';

/**
 * A pool snapshot (the PoolSnapshot JSON of protocol/types.ts) written as text chunks, one
 * per page of a paged read at one revision, so neither the store's read nor the answer is
 * ever held whole. Keys under pools/<pool>/ sort as nodes/, peers/, then the pool record, so
 * the object is written in that order: {"revision":R,"nodes":[..],"peers":[..],"pool":{..}}
 * (key order does not matter to a JSON reader). A read that ends without the pool record (the
 * pool was deleted between the caller's check and the read) throws WGF_ERR_NOT_FOUND, after
 * chunks were given out: the HTTP layer then cuts the connection, and the reader sees a
 * truncated answer rather than a snapshot without its pool.
 */
export async function* snapshotChunks(pool: string, pages: AsyncIterable<RangeResult>, openPsk?: PskOpener): AsyncGenerator<string> {
  let section: 'none' | 'nodes' | 'peers' = 'none';
  let count = 0;
  let tail: string | null = null;
  let started = false;
  for await (const page of pages) {
    let out = '';
    if (!started) {
      out += `{"revision":${JSON.stringify(page.revision)}`;
      started = true;
    }
    for (const kv of page.kvs) {
      const k = classifyPoolKey(pool, kv.key);
      if (!k) continue;
      if (k.kind === 'pool') {
        tail = JSON.stringify(poolEntity(decode<PoolRecord>(kv), kv.modRevision));
        continue;
      }
      if (section !== k.kind + 's') {
        out += section === 'none' ? '' : ']';
        if (section === 'none' && k.kind === 'peer') out += ',"nodes":[]';
        section = k.kind === 'node' ? 'nodes' : 'peers';
        out += `,"${section}":[`;
        count = 0;
      }
      const entity = k.kind === 'node' ? nodeEntity(decode<NodeRecord>(kv), kv.modRevision, null) : peerEntity(decode<PeerRecord>(kv), kv.modRevision, openPsk);
      out += (count++ > 0 ? ',' : '') + JSON.stringify(entity);
    }
    if (out !== '') yield out;
  }
  if (tail === null) throw new FabricError('WGF_ERR_NOT_FOUND', `pool ${pool} not found`, { object: `pools/${pool}` });
  let end = section === 'none' ? ',"nodes":[],"peers":[]' : section === 'nodes' ? '],"peers":[]' : ']';
  end += `,"pool":${tail}}`;
  yield end;
}
