import { LIMIT_DEFAULT, LIMIT_MAX } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { Page } from '../protocol/types.js';
import type { KeyValue, Store } from '../store/store.js';

/**
 * Keyset pagination over a store prefix with filtering. The cursor is the last key looked
 * at, base64url-encoded (opaque to clients; checked to belong to the listed prefix). A page
 * holds up to `limit` matches but looks at no more than `maxScan` keys, so a selective
 * filter returns short pages with a `next` cursor rather than one unbounded scan.
 */

export interface PageRequest {
  readonly limit?: number;
  readonly cursor?: string;
}

/** The opaque cursor of a page that ended at `key`. */
export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

/** Decodes a cursor of a list over `prefix`. Throws WGF_ERR_VALIDATION for a foreign one. */
export function decodeCursor(cursor: string, prefix: string): string {
  const key = /^[A-Za-z0-9_-]{1,400}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!key.startsWith(prefix) || !/^[\x21-\x7e]+$/.test(key)) {
    throw new FabricError('WGF_ERR_VALIDATION', 'cursor is not a cursor of this list; start again without one', { field: 'cursor' });
  }
  return key;
}

/** The page size: default 100, else 1..1000 (WGF_ERR_VALIDATION otherwise). */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return LIMIT_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMIT_MAX) {
    throw new FabricError('WGF_ERR_VALIDATION', `limit must be an integer 1..${LIMIT_MAX}`, { field: 'limit' });
  }
  return limit;
}

/**
 * Lists keys under `scanPrefix` (which starts with `listPrefix`, e.g. a name prefix),
 * mapping each through `map` (null drops it).
 */
export async function scanPage<T>(
  store: Store,
  listPrefix: string,
  scanPrefix: string,
  req: PageRequest,
  map: (kv: KeyValue) => Promise<T | null> | T | null,
): Promise<Page<T>> {
  const limit = pageLimit(req.limit);
  const maxScan = Math.max(limit * 10, 1000);
  let after = req.cursor === undefined ? undefined : decodeCursor(req.cursor, listPrefix);
  const items: T[] = [];
  let scanned = 0;
  let revision = 0;
  for (;;) {
    const batch = Math.min(Math.max(limit - items.length, 64), LIMIT_MAX);
    const res = await store.range(scanPrefix, { ...(after !== undefined ? { after } : {}), limit: batch });
    revision = res.revision;
    for (let i = 0; i < res.kvs.length; i++) {
      const kv = res.kvs[i]!;
      scanned++;
      after = kv.key;
      const item = await map(kv);
      if (item !== null) items.push(item);
      const moreHere = i < res.kvs.length - 1 || res.more;
      if (items.length >= limit || scanned >= maxScan) {
        return { items, next: moreHere ? encodeCursor(kv.key) : null, revision };
      }
    }
    if (!res.more) return { items, next: null, revision };
  }
}
