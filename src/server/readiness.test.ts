import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type Database from 'better-sqlite3';
import { main } from '../cli/main.js';
import { isFabricError } from '../protocol/errors.js';
import { damagedStoreDir } from '../store/testing/damage.js';
import { SqliteStore } from '../store/sqlite.js';
import { startServer } from './start.js';
import { harness } from './testing/harness.js';

test('/readyz is 503 with the reason while the store cannot commit (SQLITE_FULL), 200 again once a commit can land', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-ab-ready-'));
  const store = await SqliteStore.open(dir);
  const h = await harness({ store });
  try {
    const ready = () => h.app.inject({ method: 'GET', url: '/readyz', headers: h.bearer(h.tokens.readOnly) });
    assert.equal((await ready()).statusCode, 200);
    const db = (store as unknown as { db: Database.Database }).db;
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    await assert.rejects(store.txn([], [{ type: 'put', key: 'big', value: 'x'.repeat(300_000) }]));
    const res = await ready();
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().error.code, 'WGF_ERR_UNAVAILABLE');
    assert.match(res.json().error.message, /not ready: .*SQLITE_FULL/);
    assert.equal(res.json().error.details.storeCode, 'WGF_ERR_STORE_UNAVAILABLE');
    db.pragma('max_page_count = 1000000');
    await sleep(1100);
    assert.equal((await ready()).statusCode, 200);
    const check = await h.app.inject({ method: 'POST', url: '/v1/admin/store/check', headers: h.bearer(h.tokens.admin), payload: { mode: 'full' } });
    assert.equal(check.statusCode, 200);
    assert.equal(check.json().ok, true);
  } finally {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a server on a damaged store refuses to start with WGF_ERR_STORE_CORRUPT; store-check exits 74 on it and 0 on a sound one', async () => {
  const dir = await damagedStoreDir();
  const good = await mkdtemp(join(tmpdir(), 'wgf-ab-good-'));
  try {
    await assert.rejects(startServer({ dataDir: dir, host: '127.0.0.1', port: 0, handleSignals: false, logger: false, stdout: { write: () => true } }),
      (e) => isFabricError(e, 'WGF_ERR_STORE_CORRUPT') && /restore the data directory from a backup/.test(e.message));
    assert.equal(await main(['store-check', '--data-dir', dir, '--json']), 74);
    await (await SqliteStore.open(good)).close();
    assert.equal(await main(['store-check', '--data-dir', good, '--full', '--json']), 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(good, { recursive: true, force: true });
  }
});
