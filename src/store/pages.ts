import type { RangeResult, Store } from './store.js';
import { validateLimit } from './validate.js';

/**
 * Every key under `prefix` in pages of at most `pageSize` keys, all at one revision: the
 * driver's rangePages when it has one (reads that never hold up writes), else one range()
 * cut into pages (the memory driver: its range is a synchronous copy anyway).
 */
export async function* rangePages(store: Store, prefix: string, pageSize: number): AsyncGenerator<RangeResult> {
  validateLimit(pageSize);
  if (store.rangePages) {
    yield* store.rangePages(prefix, pageSize);
    return;
  }
  const all = await store.range(prefix);
  for (let i = 0; i === 0 || i < all.kvs.length; i += pageSize) {
    const kvs = all.kvs.slice(i, i + pageSize);
    yield { kvs, revision: all.revision, more: i + pageSize < all.kvs.length };
  }
}
