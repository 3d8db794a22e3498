import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Compare, Op, Store } from './store.js';
import { apply, collect, del, norm, put, rejectsWith, assertFabric, withStore, type OpenStore, HANG_GUARD_MS } from './contract-support.js';

/** Contract cases for revisions, txns, compares, range and count, argument checks and close. */
export function kvContract(open: OpenStore): void {
  const it = (name: string, fn: (store: Store) => Promise<void>) => test(name, { timeout: HANG_GUARD_MS }, withStore(open, fn));

  describe('revisions', () => {
    it('a fresh store is at revision 0 with nothing compacted', async (store) => {
      assert.equal(await store.currentRevision(), 0);
      assert.equal(await store.compactRevision(), 0);
      assert.deepEqual((await store.range('')).kvs, []);
    });

    it('revisions start at 1 and grow by exactly 1 per successful txn', async (store) => {
      const txns: Op[][] = [[put('a', '1')], [put('b', '1'), put('c', '1')], [del('a')], [put('b', '2'), del('c'), put('d', '1')], [put('a', '2')]];
      for (const [i, ops] of txns.entries()) {
        const res = await store.txn([], ops);
        assert.deepEqual(res, { succeeded: true, revision: i + 1, failed: [] });
        assert.equal(await store.currentRevision(), i + 1);
      }
    });

    it('all ops of a txn share its revision', async (store) => {
      await apply(store, [[put('x', '0')]]);
      const res = await store.txn([], [put('a', '1'), put('b', '1'), del('x'), put('c', '1')]);
      assert.equal(res.revision, 2);
      for (const k of ['a', 'b', 'c']) assert.equal((await store.get(k))?.modRevision, 2, k);
      const { events } = await store.changes('', 1);
      assert.deepEqual(events.map((e) => e.revision), [2, 2, 2, 2]);
    });

    const noRevision: { name: string; compares: Compare[]; ops: Op[]; succeeded: boolean }[] = [
      { name: 'no compares and no ops', compares: [], ops: [], succeeded: true },
      { name: 'holding compares and no ops', compares: [{ key: 'k', modRevision: 1 }], ops: [], succeeded: true },
      { name: 'a failing compare and no ops', compares: [{ key: 'k', modRevision: 0 }], ops: [], succeeded: false },
      { name: 'a failing compare with ops', compares: [{ key: 'k', modRevision: 7 }], ops: [put('k', 'x')], succeeded: false },
    ];
    for (const c of noRevision) {
      it(`a txn with ${c.name} consumes no revision`, async (store) => {
        await apply(store, [[put('k', 'v')]]);
        const res = await store.txn(c.compares, c.ops);
        assert.equal(res.succeeded, c.succeeded);
        assert.equal(res.revision, 1);
        assert.equal(await store.currentRevision(), 1);
        assert.deepEqual((await store.changes('', 1)).events, []);
        await apply(store, [[put('n', 'v')]]);
        assert.equal(await store.currentRevision(), 2);
      });
    }

    it('a txn that only deletes missing keys succeeds, takes a revision and logs no event', async (store) => {
      await apply(store, [[put('k', 'v')]]);
      const res = await store.txn([], [del('missing'), del('other')]);
      assert.deepEqual(res, { succeeded: true, revision: 2, failed: [] });
      assert.equal(await store.currentRevision(), 2);
      assert.deepEqual((await store.changes('', 1)).events, []);
    });
  });

  describe('compares', () => {
    const cases: { name: string; setup: Op[][]; compares: Compare[]; failed: string[] }[] = [
      { name: "modRevision equal to the key's holds", setup: [[put('k', '1')]], compares: [{ key: 'k', modRevision: 1 }], failed: [] },
      { name: 'a stale modRevision fails', setup: [[put('k', '1')], [put('k', '2')]], compares: [{ key: 'k', modRevision: 1 }], failed: ['k'] },
      { name: 'a future modRevision fails', setup: [[put('k', '1')]], compares: [{ key: 'k', modRevision: 5 }], failed: ['k'] },
      { name: '0 holds for an absent key', setup: [[put('other', '1')]], compares: [{ key: 'k', modRevision: 0 }], failed: [] },
      { name: '0 fails for a present key', setup: [[put('k', '1')]], compares: [{ key: 'k', modRevision: 0 }], failed: ['k'] },
      { name: 'non-zero fails for an absent key', setup: [[put('other', '1')]], compares: [{ key: 'k', modRevision: 1 }], failed: ['k'] },
      { name: '0 holds again once the key is deleted', setup: [[put('k', '1')], [del('k')]], compares: [{ key: 'k', modRevision: 0 }], failed: [] },
      { name: 'the old modRevision fails after delete and re-create', setup: [[put('k', '1')], [del('k')], [put('k', '1')]], compares: [{ key: 'k', modRevision: 1 }], failed: ['k'] },
      { name: 'one failing compare out of three fails the txn', setup: [[put('a', '1')], [put('b', '1')]], compares: [{ key: 'a', modRevision: 1 }, { key: 'b', modRevision: 1 }, { key: 'c', modRevision: 0 }], failed: ['b'] },
      { name: '0 on two keys the txn creates, the second present (the first one\'s put is undone)', setup: [[put('z', '1')]], compares: [{ key: 'k', modRevision: 0 }, { key: 'z', modRevision: 0 }], failed: ['z'] },
      { name: '0 on a key the txn creates, another compare failing after it', setup: [[put('a', '1')]], compares: [{ key: 'k', modRevision: 0 }, { key: 'a', modRevision: 0 }], failed: ['a'] },
      { name: 'every failing key is reported, in compare order', setup: [[put('a', '1')], [put('b', '1')]], compares: [{ key: 'b', modRevision: 0 }, { key: 'a', modRevision: 1 }, { key: 'c', modRevision: 3 }], failed: ['b', 'c'] },
    ];
    for (const c of cases) {
      it(`${c.name}; the txn is all or nothing`, async (store) => {
        await apply(store, c.setup);
        const rev = await store.currentRevision();
        const before = (await store.range('')).kvs;
        const res = await store.txn(c.compares, [put('k', 'new'), put('z', 'new'), del('a')]);
        if (c.failed.length === 0) {
          assert.deepEqual(res, { succeeded: true, revision: rev + 1, failed: [] });
          assert.equal((await store.get('z'))?.value, 'new');
          assert.equal(await store.get('a'), undefined);
        } else {
          assert.deepEqual(res, { succeeded: false, revision: rev, failed: c.failed });
          assert.deepEqual((await store.range('')).kvs, before);
          assert.equal(await store.currentRevision(), rev);
          assert.deepEqual((await store.changes('', rev)).events, []);
        }
      });
    }
  });

  describe('put, get and delete', () => {
    it('get of a missing key is undefined', async (store) => {
      await apply(store, [[put('a', '1')]]);
      assert.equal(await store.get('b'), undefined);
      assert.equal(await store.get('a/'), undefined);
    });

    it('a put of an existing key keeps createRevision and bumps modRevision', async (store) => {
      await apply(store, [[put('k', 'v1')], [put('other', 'x')], [put('k', 'v2')]]);
      assert.deepEqual(await store.get('k'), { key: 'k', value: 'v2', createRevision: 1, modRevision: 3 });
    });

    it('delete then put starts a new createRevision', async (store) => {
      await apply(store, [[put('k', 'v1')], [del('k')], [put('k', 'v2')]]);
      assert.deepEqual(await store.get('k'), { key: 'k', value: 'v2', createRevision: 3, modRevision: 3 });
    });

    it('put then delete of one key in one txn leaves it absent and logs both in order', async (store) => {
      await store.txn([], [put('k', 'v'), del('k')]);
      assert.equal(await store.get('k'), undefined);
      assert.deepEqual(norm((await store.changes('', 0)).events), [
        { type: 'put', key: 'k', revision: 1, value: 'v' },
        { type: 'delete', key: 'k', revision: 1, prevValue: 'v' },
      ]);
    });

    it('two puts of one key in one txn: the last wins and sees the first as prevValue', async (store) => {
      await store.txn([], [put('k', 'v1'), put('k', 'v2')]);
      assert.deepEqual(await store.get('k'), { key: 'k', value: 'v2', createRevision: 1, modRevision: 1 });
      assert.deepEqual(norm((await store.changes('', 0)).events), [
        { type: 'put', key: 'k', revision: 1, value: 'v1' },
        { type: 'put', key: 'k', revision: 1, value: 'v2', prevValue: 'v1' },
      ]);
    });

    it('values are stored verbatim (JSON, quotes, unicode, empty)', async (store) => {
      const values = ['', '{"a":[1,2,{"b":null}]}', "it's \"quoted\" \\ %_", 'ünïcødé ✓ 🔑', 'x'.repeat(10_000)];
      await store.txn([], values.map((v, i) => put(`v/${i}`, v)));
      for (const [i, v] of values.entries()) assert.equal((await store.get(`v/${i}`))?.value, v);
    });
  });

  describe('range and count', () => {
    const keys = ['pools/a', 'pools/a/', 'pools/a/1', 'pools/a/10', 'pools/a/2', 'pools/a/peers/x', 'pools/ab', 'pools/ab/1', 'pools/b/1',
      'p%/x', 'pa/x', 'p_/x', 'p!/1', 'p}/1', 'p~', 'p~~/1', 'x/pools/a/1', 'zz'];
    const seed = (store: Store) => store.txn([], keys.map((k) => put(k, `v:${k}`)));
    const prefixCases: { name: string; prefix: string; want: string[] }[] = [
      { name: 'a folder prefix', prefix: 'pools/a/', want: ['pools/a/', 'pools/a/1', 'pools/a/10', 'pools/a/2', 'pools/a/peers/x'] },
      { name: 'pools/ab/ is isolated from pools/a/ and pools/ab', prefix: 'pools/ab/', want: ['pools/ab/1'] },
      { name: 'a plain string prefix', prefix: 'pools/a', want: ['pools/a', 'pools/a/', 'pools/a/1', 'pools/a/10', 'pools/a/2', 'pools/a/peers/x', 'pools/ab', 'pools/ab/1'] },
      { name: 'a prefix with no keys', prefix: 'pools/c/', want: [] },
      { name: '% is no wildcard', prefix: 'p%', want: ['p%/x'] },
      { name: '_ is no wildcard', prefix: 'p_', want: ['p_/x'] },
      { name: '~, the highest printable character', prefix: 'p~', want: ['p~', 'p~~/1'] },
      { name: '!, the lowest printable character', prefix: 'p!', want: ['p!/1'] },
      { name: 'a whole key', prefix: 'zz', want: ['zz'] },
      { name: 'the empty prefix (everything, sorted)', prefix: '', want: [...keys].sort() },
    ];
    for (const c of prefixCases) {
      it(`range and count by ${c.name}`, async (store) => {
        await seed(store);
        const res = await store.range(c.prefix);
        assert.deepEqual(res.kvs.map((kv) => kv.key), c.want);
        assert.deepEqual(res.kvs.map((kv) => kv.value), c.want.map((k) => `v:${k}`));
        assert.equal(res.more, false);
        assert.equal(res.revision, 1);
        assert.equal(await store.count(c.prefix), c.want.length);
      });
    }

    const pageCases: { name: string; prefix: string; after?: string; limit?: number; want: string[]; more: boolean }[] = [
      { name: 'limit cuts the page and reports more', prefix: 'pools/a/', limit: 2, want: ['pools/a/', 'pools/a/1'], more: true },
      { name: 'limit equal to the key count reports no more', prefix: 'pools/a/', limit: 5, want: ['pools/a/', 'pools/a/1', 'pools/a/10', 'pools/a/2', 'pools/a/peers/x'], more: false },
      { name: 'after is exclusive', prefix: 'pools/a/', after: 'pools/a/1', want: ['pools/a/10', 'pools/a/2', 'pools/a/peers/x'], more: false },
      { name: 'after with limit', prefix: 'pools/a/', after: 'pools/a/1', limit: 2, want: ['pools/a/10', 'pools/a/2'], more: true },
      { name: 'after a key that does not exist', prefix: 'pools/a/', after: 'pools/a/15', want: ['pools/a/2', 'pools/a/peers/x'], more: false },
      { name: 'after below the prefix starts at the prefix', prefix: 'pools/ab/', after: 'pools/a', limit: 1, want: ['pools/ab/1'], more: false },
      { name: 'after the last key of the prefix', prefix: 'pools/a/', after: 'pools/a/peers/x', limit: 1, want: [], more: false },
      { name: 'after past the prefix', prefix: 'pools/a/', after: 'pools/b', want: [], more: false },
    ];
    for (const c of pageCases) {
      it(`range pages: ${c.name}`, async (store) => {
        await seed(store);
        const res = await store.range(c.prefix, { ...(c.after !== undefined ? { after: c.after } : {}), ...(c.limit !== undefined ? { limit: c.limit } : {}) });
        assert.deepEqual(res.kvs.map((kv) => kv.key), c.want);
        assert.equal(res.more, c.more);
      });
    }

    it('paging with after = last key and a limit visits every key once', async (store) => {
      const names = Array.from({ length: 25 }, (_, i) => `pg/k${String(i).padStart(2, '0')}`);
      await store.txn([], [put('pf', 'x'), ...names.map((k) => put(k, k)), put('pg0', 'x'), put('ph/1', 'x')]);
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      while (pages < 10) {
        const res = await store.range('pg/', { limit: 7, ...(after !== undefined ? { after } : {}) });
        pages++;
        seen.push(...res.kvs.map((kv) => kv.key));
        if (!res.more) break;
        after = res.kvs.at(-1)!.key;
      }
      assert.deepEqual(seen, names);
      assert.equal(pages, 4);
    });

    it('range reports revisions of each key and the current store revision', async (store) => {
      await apply(store, [[put('r/a', '1')], [put('r/b', '1')], [put('r/a', '2')], [put('s', '1')]]);
      const res = await store.range('r/');
      assert.equal(res.revision, 4);
      assert.deepEqual(res.kvs, [
        { key: 'r/a', value: '2', createRevision: 1, modRevision: 3 },
        { key: 'r/b', value: '1', createRevision: 2, modRevision: 2 },
      ]);
    });
  });

  describe('argument checks', () => {
    const badTxns: { name: string; compares: Compare[]; ops: Op[] }[] = [
      { name: 'an empty key', compares: [], ops: [put('', 'v')] },
      { name: 'a key with a space', compares: [], ops: [put('a b', 'v')] },
      { name: 'a key with a tab', compares: [], ops: [del('a\tb')] },
      { name: 'a non-ASCII key', compares: [], ops: [put('pööl', 'v')] },
      { name: 'a key with DEL (0x7f)', compares: [], ops: [put('a\x7f', 'v')] },
      { name: 'a value that is not a string', compares: [], ops: [{ type: 'put', key: 'k', value: 42 as unknown as string }] },
      { name: 'an unknown op type', compares: [], ops: [{ type: 'patch', key: 'k' } as unknown as Op] },
      { name: 'a compare with a negative modRevision', compares: [{ key: 'k', modRevision: -1 }], ops: [put('k', 'v')] },
      { name: 'a compare with a fractional modRevision', compares: [{ key: 'k', modRevision: 1.5 }], ops: [put('k', 'v')] },
      { name: 'a compare on an empty key', compares: [{ key: '', modRevision: 0 }], ops: [put('k', 'v')] },
    ];
    for (const c of badTxns) {
      it(`a txn with ${c.name} is refused with WGF_ERR_VALIDATION and changes nothing`, async (store) => {
        await apply(store, [[put('k0', 'v')]]);
        await rejectsWith(store.txn(c.compares, [put('ok', 'v'), ...c.ops]), 'WGF_ERR_VALIDATION');
        assert.equal(await store.currentRevision(), 1);
        assert.equal(await store.get('ok'), undefined);
      });
    }

    const badReads: { name: string; call: (s: Store) => Promise<unknown> }[] = [
      { name: 'range with limit 0', call: (s) => s.range('', { limit: 0 }) },
      { name: 'range with a fractional limit', call: (s) => s.range('', { limit: 2.5 }) },
      { name: 'changes with limit 0', call: (s) => s.changes('', 0, 0) },
      { name: 'changes since -1', call: (s) => s.changes('', -1) },
      { name: 'changes since 1.5', call: (s) => s.changes('', 1.5) },
    ];
    for (const c of badReads) it(`${c.name} is refused with WGF_ERR_VALIDATION`, (store) => rejectsWith(c.call(store), 'WGF_ERR_VALIDATION'));
  });

  describe('close', () => {
    const calls: { name: string; call: (s: Store) => Promise<unknown> }[] = [
      { name: 'get', call: (s) => s.get('k') },
      { name: 'range', call: (s) => s.range('') },
      { name: 'count', call: (s) => s.count('') },
      { name: 'txn', call: (s) => s.txn([], [put('k', 'v')]) },
      { name: 'changes', call: (s) => s.changes('', 0) },
      { name: 'currentRevision', call: (s) => s.currentRevision() },
      { name: 'compactRevision', call: (s) => s.compactRevision() },
      { name: 'compact', call: (s) => s.compact(0) },
    ];
    for (const c of calls) {
      it(`${c.name} after close rejects with WGF_ERR_STORE_UNAVAILABLE`, async (store) => {
        await apply(store, [[put('k', 'v')]]);
        await store.close();
        await rejectsWith(c.call(store), 'WGF_ERR_STORE_UNAVAILABLE');
      });
    }

    it('closing twice is safe', async (store) => {
      await store.close();
      await store.close();
      await rejectsWith(store.get('k'), 'WGF_ERR_STORE_UNAVAILABLE');
    });

    it('watch after close throws or reports WGF_ERR_STORE_UNAVAILABLE, and delivers nothing', async (store) => {
      await apply(store, [[put('k', 'v')]]);
      await store.close();
      let c;
      try {
        c = collect(store, '', 0);
      } catch (e) {
        assertFabric(e, 'WGF_ERR_STORE_UNAVAILABLE');
        return;
      }
      assertFabric(await c.failure(), 'WGF_ERR_STORE_UNAVAILABLE');
      assert.deepEqual(c.events, []);
    });

    it('close ends open watchers with WGF_ERR_STORE_UNAVAILABLE', async (store) => {
      await apply(store, [[put('k', 'v')]]);
      const c = collect(store, '', 0);
      await c.reach(1);
      await store.close();
      assertFabric(await c.failure(), 'WGF_ERR_STORE_UNAVAILABLE');
    });
  });
}
