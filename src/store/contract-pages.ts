import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rangePages } from './pages.js';
import type { RangeResult, Store } from './store.js';
import { apply, del, put, rejectsWith, withStore, type OpenStore, HANG_GUARD_MS } from './contract-support.js';

/**
 * Contract cases for paged reads at one revision (pages.ts rangePages, which uses the
 * driver's rangePages when it has one): every key once, in order, all pages at the revision
 * of the first, and txns committed while the pages are read neither wait for the read nor
 * show up in it.
 */
export function pagesContract(open: OpenStore): void {
  const it = (name: string, fn: (store: Store) => Promise<void>) => test(name, { timeout: HANG_GUARD_MS }, withStore(open, fn));
  const keys = (n: number) => Array.from({ length: n }, (_, i) => `p/k${String(i).padStart(3, '0')}`);

  describe('paged reads at one revision', () => {
    it('pages list every key under the prefix once, in order, at one revision, with `more` on all but the last', async (store) => {
      await apply(store, [keys(25).map((k) => put(k, 'v')), [put('q/x', 'v'), put('p', 'not under p/')]]);
      const pages: RangeResult[] = [];
      for await (const page of rangePages(store, 'p/', 10)) pages.push(page);
      assert.deepEqual(pages.map((p) => p.kvs.length), [10, 10, 5]);
      assert.deepEqual(pages.map((p) => p.more), [true, true, false]);
      assert.deepEqual(pages.flatMap((p) => p.kvs.map((kv) => kv.key)), keys(25));
      assert.deepEqual(new Set(pages.map((p) => p.revision)), new Set([2]));
    });

    it('an empty prefix gives one empty last page at the current revision', async (store) => {
      await apply(store, [[put('a', '1')]]);
      const pages: RangeResult[] = [];
      for await (const page of rangePages(store, 'none/', 10)) pages.push(page);
      assert.deepEqual(pages, [{ kvs: [], revision: 1, more: false }]);
    });

    it('txns between pages commit at once and do not show in the rest of the read', async (store) => {
      await apply(store, [keys(25).map((k) => put(k, 'old'))]);
      const it = rangePages(store, 'p/', 10)[Symbol.asyncIterator]();
      const first = await it.next();
      assert.equal(first.done, false);
      // While the read is open: change a key of page 2, delete one of page 3, add one at the end.
      const res = await store.txn([], [put('p/k012', 'new'), del('p/k021'), put('p/k999', 'new')]);
      assert.deepEqual(res, { succeeded: true, revision: 2, failed: [] });
      const rest: RangeResult[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
      const seen = [first.value as RangeResult, ...rest];
      assert.deepEqual(seen.flatMap((p) => p.kvs.map((kv) => kv.key)), keys(25), 'the keys as of revision 1');
      assert.ok(seen.every((p) => p.revision === 1 && p.kvs.every((kv) => kv.value === 'old' && kv.modRevision === 1)));
      assert.equal((await store.get('p/k012'))?.value, 'new');
    });

    it('stopping early ends the read: later reads and txns work', async (store) => {
      await apply(store, [keys(25).map((k) => put(k, 'v'))]);
      for (let round = 0; round < 3; round++) {
        for await (const page of rangePages(store, 'p/', 10)) {
          assert.equal(page.kvs.length, 10);
          break;
        }
        assert.equal((await store.txn([], [put(`p/z${round}`, 'v')])).succeeded, true);
      }
      let n = 0;
      for await (const page of rangePages(store, 'p/', 10)) n += page.kvs.length;
      assert.equal(n, 28);
    });

    it('a page size that is not an integer >= 1 is WGF_ERR_VALIDATION', async (store) => {
      await rejectsWith(rangePages(store, 'p/', 0).next(), 'WGF_ERR_VALIDATION');
    });
  });
}
