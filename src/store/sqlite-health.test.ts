import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type Database from 'better-sqlite3';
import { isFabricError } from '../protocol/errors.js';
import { SqliteStore } from './sqlite.js';
import { damagedStoreDir } from './testing/damage.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'wgf-ab-health-'));

const dbOf = (s: SqliteStore) => (s as unknown as { db: Database.Database }).db;

test('sqlite: a damaged store file is refused at open with WGF_ERR_STORE_CORRUPT and a restore hint', async () => {
  const dir = await damagedStoreDir();
  try {
    await assert.rejects(SqliteStore.open(dir), (e) => {
      assert.ok(isFabricError(e, 'WGF_ERR_STORE_CORRUPT'), String(e));
      assert.match(e.message, /damaged/);
      assert.match(e.message, /restore the data directory from a backup/);
      assert.match(e.hint, /restore .* from a backup/);
      assert.equal(e.status, 503);
      assert.equal(e.exitCode, 74);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: damage met at run time (check: none) maps to WGF_ERR_STORE_CORRUPT, then every write is refused and health says why', async () => {
  const dir = await damagedStoreDir('kv-root');
  const store = await SqliteStore.open(dir, { check: 'none' });
  try {
    assert.deepEqual(await store.health(), { ok: true });
    // The garbage hit a page of the kv or the log table: reading both meets it.
    const errs = (await Promise.allSettled([store.range('pools/'), store.changes('pools/', 0)])).filter((r) => r.status === 'rejected');
    assert.ok(errs.length > 0, 'a read met the damage');
    for (const r of errs) assert.ok(isFabricError((r as PromiseRejectedResult).reason, 'WGF_ERR_STORE_CORRUPT'), String((r as PromiseRejectedResult).reason));
    const rev = await store.currentRevision();
    await assert.rejects(store.txn([], [{ type: 'put', key: 'x', value: '1' }]), (e) => isFabricError(e, 'WGF_ERR_STORE_CORRUPT') && /writes are refused/.test(e.message));
    assert.equal(await store.currentRevision(), rev, 'nothing was written');
    const h = await store.health();
    assert.equal(h.ok, false);
    assert.equal(h.code, 'WGF_ERR_STORE_CORRUPT');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: the full check on request finds the damage and marks the store damaged; a sound store checks ok', async () => {
  const dir = await damagedStoreDir();
  const store = await SqliteStore.open(dir, { check: 'none' });
  const good = await tempDir();
  const sound = await SqliteStore.open(good);
  try {
    const res = await store.check('full');
    assert.equal(res.ok, false);
    assert.ok(res.problems.length > 0);
    assert.equal((await store.health()).code, 'WGF_ERR_STORE_CORRUPT');
    await sound.txn([], [{ type: 'put', key: 'a', value: '1' }]);
    assert.deepEqual({ ...(await sound.check('full')), durationMs: 0 }, { ok: true, mode: 'full', problems: [], durationMs: 0 });
    assert.equal((await sound.check('quick')).ok, true);
    assert.match(sound.openNotes.join('\n'), /quick integrity check ok/);
  } finally {
    await store.close();
    await sound.close();
    await rm(dir, { recursive: true, force: true });
    await rm(good, { recursive: true, force: true });
  }
});

test('sqlite: the quick check at open is skipped above quickCheckMaxBytes (bounded start), with a note', async () => {
  const dir = await tempDir();
  try {
    (await SqliteStore.open(dir)).close();
    const store = await SqliteStore.open(dir, { quickCheckMaxBytes: 1 });
    assert.match(store.openNotes.join('\n'), /skipped/);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: while commits fail for lack of space health is not ok with the reason; a probe commit clears it once space returns', async () => {
  const dir = await tempDir();
  const store = await SqliteStore.open(dir);
  try {
    await store.txn([], [{ type: 'put', key: 'a', value: '1' }]);
    const db = dbOf(store);
    const pages = Number(db.pragma('page_count', { simple: true }));
    db.pragma(`max_page_count = ${pages}`); // the file may not grow: a real SQLITE_FULL
    await assert.rejects(store.txn([], [{ type: 'put', key: 'big', value: 'x'.repeat(200_000) }]),
      (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE') && e.details?.['sqliteCode'] === 'SQLITE_FULL');
    let h = await store.health();
    assert.equal(h.ok, false);
    assert.equal(h.code, 'WGF_ERR_STORE_UNAVAILABLE');
    assert.match(h.reason!, /SQLITE_FULL/);
    await sleep(1100);
    h = await store.health(); // the probe needs room too: still not ok
    assert.equal(h.ok, false);
    db.pragma('max_page_count = 1000000');
    await sleep(1100);
    assert.deepEqual(await store.health(), { ok: true });
    await store.txn([], [{ type: 'put', key: 'big', value: 'x'.repeat(200_000) }]);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
