import type { PageEncoder, PageEncoderModule, PageEncoderSpec, RangeResult, Store } from './store.js';
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

/**
 * The pages of rangePages() as bytes made by `encoder` (see Store.rangeEncoded): off the event
 * loop when the driver can, else encoded here page by page (memory and etcd drivers).
 */
export async function* rangeEncoded(store: Store, prefix: string, pageSize: number, encoder: PageEncoderSpec): AsyncGenerator<Uint8Array> {
  validateLimit(pageSize);
  if (store.rangeEncoded) {
    yield* store.rangeEncoded(prefix, pageSize, encoder);
    return;
  }
  const mod = await import(encoder.module) as PageEncoderModule;
  yield* encodePages(rangePages(store, prefix, pageSize), mod.createPageEncoder(encoder.args));
}

/** Encodes pages in order; the end's text comes with the last page (more: false). */
export async function* encodePages(pages: AsyncIterable<RangeResult> | Iterable<RangeResult>, enc: PageEncoder): AsyncGenerator<Uint8Array> {
  for await (const page of pages) {
    const text = enc.page(page) + (page.more ? '' : enc.end());
    if (text !== '') yield Buffer.from(text);
  }
}
