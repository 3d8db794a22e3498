import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Op, Store, TxnResult } from './store.js';
import { apply, assertFabric, collect, del, norm, put, rejectsWith, settle, withStore, type Collector, type OpenStore, HANG_GUARD_MS } from './contract-support.js';

/** Contract cases for the change log: changes, compaction, watch, durability, concurrency. */
export function logContract(open: OpenStore): void {
  const it = (name: string, fn: (store: Store) => Promise<void>) => test(name, { timeout: HANG_GUARD_MS }, withStore(open, fn));
  const revs = (n: number, from = 1) => Array.from({ length: n }, (_, i) => i + from);

  describe('changes', () => {
    it('since is exclusive and the answer reports the current revision', async (store) => {
      await apply(store, [[put('a', '1')], [put('b', '1')], [put('c', '1')]]);
      const res = await store.changes('', 1);
      assert.deepEqual(res.events.map((e) => [e.revision, e.key]), [[2, 'b'], [3, 'c']]);
      assert.equal(res.revision, 3);
    });

    it('events of one txn come in the order of its ops', async (store) => {
      await store.txn([], [put('c', '1'), put('a', '1'), del('c'), put('b', '1')]);
      assert.deepEqual((await store.changes('', 0)).events.map((e) => `${e.type} ${e.key}`), ['put c', 'put a', 'delete c', 'put b']);
    });

    it('a new key has no prevValue; overwrite and delete carry it; delete has no value', async (store) => {
      await apply(store, [[put('k', 'v1')], [put('k', 'v2')], [del('k')], [put('k', 'v3')]]);
      assert.deepEqual(norm((await store.changes('', 0)).events), [
        { type: 'put', key: 'k', revision: 1, value: 'v1' },
        { type: 'put', key: 'k', revision: 2, value: 'v2', prevValue: 'v1' },
        { type: 'delete', key: 'k', revision: 3, prevValue: 'v2' },
        { type: 'put', key: 'k', revision: 4, value: 'v3' },
      ]);
    });

    it('a delete of a missing key yields no event', async (store) => {
      await apply(store, [[put('a', '1')], [del('missing'), put('b', '1')]]);
      assert.deepEqual((await store.changes('', 0)).events.map((e) => `${e.type} ${e.key}@${e.revision}`), ['put a@1', 'put b@2']);
    });

    it('the prefix filters events (pools/a/ vs pools/ab/)', async (store) => {
      await apply(store, [[put('pools/a/1', 'x'), put('pools/ab/1', 'x')], [put('pools/a', 'x'), put('x/pools/a/1', 'x')], [del('pools/a/1'), put('pools/ab/2', 'x')]]);
      assert.deepEqual((await store.changes('pools/a/', 0)).events.map((e) => `${e.type} ${e.key}`), ['put pools/a/1', 'delete pools/a/1']);
      assert.deepEqual((await store.changes('pools/ab/', 0)).events.map((e) => e.key), ['pools/ab/1', 'pools/ab/2']);
      const none = await store.changes('pools/c/', 0);
      assert.deepEqual(none, { events: [], revision: 3 });
    });

    it('since at or beyond the current revision returns nothing', async (store) => {
      await apply(store, [[put('a', '1')], [put('a', '2')]]);
      assert.deepEqual((await store.changes('', 2)).events, []);
      assert.deepEqual((await store.changes('', 9)).events, []);
    });

    // r1: a/1 | r2: a/2 b/1 a/3 a/4 | r3: a/5 | r4: a/6 a/7 ; under 'a/': 1, 3, 1, 2 events.
    const limitTxns: Op[][] = [[put('a/1', 'x')], [put('a/2', 'x'), put('b/1', 'x'), put('a/3', 'x'), put('a/4', 'x')], [put('a/5', 'x')], [put('a/6', 'x'), put('a/7', 'x')]];
    const limitCases: { name: string; since: number; limit: number; want: string[] }[] = [
      { name: 'limit 1 from 0: the first txn', since: 0, limit: 1, want: ['a/1'] },
      { name: 'limit 2 from 0: stops before the txn it would split', since: 0, limit: 2, want: ['a/1'] },
      { name: 'limit 4 from 0: two whole txns', since: 0, limit: 4, want: ['a/1', 'a/2', 'a/3', 'a/4'] },
      { name: 'limit 6 from 0: stops before r4', since: 0, limit: 6, want: ['a/1', 'a/2', 'a/3', 'a/4', 'a/5'] },
      { name: 'limit 7 from 0: everything', since: 0, limit: 7, want: ['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/6', 'a/7'] },
      { name: 'limit 1 from 1: a txn larger than limit comes whole', since: 1, limit: 1, want: ['a/2', 'a/3', 'a/4'] },
      { name: 'limit 2 from 3: exactly one txn', since: 3, limit: 2, want: ['a/6', 'a/7'] },
    ];
    for (const c of limitCases) {
      it(`changes with ${c.name}`, async (store) => {
        await apply(store, limitTxns);
        const res = await store.changes('a/', c.since, c.limit);
        assert.deepEqual(res.events.map((e) => e.key), c.want);
        assert.equal(res.revision, 4);
      });
    }

    it('following with a small limit from the last revision seen visits every event once', async (store) => {
      await apply(store, limitTxns);
      await apply(store, [[put('a/8', 'x'), del('a/1'), put('b/2', 'x')], [put('b/3', 'x')], [put('a/9', 'x')]]);
      const seen: string[] = [];
      let since = 0;
      for (let calls = 0; calls < 20; calls++) {
        const { events, revision } = await store.changes('a/', since, 2);
        if (events.length === 0) {
          since = revision;
          break;
        }
        seen.push(...events.map((e) => `${e.revision}:${e.type}:${e.key}`));
        since = events.at(-1)!.revision;
      }
      assert.deepEqual(seen, (await store.changes('a/', 0)).events.map((e) => `${e.revision}:${e.type}:${e.key}`));
      assert.equal(seen.length, 10);
      assert.equal(since, 7);
    });
  });

  describe('compaction', () => {
    const five: Op[][] = [[put('a', '1')], [put('b', '1')], [put('a', '2')], [del('b')], [put('c', '1')]];

    for (const since of [0, 1, 2]) {
      it(`changes since ${since} below the compaction point 3 throws WGF_ERR_STORE_COMPACTED`, async (store) => {
        await apply(store, five);
        await store.compact(3);
        await rejectsWith(store.changes('', since), 'WGF_ERR_STORE_COMPACTED', { compactRevision: 3, currentRevision: 5 });
        await rejectsWith(store.changes('a', since, 1), 'WGF_ERR_STORE_COMPACTED', { compactRevision: 3, currentRevision: 5 });
      });
    }

    it('changes since the compaction point itself works', async (store) => {
      await apply(store, five);
      await store.compact(3);
      assert.equal(await store.compactRevision(), 3);
      assert.deepEqual((await store.changes('', 3)).events.map((e) => `${e.type} ${e.key}@${e.revision}`), ['delete b@4', 'put c@5']);
    });

    it('compaction keeps the keys, their revisions and the revision counter', async (store) => {
      await apply(store, five);
      const before = (await store.range('')).kvs;
      await store.compact(5);
      assert.deepEqual((await store.range('')).kvs, before);
      assert.deepEqual((await store.changes('', 5)).events, []);
      assert.equal((await store.txn([], [put('d', '1')])).revision, 6);
      assert.deepEqual((await store.changes('', 5)).events.map((e) => e.key), ['d']);
    });

    const badRevs: { name: string; rev: number }[] = [
      { name: 'beyond the current revision', rev: 6 },
      { name: 'negative', rev: -1 },
      { name: 'fractional', rev: 2.5 },
      { name: 'NaN', rev: Number.NaN },
    ];
    for (const c of badRevs) {
      it(`compact to a revision ${c.name} is refused with WGF_ERR_VALIDATION`, async (store) => {
        await apply(store, five);
        await store.compact(1);
        await rejectsWith(store.compact(c.rev), 'WGF_ERR_VALIDATION');
        assert.equal(await store.compactRevision(), 1);
        assert.equal((await store.changes('', 1)).events.length, 4);
      });
    }

    it('compact is idempotent and never moves back', async (store) => {
      await apply(store, five);
      await store.compact(3);
      await store.compact(3);
      await store.compact(2);
      await store.compact(0);
      assert.equal(await store.compactRevision(), 3);
      await rejectsWith(store.changes('', 2), 'WGF_ERR_STORE_COMPACTED');
      assert.equal((await store.changes('', 3)).events.length, 2);
      await store.compact(4);
      assert.equal(await store.compactRevision(), 4);
    });
  });

  describe('watch', () => {
    it('delivers the backlog, then live events, in order', async (store) => {
      await apply(store, [[put('w/a', '1')], [put('w/b', '1'), put('w/c', '1')], [put('x', '1')]]);
      const c = collect(store, 'w/', 1);
      await c.reach(2);
      await apply(store, [[del('w/a')], [put('x', '2')], [put('w/b', '2')]]);
      await c.reach(6);
      assert.deepEqual(norm(c.events), norm((await store.changes('w/', 1)).events));
      assert.deepEqual(c.events.map((e) => `${e.type} ${e.key}@${e.revision}`), ['put w/b@2', 'put w/c@2', 'delete w/a@4', 'put w/b@6']);
      assert.ok(c.batches.every((n) => n > 0), 'no empty batch');
      c.cancel();
    });

    it('filters by prefix (pools/a/ vs pools/ab/)', async (store) => {
      const a = collect(store, 'pools/a/', 0);
      const ab = collect(store, 'pools/ab/', 0);
      await apply(store, [[put('pools/a/1', 'x'), put('pools/ab/1', 'x')], [put('pools/a', 'x'), put('x/pools/a/1', 'x')], [put('pools/ab/2', 'x')], [put('pools/a/2', 'x')]]);
      await a.reach(4);
      await ab.reach(3);
      await settle();
      assert.deepEqual(a.events.map((e) => e.key), ['pools/a/1', 'pools/a/2']);
      assert.deepEqual(ab.events.map((e) => e.key), ['pools/ab/1', 'pools/ab/2']);
      a.cancel();
      ab.cancel();
    });

    it('cancel stops delivery, even of events already queued', async (store) => {
      await apply(store, [[put('c/1', 'x')]]);
      const early = collect(store, 'c/', 0);
      early.cancel();
      const live = collect(store, 'c/', 1);
      const sentinel = collect(store, 'c/', 0);
      await sentinel.reach(1);
      await apply(store, [[put('c/2', 'x')]]);
      live.cancel();
      await apply(store, [[put('c/3', 'x')]]);
      await sentinel.reach(3);
      await settle();
      assert.deepEqual(early.events, []);
      assert.ok(live.events.every((e) => e.revision === 2), 'nothing after cancel');
      assert.deepEqual(sentinel.events.map((e) => e.revision), [1, 2, 3]);
      sentinel.cancel();
    });

    it('a watch from a compacted revision reports WGF_ERR_STORE_COMPACTED and delivers nothing', async (store) => {
      await apply(store, [[put('a', '1')], [put('b', '1')], [put('c', '1')]]);
      await store.compact(2);
      const bad = collect(store, '', 1);
      assertFabric(await bad.failure(), 'WGF_ERR_STORE_COMPACTED', { compactRevision: 2, currentRevision: 3 });
      const ok = collect(store, '', 2);
      await ok.reach(3);
      await settle();
      assert.deepEqual(bad.events, []);
      assert.deepEqual(ok.events.map((e) => e.key), ['c']);
      ok.cancel();
    });

    it('watchers started while 200 txns race see every event exactly once, in order', async (store) => {
      const collectors: Collector[] = [];
      let nested: Collector | undefined;
      collectors.push(collect(store, 'race/', 0, (batch) => {
        // A watcher started from inside a delivery, at the last revision delivered.
        const last = batch.at(-1)!.revision;
        if (!nested && last >= 100) nested = collect(store, 'race/', last);
      }));
      const pending: Promise<TxnResult>[] = [];
      for (let i = 0; i < 200; i++) {
        const ops = [put(`race/k${i % 13}`, `v${i}`)];
        if (i % 3 === 0) ops.push(put(`racer/k${i}`, 'noise')); // shares the string "race" but not "race/"
        if (i % 7 === 0) ops.push(del(`race/k${(i + 5) % 13}`));
        pending.push(store.txn([], ops));
        if (i % 25 === 5) collectors.push(collect(store, 'race/', i));
        if (i % 40 === 20) {
          await settle(1);
          collectors.push(collect(store, 'race/', await store.currentRevision()));
        }
      }
      const results = await Promise.all(pending);
      assert.deepEqual(results.map((r) => r.revision).sort((a, b) => a - b), revs(200));
      await collectors[0]!.reach(200);
      assert.ok(nested, 'the nested watcher was started');
      for (const c of [...collectors, nested]) {
        await c.reach(200);
        const want = (await store.changes('race/', c.since)).events;
        assert.deepEqual(norm(c.events), norm(want), `watcher since ${c.since}`);
        c.cancel();
      }
      assert.equal(collectors.length, 14);
    });
  });

  test('data, revisions and the compaction point survive close and reopen', { timeout: HANG_GUARD_MS }, async (t) => {
    const handle = await open();
    try {
      if (!handle.reopen) {
        t.skip('driver is not durable');
        return;
      }
      const s1 = handle.store;
      await apply(s1, [[put('p/a', '1'), put('p/b', '1')], [put('p/a', '2')], [del('p/b')], [put('q', '1')], [put('p/c', '1')], [del('nothing')]]);
      await s1.compact(2);
      const kvs = (await s1.range('')).kvs;
      const log = norm((await s1.changes('', 2)).events);
      await s1.close();
      const s2 = await handle.reopen();
      assert.equal(await s2.currentRevision(), 6);
      assert.equal(await s2.compactRevision(), 2);
      assert.deepEqual((await s2.range('')).kvs, kvs);
      assert.deepEqual(norm((await s2.changes('', 2)).events), log);
      await rejectsWith(s2.changes('', 1), 'WGF_ERR_STORE_COMPACTED', { compactRevision: 2, currentRevision: 6 });
      assert.deepEqual(await s2.txn([{ key: 'p/a', modRevision: 2 }], [put('p/a', '3')]), { succeeded: true, revision: 7, failed: [] });
      assert.deepEqual(await s2.get('p/a'), { key: 'p/a', value: '3', createRevision: 1, modRevision: 7 });
      await s2.close();
      const s3 = await handle.reopen();
      assert.equal(await s3.currentRevision(), 7);
      const c = collect(s3, 'p/', 2);
      await c.reach(7);
      assert.deepEqual(c.events.map((e) => `${e.type} ${e.key}@${e.revision}`), ['delete p/b@3', 'put p/c@5', 'put p/a@7']);
      c.cancel();
    } finally {
      await handle.cleanup();
    }
  });

  describe('concurrency', () => {
    it('100 concurrent txns guarded by one compare: exactly one winner per round', async (store) => {
      for (let round = 1; round <= 5; round++) {
        const lock = await store.get('lock');
        const rev = await store.currentRevision();
        const results = await Promise.all(revs(100, 0).map((i) =>
          store.txn([{ key: 'lock', modRevision: lock?.modRevision ?? 0 }], [put('lock', `r${round}w${i}`), put(`won/${round}`, `w${i}`)])));
        const winners = results.flatMap((r, i) => (r.succeeded ? [i] : []));
        assert.equal(winners.length, 1, `round ${round}`);
        const w = winners[0]!;
        assert.equal(results[w]!.revision, rev + 1);
        for (const [i, r] of results.entries()) if (i !== w) assert.deepEqual(r.failed, ['lock']);
        assert.equal((await store.get('lock'))?.value, `r${round}w${w}`);
        assert.equal((await store.get(`won/${round}`))?.value, `w${w}`);
        assert.equal(await store.currentRevision(), rev + 1);
      }
    });

    it('concurrent compare-and-swap increments lose no update', async (store) => {
      const worker = async () => {
        for (let done = 0; done < 10;) {
          const cur = await store.get('counter');
          const next = String(Number(cur?.value ?? '0') + 1);
          if ((await store.txn([{ key: 'counter', modRevision: cur?.modRevision ?? 0 }], [put('counter', next)])).succeeded) done++;
        }
      };
      await Promise.all(revs(10).map(worker));
      assert.equal((await store.get('counter'))?.value, '100');
      assert.equal(await store.currentRevision(), 100);
      assert.deepEqual((await store.changes('counter', 0)).events.map((e) => e.value), revs(100).map(String));
    });
  });
}
