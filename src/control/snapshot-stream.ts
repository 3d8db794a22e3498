import { FabricError } from '../protocol/errors.js';
import type { PageEncoder, RangeResult } from '../store/store.js';
import { toBase64 } from '../wg/keys.js';
import { classifyPoolKey } from './keys.js';
import { decode, nodeEntity, peerEntity, peerPskContext, poolEntity, type NodeRecord, type PeerRecord, type PoolRecord, type PskOpener } from './records.js';
import { SecretBox } from './secrets.js';

/**
 * A pool snapshot (the PoolSnapshot JSON of protocol/types.ts) written as text, one piece per
 * page of a paged read at one revision, so neither the store's read nor the answer is ever
 * held whole. Keys under pools/<pool>/ sort as nodes/, peers/, then the pool record, so the
 * object is written in that order: {"revision":R,"nodes":[..],"peers":[..],"pool":{..}} (key
 * order does not matter to a JSON reader). A read that ends without the pool record (the pool
 * was deleted between the caller's check and the read) throws WGF_ERR_NOT_FOUND at the end,
 * after text was given out: the HTTP layer then cuts the connection, and the reader sees a
 * truncated answer rather than a snapshot without its pool.
 *
 * This module is also the page encoder (store.ts PageEncoderModule) that the SQLite driver
 * loads into its reader threads, so decoding the records and encoding the answer happen off
 * the event loop: keep its imports free of I/O and state.
 */
export class SnapshotEncoder implements PageEncoder {
  private section: 'none' | 'nodes' | 'peers' = 'none';
  private count = 0;
  private tail: string | null = null;
  private started = false;

  constructor(private readonly pool: string, private readonly openPsk?: PskOpener) {}

  page(page: RangeResult): string {
    let out = '';
    if (!this.started) {
      out += `{"revision":${JSON.stringify(page.revision)}`;
      this.started = true;
    }
    for (const kv of page.kvs) {
      const k = classifyPoolKey(this.pool, kv.key);
      if (!k) continue;
      if (k.kind === 'pool') {
        this.tail = JSON.stringify(poolEntity(decode<PoolRecord>(kv), kv.modRevision));
        continue;
      }
      if (this.section !== k.kind + 's') {
        out += this.section === 'none' ? '' : ']';
        if (this.section === 'none' && k.kind === 'peer') out += ',"nodes":[]';
        this.section = k.kind === 'node' ? 'nodes' : 'peers';
        out += `,"${this.section}":[`;
        this.count = 0;
      }
      const entity = k.kind === 'node' ? nodeEntity(decode<NodeRecord>(kv), kv.modRevision, null) : peerEntity(decode<PeerRecord>(kv), kv.modRevision, this.openPsk);
      out += (this.count++ > 0 ? ',' : '') + JSON.stringify(entity);
    }
    return out;
  }

  end(): string {
    if (this.tail === null) throw new FabricError('WGF_ERR_NOT_FOUND', `pool ${this.pool} not found`, { object: `pools/${this.pool}` });
    let end = this.section === 'none' ? ',"nodes":[],"peers":[]' : this.section === 'nodes' ? '],"peers":[]' : ']';
    end += `,"pool":${this.tail}}`;
    return end;
  }
}

/** What the snapshot page encoder is made from (sent to a reader thread). */
export interface SnapshotEncoderArgs {
  readonly pool: string;
  /** The master keys, for views that carry the peers' preshared keys (node tokens). */
  readonly masterKeys?: readonly Uint8Array[];
}

/** The file URL of this module, for PageEncoderSpec.module. */
export const SNAPSHOT_ENCODER_MODULE = import.meta.url;

/** The PageEncoderModule entry point. */
export function createPageEncoder(args: SnapshotEncoderArgs): SnapshotEncoder {
  return new SnapshotEncoder(args.pool, args.masterKeys ? pskOpenerOf(new SecretBox(args.masterKeys)) : undefined);
}

/** Opens peers' sealed preshared keys with `box` (base64). */
export function pskOpenerOf(box: SecretBox): PskOpener {
  return (r) => (r.presharedKeySealed === undefined ? undefined : toBase64(box.open(r.presharedKeySealed, peerPskContext(r.pool, r.name))));
}

/** The snapshot of `pages` as text chunks, encoded on this thread (tests, and stores without rangeEncoded). */
export async function* snapshotChunks(pool: string, pages: AsyncIterable<RangeResult>, openPsk?: PskOpener): AsyncGenerator<string> {
  const enc = new SnapshotEncoder(pool, openPsk);
  for await (const page of pages) {
    const out = enc.page(page);
    if (out !== '') yield out;
  }
  yield enc.end();
}
