import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { isFabricError } from '../protocol/errors.js';
import { runStoreContract } from './contract.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'wgf-sqlite-'));

runStoreContract('sqlite', async () => {
  const dir = await tempDir();
  const opened: Store[] = [await SqliteStore.open(dir)];
  return {
    store: opened[0]!,
    reopen: async () => {
      const s = await SqliteStore.open(dir);
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/** Runs fn on a store in a fresh temp dir, then closes it and removes the dir. */
async function inTempStore(fn: (store: SqliteStore, dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  const store = await SqliteStore.open(dir);
  try {
    await fn(store, dir);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('sqlite: WAL mode, synchronous=NORMAL (or FULL on request), normal locking (the lock is store.lock), a busy timeout', async () => {
  await inTempStore(async (store, dir) => {
    const d = store.diagnostics();
    assert.deepEqual([d.journalMode, d.lockingMode, d.synchronous, d.busyTimeoutMs], ['wal', 'normal', 1, 5000]);
    await store.txn([], [{ type: 'put', key: 'k', value: 'v' }]);
    await store.close();
    // WAL is a property of the file: a plain connection sees it too.
    const db = new Database(join(dir, 'store.db'), { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });
  const dir = await tempDir();
  const full = await SqliteStore.open(dir, { synchronous: 'full', busyTimeoutMs: 250 });
  try {
    assert.deepEqual([full.diagnostics().synchronous, full.diagnostics().busyTimeoutMs], [2, 250]);
  } finally {
    await full.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: prefix, count and changes queries are index range scans, never full scans or LIKE', () =>
  inTempStore(async (store) => {
    const { plans } = store.diagnostics();
    assert.match(plans.range, /SEARCH kv USING PRIMARY KEY \(key>\? AND key<\?\)/);
    assert.match(plans.rangeAfter, /SEARCH kv USING PRIMARY KEY \(key>\? AND key<\?\)/);
    assert.match(plans.count, /SEARCH kv USING (COVERING INDEX|PRIMARY KEY).*\(key>\? AND key<\?\)/);
    assert.match(plans.changes, /SEARCH log USING PRIMARY KEY \(rev>\?\)/);
    assert.match(plans.changesAt, /SEARCH log USING PRIMARY KEY \(rev=\?\)/);
    for (const plan of Object.values(plans)) assert.doesNotMatch(plan, /SCAN|TEMP B-TREE|LIKE/, plan);
  }));

test('sqlite: data written with one SqliteStore is read by the next one on the same dir', async () => {
  const dir = await tempDir();
  try {
    const a = await SqliteStore.open(join(dir, 'nested', 'store-dir'));
    await a.txn([], [{ type: 'put', key: 'k', value: 'v' }]);
    await a.close();
    const b = await SqliteStore.open(join(dir, 'nested', 'store-dir'));
    assert.equal((await b.get('k'))?.value, 'v');
    await b.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: a file that is not a database gives WGF_ERR_STORE_UNAVAILABLE naming the path', async () => {
  const dir = await tempDir();
  try {
    const file = join(dir, 'store.db');
    await writeFile(file, 'definitely not a database\n'.repeat(100));
    await assert.rejects(SqliteStore.open(dir), (e) => {
      assert.ok(isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE'), String(e));
      assert.equal(e.details?.path, file);
      assert.match(e.message, /not a SQLite database or is corrupted/);
      assert.ok(e.message.includes(file));
      return true;
    });
    // The failed open left nothing locked: once the file is moved away, the dir opens.
    await rm(file);
    const store = await SqliteStore.open(dir);
    assert.equal(await store.currentRevision(), 0);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: a directory path that is a file gives WGF_ERR_STORE_UNAVAILABLE', async () => {
  const dir = await tempDir();
  try {
    await writeFile(join(dir, 'plain-file'), 'x');
    await assert.rejects(SqliteStore.open(join(dir, 'plain-file')), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: a store of another schema version is refused', async () => {
  const dir = await tempDir();
  try {
    const store = await SqliteStore.open(dir);
    await store.close();
    const db = new Database(join(dir, 'store.db'));
    db.prepare("UPDATE meta SET value = 99 WHERE name = 'schema_version'").run();
    db.close();
    await assert.rejects(SqliteStore.open(dir), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE') && /schema version 99/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: a second SqliteStore on an open dir is refused (same path or another spelling)', () =>
  inTempStore(async (store, dir) => {
    await store.txn([], [{ type: 'put', key: 'k', value: 'v' }]);
    for (const spelling of [dir, `${dir}/`, join(dir, '..', dir.split('/').at(-1)!)]) {
      await assert.rejects(SqliteStore.open(spelling), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE') && /already open/.test(e.message));
    }
    // The first store is unaffected.
    assert.equal((await store.get('k'))?.value, 'v');
  }));

test('sqlite: another connection cannot take the directory lock (store.lock) while the store is open', () =>
  inTempStore(async (store, dir) => {
    await store.txn([], [{ type: 'put', key: 'k', value: 'v' }]);
    const other = new Database(join(dir, 'store.lock'), { timeout: 0 });
    try {
      assert.throws(() => other.prepare('SELECT count(*) FROM holder').get(), { code: 'SQLITE_BUSY' });
    } finally {
      other.close();
    }
    assert.equal((await store.get('k'))?.value, 'v');
  }));

test('sqlite: another process cannot open the store while it is open, and can after close', () =>
  inTempStore(async (store, dir) => {
    await store.txn([], [{ type: 'put', key: 'k', value: 'v' }]);
    const probe = (): string => execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
      import { SqliteStore } from ${JSON.stringify(join(process.cwd(), 'src/store/sqlite.ts'))};
      try { const s = await SqliteStore.open(${JSON.stringify(dir)}, { busyTimeoutMs: 0 }); console.log((await s.get('k')).value); await s.close(); }
      catch (e) { console.log(e.code + ' ' + e.message); }`], { cwd: process.cwd(), encoding: 'utf8' }).trim();
    assert.match(probe(), /^WGF_ERR_STORE_UNAVAILABLE .*locked by another process/);
    await store.close();
    assert.equal(probe(), 'v');
  }));

test('sqlite: opening a store held by another process fails with WGF_ERR_STORE_UNAVAILABLE, not a hang', async () => {
  const dir = await tempDir();
  try {
    await (await SqliteStore.open(dir)).close();
    const holder = new Database(join(dir, 'store.db'));
    holder.pragma('locking_mode = EXCLUSIVE');
    holder.pragma('journal_mode = WAL');
    holder.prepare('SELECT count(*) FROM kv').get();
    try {
      await assert.rejects(SqliteStore.open(dir, { busyTimeoutMs: 0 }), (e) =>
        isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE') && /locked by another process/.test(e.message));
    } finally {
      holder.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
