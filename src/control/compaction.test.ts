import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { isFabricError } from '../protocol/errors.js';
import { MemoryStore } from '../store/memory.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { AutoCompactor, compactionTarget, minBatchOf, validateAutoCompact, type AutoCompactSettings, type CompactionPolicy, type CompactionTimers } from './compaction.js';
import { rejectsWith } from './testing/fixtures.js';

describe('compactionTarget (pure policy)', () => {
  const p: CompactionPolicy = { keepRevisions: 100, minBatch: 10 };
  const cases: [name: string, current: number, compacted: number, policy: CompactionPolicy, want: number | null][] = [
    ['fresh store', 0, 0, p, null],
    ['young store: fewer revisions than kept', 100, 0, p, null],
    ['one below the batch threshold', 109, 0, p, null],
    ['exactly at the batch threshold', 110, 0, p, 10],
    ['well past the threshold keeps exactly keepRevisions', 1000, 0, p, 900],
    ['threshold counted from the compact revision', 1009, 900, p, null],
    ['threshold reached again after a compaction', 1010, 900, p, 910],
    ['compact revision already ahead (admin compacted to current)', 1000, 1000, p, null],
    ['compact revision ahead of the target but not of current', 1000, 950, p, null],
    ['disabled: keepRevisions 0', 1_000_000, 0, { keepRevisions: 0 }, null],
    ['minBatch 1 compacts every new revision', 101, 0, { keepRevisions: 100, minBatch: 1 }, 1],
    ['default minBatch is keepRevisions/10', 10_999, 0, { keepRevisions: 10_000 }, null],
    ['default minBatch reached', 11_000, 0, { keepRevisions: 10_000 }, 1000],
  ];
  for (const [name, current, compacted, policy, want] of cases) {
    test(name, () => assert.equal(compactionTarget(current, compacted, policy), want));
  }

  test('default minBatch is at least 1', () => {
    assert.equal(minBatchOf({ keepRevisions: 1 }), 1);
    assert.equal(minBatchOf({ keepRevisions: 25 }), 3);
    assert.equal(minBatchOf({ keepRevisions: 7, minBatch: 50 }), 50);
  });

  test('the answer never exceeds current - keepRevisions nor falls to or below the compact revision', () => {
    for (let current = 0; current <= 60; current++) {
      for (let compacted = 0; compacted <= current; compacted++) {
        for (const policy of [{ keepRevisions: 5 }, { keepRevisions: 5, minBatch: 3 }, { keepRevisions: 30, minBatch: 1 }]) {
          const t = compactionTarget(current, compacted, policy);
          if (t === null) continue;
          assert.ok(t <= current - policy.keepRevisions && t > compacted && t - compacted >= minBatchOf(policy), `${current} ${compacted} ${t}`);
        }
      }
    }
  });

  test('settings validation: WGF_ERR_VALIDATION naming the field', () => {
    const bad: [Partial<AutoCompactSettings>, string][] = [
      [{ keepRevisions: -1 }, 'keepRevisions'], [{ keepRevisions: 1.5 }, 'keepRevisions'], [{ keepRevisions: Number.NaN }, 'keepRevisions'],
      [{ minBatch: 0 }, 'minBatch'], [{ intervalMs: 999 }, 'intervalMs'], [{ intervalMs: Infinity }, 'intervalMs'],
    ];
    for (const [patch, field] of bad) {
      assert.throws(() => validateAutoCompact({ keepRevisions: 10, intervalMs: 1000, ...patch }),
        (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.field === field, field);
    }
    assert.doesNotThrow(() => validateAutoCompact({ keepRevisions: 0, intervalMs: 1000 }));
  });
});

/** Timers fired by hand: `fire()` runs the one pending callback. */
function fakeTimers(): CompactionTimers & { pending: Map<number, { fn: () => void; ms: number }>; fire(): void } {
  let next = 1;
  const pending = new Map<number, { fn: () => void; ms: number }>();
  return {
    pending,
    setTimeout: (fn, ms) => {
      pending.set(next, { fn, ms });
      return next++;
    },
    clearTimeout: (h) => void pending.delete(h as number),
    fire() {
      assert.equal(pending.size, 1, 'exactly one tick is scheduled');
      const [id, t] = [...pending][0]!;
      pending.delete(id);
      t.fn();
    },
  };
}

/** Lets the fired tick run to its end (it re-arms the timer when done). Bounded, not timed. */
async function untilRescheduled(timers: { pending: Map<number, unknown> }): Promise<void> {
  for (let i = 0; i < 1000 && timers.pending.size === 0; i++) await nextTurn();
  assert.equal(timers.pending.size, 1, 'the next tick was scheduled');
}

function recordingLog() {
  const lines: { level: 'info' | 'error'; fields: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    info: (fields: Record<string, unknown>, msg: string) => void lines.push({ level: 'info', fields, msg }),
    error: (fields: Record<string, unknown>, msg: string) => void lines.push({ level: 'error', fields, msg }),
  };
}

async function writeN(store: Store, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.txn([], [{ type: 'put', key: `status/n${i % 3}`, value: `{"i":${i}}` }]);
}

describe('AutoCompactor (shell, fake timers)', () => {
  const settings: AutoCompactSettings = { keepRevisions: 20, minBatch: 5, intervalMs: 60_000 };

  test('a tick compacts to what the policy says; old since is compacted, recent since still works', async () => {
    const store = new MemoryStore();
    const timers = fakeTimers();
    const log = recordingLog();
    const c = new AutoCompactor({ store, settings, timers, log });
    try {
      c.start();
      c.start(); // idempotent
      assert.deepEqual([...timers.pending.values()].map((t) => t.ms), [60_000]);
      await writeN(store, 24); // 24 - 20 = 4 < minBatch 5
      timers.fire();
      await untilRescheduled(timers);
      assert.equal(await store.compactRevision(), 0, 'below the batch threshold: nothing compacted');

      await writeN(store, 26); // revision 50
      timers.fire();
      await untilRescheduled(timers);
      assert.equal(await store.compactRevision(), compactionTarget(50, 0, settings));
      assert.equal(await store.compactRevision(), 30);
      await rejectsWith(store.changes('', 29), 'WGF_ERR_STORE_COMPACTED');
      const recent = await store.changes('', 30);
      assert.deepEqual(recent.events.map((e) => e.revision), Array.from({ length: 20 }, (_, i) => 31 + i));
      assert.equal(await store.currentRevision(), 50, 'compaction itself writes no revision (no audit entry)');
      assert.deepEqual(log.lines.map((l) => [l.level, l.fields.compactRevision, l.fields.previousCompactRevision]), [['info', 30, 0]]);

      assert.deepEqual(await c.tick(), { action: 'none', reason: 'too-few' }, 'nothing new: no second compaction');
    } finally {
      await c.stop();
      await store.close();
    }
    assert.equal(timers.pending.size, 0, 'stop() cancels the next tick');
  });

  test('disabled (keepRevisions 0): never schedules, never compacts', async () => {
    const store = new MemoryStore();
    const timers = fakeTimers();
    const c = new AutoCompactor({ store, settings: { keepRevisions: 0, intervalMs: 1000 }, timers });
    assert.equal(c.enabled, false);
    c.start();
    assert.equal(timers.pending.size, 0);
    await writeN(store, 50);
    assert.deepEqual(await c.tick(), { action: 'none', reason: 'disabled' });
    assert.equal(await store.compactRevision(), 0);
    await c.stop();
    await store.close();
  });

  test('a failing store is logged and retried at the next tick, never thrown', async () => {
    const store = new MemoryStore();
    await writeN(store, 40);
    let failures = 1;
    const flaky: Store = Object.assign(Object.create(store) as Store, {
      compact: async (rev: number) => {
        if (failures-- > 0) throw new Error('disk I/O error');
        return store.compact(rev);
      },
    });
    const timers = fakeTimers();
    const log = recordingLog();
    const c = new AutoCompactor({ store: flaky, settings, timers, log });
    c.start();
    timers.fire();
    await untilRescheduled(timers);
    assert.equal(await store.compactRevision(), 0);
    assert.equal(log.lines[0]?.level, 'error');
    assert.equal(log.lines[0]?.fields.error, 'disk I/O error');
    timers.fire();
    await untilRescheduled(timers);
    assert.equal(await store.compactRevision(), 20, 'the next tick succeeds');
    await store.close();
    const closed = await c.tick();
    assert.equal(closed.action, 'failed');
    assert.ok(closed.action === 'failed' && isFabricError(closed.error, 'WGF_ERR_STORE_UNAVAILABLE'), 'a closed store fails the tick, not the process');
    assert.equal(log.lines.at(-1)?.fields.code, 'WGF_ERR_STORE_UNAVAILABLE');
    await c.stop();
    assert.deepEqual(await c.tick(), { action: 'none', reason: 'stopped' });
    c.start();
    assert.equal(timers.pending.size, 0, 'a stopped compactor does not restart');
  });

  test('stop() waits for a running tick, so the store can be closed right after', async () => {
    const store = new MemoryStore();
    await writeN(store, 40);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered = false;
    let compacted = false;
    const slow: Store = Object.assign(Object.create(store) as Store, {
      compact: async (rev: number) => {
        entered = true;
        await gate;
        await store.compact(rev);
        compacted = true;
      },
    });
    const c = new AutoCompactor({ store: slow, settings, timers: fakeTimers() });
    const ticking = c.tick();
    for (let i = 0; i < 1000 && !entered; i++) await nextTurn();
    assert.equal(entered, true, 'the tick is inside compact()');
    let stopped = false;
    const stopping = c.stop().then(() => (stopped = true));
    await nextTurn();
    assert.equal(stopped, false, 'stop() is still waiting for the tick');
    release();
    await stopping;
    assert.equal(compacted, true);
    assert.equal((await ticking).action, 'compacted');
    await store.close();
  });
});

test('AutoCompactor on SQLite: the log rows are really gone and revision reads still work', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-compact-'));
  try {
    let store = await SqliteStore.open(dir);
    await writeN(store, 60);
    const c = new AutoCompactor({ store, settings: { keepRevisions: 25, intervalMs: 1000 }, timers: fakeTimers() });
    assert.deepEqual(await c.tick(), { action: 'compacted', from: 0, to: 35, revision: 60 });
    await c.stop();
    await rejectsWith(store.changes('', 34), 'WGF_ERR_STORE_COMPACTED');
    assert.equal((await store.changes('', 35)).events.length, 25);
    await store.close();

    const db = new Database(join(dir, 'store.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT min(rev) AS lo, max(rev) AS hi, count(*) AS n FROM log').get();
      assert.deepEqual(rows, { lo: 36, hi: 60, n: 25 });
    } finally {
      db.close();
    }

    store = await SqliteStore.open(dir);
    try {
      assert.equal(await store.currentRevision(), 60);
      assert.equal(await store.compactRevision(), 35);
      assert.equal((await store.range('status/')).kvs.length, 3);
      assert.equal((await store.get('status/n2'))?.modRevision, 60);
      assert.deepEqual((await store.txn([], [{ type: 'put', key: 'k', value: 'v' }])).revision, 61);
      assert.deepEqual((await store.changes('', 59)).events.map((e) => e.revision), [60, 61]);
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
