import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { isFabricError } from '../protocol/errors.js';
import { runStoreContract } from './contract.js';
import { EtcdStore } from './etcd.js';
import type { Store, Watcher } from './store.js';
import { ETCD_MISSING, etcdBinary, startTestEtcd, type TestEtcd } from './testing/etcd-server.js';

// One real etcd for this file; every contract test gets a fresh store under its own prefix
// of it, which also shows that fabrics sharing a cluster do not see each other.
const skip = etcdBinary() ? false : ETCD_MISSING;
let etcd: TestEtcd | undefined;
// Large enough for the big-txn tests below; the default-limit case gets its own etcd.
before(async () => { if (!skip) etcd = await startTestEtcd({ maxTxnOps: 10_000, maxRequestBytes: 16 * 1024 * 1024 }); });
after(async () => { await etcd?.stop(); });

const fresh = () => `t/${randomBytes(6).toString('hex')}/`;

describe('etcd driver', { skip }, () => {
  runStoreContract('etcd', async () => {
    const prefix = fresh();
    const opened: Store[] = [await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix })];
    return {
      store: opened[0]!,
      reopen: async () => {
        const s = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix });
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        for (const s of opened) await s.close();
      },
    };
  });

  test('etcd: two fabrics on one cluster (two prefixes) have separate keys, revisions and logs', async () => {
    const [pa, pb] = [fresh(), fresh()];
    const a = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix: pa });
    const b = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix: pb });
    try {
      await a.txn([], [{ type: 'put', key: 'k', value: 'a' }]);
      await a.txn([], [{ type: 'put', key: 'k', value: 'a2' }]);
      await b.txn([], [{ type: 'put', key: 'k', value: 'b' }]);
      assert.deepEqual([await a.currentRevision(), await b.currentRevision()], [2, 1]);
      assert.equal((await b.get('k'))?.value, 'b');
      assert.deepEqual((await b.changes('', 0)).events.map((e) => e.value), ['b']);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('etcd: one txn of 3000 deletes (a forced pool delete) is applied whole, as one revision', async () => {
    const s = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix: fresh() });
    try {
      const keys = Array.from({ length: 3000 }, (_, i) => `pools/p/peers/${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 500) await s.txn([], keys.slice(i, i + 500).map((key) => ({ type: 'put' as const, key, value: `{"n":${i}}` })));
      const rev = await s.currentRevision();
      const res = await s.txn([], [...keys.map((key) => ({ type: 'delete' as const, key })), { type: 'delete', key: 'pools/p' }]);
      assert.deepEqual(res, { succeeded: true, revision: rev + 1, failed: [] });
      assert.equal(await s.count('pools/'), 0);
      const { events } = await s.changes('pools/', rev);
      assert.equal(events.length, 3000);
      assert.ok(events.every((e) => e.type === 'delete' && e.revision === rev + 1 && e.prevValue !== undefined));
      assert.equal((await s.range('pools/')).kvs.length, 0);
    } finally {
      await s.close();
    }
  });

  test('etcd: a txn over the server\'s --max-txn-ops fails whole with WGF_ERR_STORE_TXN_TOO_LARGE', async () => {
    const small = await startTestEtcd({ maxTxnOps: 128, maxRequestBytes: 1572864 }); // etcd's defaults
    const s = await EtcdStore.open({ endpoints: [small.endpoint], prefix: fresh() });
    try {
      // What the server logs at start: each limit too small for a batch of 1,000 peers, with its flag.
      const problems = await s.checkLimits();
      assert.equal(problems.length, 2, problems.join('\n'));
      assert.match(problems[0]!, /--max-txn-ops 10000/);
      assert.match(problems[1]!, /--max-request-bytes 10485760/);
      await s.txn([], [{ type: 'put', key: 'keep', value: '1' }]);
      const ops = Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: `k/${i}`, value: 'v' }));
      await assert.rejects(s.txn([], ops), (e) => isFabricError(e, 'WGF_ERR_STORE_TXN_TOO_LARGE') && /Raise etcd's --max-txn-ops/.test(e.message));
      const big = [{ type: 'put' as const, key: 'big', value: 'x'.repeat(2 * 1024 * 1024) }];
      await assert.rejects(s.txn([], big), (e) => isFabricError(e, 'WGF_ERR_STORE_TXN_TOO_LARGE') && /Raise etcd's --max-request-bytes/.test(e.message));
      assert.equal(await s.currentRevision(), 1);
      assert.equal(await s.count('k/'), 0);
      assert.equal(await s.get('big'), undefined);
      // 120 ops fit (plus the revision and log keys): the store still works.
      assert.equal((await s.txn([], ops.slice(0, 120))).revision, 2);
    } finally {
      await s.close();
      await small.stop();
    }
  });

  test('etcd: started with the limits of ETCD_BATCH_LIMITS, checkLimits finds no problem', async () => {
    const s = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix: fresh() });
    try {
      assert.deepEqual(await s.checkLimits(), []);
    } finally {
      await s.close();
    }
  });

  test('etcd: two EtcdStores on one prefix (two replicas) see each other\'s writes and watch them', async () => {
    const prefix = fresh();
    const a = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix });
    const b = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix });
    try {
      const seen: number[] = [];
      const done = new Promise<void>((resolve, reject) => {
        const w = b.watch('c', 0, (evs) => {
          seen.push(...evs.map((e) => e.revision));
          if (seen.length === 60) { w.cancel(); resolve(); }
        }, reject);
      });
      // 60 increments from both replicas at once, each a compare-and-swap: none lost.
      const worker = async (s: Store) => {
        for (let n = 0; n < 30;) {
          const cur = await s.get('c');
          if ((await s.txn([{ key: 'c', modRevision: cur?.modRevision ?? 0 }], [{ type: 'put', key: 'c', value: String(Number(cur?.value ?? 0) + 1) }])).succeeded) n++;
        }
      };
      await Promise.all([worker(a), worker(b)]);
      await done;
      assert.equal((await a.get('c'))?.value, '60');
      assert.deepEqual(seen, Array.from({ length: 60 }, (_, i) => i + 1));
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('etcd: 40 watchers of 20 pools on one replica share ONE etcd watch stream, each gets exactly its events', { timeout: 120_000 }, async () => {
    const prefix = fresh();
    const s = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix });
    const w = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix });
    try {
      await s.txn([], [{ type: 'put', key: 'pools/p0/pool', value: 'before' }]);
      const got = new Map<number, string[]>();
      const watchers: Watcher[] = [];
      let total = 0;
      const all = new Promise<void>((resolve, reject) => {
        for (let i = 0; i < 40; i++) {
          got.set(i, []);
          // Half from revision 0 (a backlog to read first), half from the current revision.
          watchers.push(w.watch(`pools/p${i % 20}/`, i < 20 ? 0 : 1, (evs) => {
            got.get(i)!.push(...evs.map((e) => `${e.revision}:${e.key}`));
            total += evs.length;
            if (total === 1 + 40 * 3) resolve();
          }, reject));
        }
      });
      // Writes from another replica while the watchers start: 3 per pool, one txn each.
      for (let r = 0; r < 3; r++) for (let p = 0; p < 20; p++) await s.txn([], [{ type: 'put', key: `pools/p${p}/peers/x${r}`, value: 'v' }]);
      await all;
      for (const x of watchers) x.cancel();
      assert.equal(w.follower.etcdWatchesOpened, 1);
      for (let i = 0; i < 40; i++) {
        const p = i % 20;
        const want = [...(i < 20 && p === 0 ? ['1:pools/p0/pool'] : []), ...[0, 1, 2].map((r) => `${2 + r * 20 + p}:pools/p${p}/peers/x${r}`)];
        assert.deepEqual(got.get(i), want, `watcher ${i}`);
      }
    } finally {
      await s.close();
      await w.close();
    }
  });

  test('etcd: bad options are refused with WGF_ERR_VALIDATION; an unreachable etcd with WGF_ERR_STORE_UNAVAILABLE', async () => {
    for (const endpoints of [[], ['127.0.0.1:2379'], ['ftp://x:1'], ['http://127.0.0.1']]) {
      await assert.rejects(EtcdStore.open({ endpoints }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'), JSON.stringify(endpoints));
    }
    await assert.rejects(EtcdStore.open({ endpoints: [etcd!.endpoint], prefix: 'has space/' }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
    await assert.rejects(EtcdStore.open({ endpoints: ['http://127.0.0.1:1'], requestTimeoutMs: 500 }), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE') && /127\.0\.0\.1:1/.test(e.message));
  });
});
