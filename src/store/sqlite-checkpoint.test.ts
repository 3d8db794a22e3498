import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { until } from '../sys/testing/until.js';
import { FALLBACK_PAGES } from './sqlite-checkpoint.js';
import { SqliteStore } from './sqlite.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'wgf-sqlite-ckpt-'));

/** Commits `n` txns of `size` puts each (keys t/<i>/<j>, value i). */
async function write(store: SqliteStore, from: number, n: number, size = 10): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await store.txn([], Array.from({ length: size }, (_, j) => ({ type: 'put' as const, key: `t/${String(i).padStart(6, '0')}/${j}`, value: String(i) })));
  }
}

/** What the database FILE alone holds (a copy without its WAL): keys under t/. */
async function keysInFile(dir: string): Promise<number> {
  const copy = join(dir, 'copy.db');
  await copyFile(join(dir, 'store.db'), copy);
  const db = new Database(copy, { readonly: true });
  try {
    return db.prepare("SELECT count(*) FROM kv WHERE key >= 't/' AND key < 't0'").pluck().get() as number;
  } finally {
    db.close();
    await rm(copy, { force: true });
  }
}

test('sqlite: WAL checkpoints run on the checkpoint thread; the writer keeps its own only as a backstop at a large WAL', async () => {
  const dir = await tempDir();
  const store = await SqliteStore.open(dir);
  try {
    assert.equal(store.diagnostics().walAutocheckpoint, FALLBACK_PAGES);
    // 150 txns of 10 puts: past the thread's trigger (1,000 ops), far below the backstop.
    await write(store, 0, 150);
    await until('a checkpoint by the thread', () => store.diagnostics().checkpoints.runs >= 1);
    const stats = await store.checkpointNow();
    assert.equal(stats.failure, null);
    assert.ok(stats.lastLog > 0 && stats.lastCheckpointed === stats.lastLog, `checkpointed ${stats.lastCheckpointed} of ${stats.lastLog} frames`);
    // The pages are in the database file itself, not only in the WAL.
    assert.equal(await keysInFile(dir), 1500);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('sqlite: when the checkpoint thread dies the store keeps committing and checkpoints inline again, nothing lost', async () => {
  const dir = await tempDir();
  let store = await SqliteStore.open(dir);
  try {
    await write(store, 0, 10);
    await store.checkpointNow();
    // The thread ends under the store (as a crash of the thread would).
    const worker = (store as unknown as { checkpointer: { worker: { terminate(): Promise<number> } | null } }).checkpointer.worker;
    assert.ok(worker, 'the checkpoint thread is running');
    await worker.terminate();
    await until('the failure to be noticed', () => store.diagnostics().checkpoints.failure !== null);
    assert.match(store.diagnostics().checkpoints.failure!, /checkpoint thread ended/);
    assert.equal(store.diagnostics().walAutocheckpoint, 1000, 'the writer checkpoints at SQLite\'s own threshold again');
    // 300 txns of 10 puts: well past 1,000 WAL pages, so the writer's inline checkpoint ran.
    await write(store, 10, 300);
    assert.ok(await keysInFile(dir) > 0, 'the writer checkpointed into the file');
    await store.close();
    store = await SqliteStore.open(dir);
    assert.equal(await store.currentRevision(), 310);
    assert.equal(await store.count('t/'), 3100);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

// A writer process killed at a random point (inside a commit, a checkpoint or between them):
// each txn is in the reopened store whole or not at all, and the revision counts the txns.
const CHILD = `
import { SqliteStore } from ${JSON.stringify(fileURLToPath(new URL('./sqlite.ts', import.meta.url)))};
const store = await SqliteStore.open(process.argv[1]);
for (let i = 0; ; i++) {
  await store.txn([], Array.from({ length: 20 }, (_, j) => ({ type: 'put', key: 't/' + String(i).padStart(6, '0') + '/' + j, value: String(i) })));
  if (i === 200) process.stdout.write('going\\n');
}
`;

test('sqlite: a writer killed mid-run (commits and checkpoints in flight) leaves every txn whole or absent', async () => {
  const base = await tempDir();
  try {
    for (let round = 0; round < 3; round++) {
      const dir = join(base, String(round));
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
      });
      // Past 200 txns (4,000 ops: the checkpoint thread has run); kill at a random moment.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 200));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const store = await SqliteStore.open(dir);
      try {
        const rev = await store.currentRevision();
        const { kvs } = await store.range('t/');
        const perTxn = new Map<string, number>();
        for (const kv of kvs) perTxn.set(kv.value, (perTxn.get(kv.value) ?? 0) + 1);
        assert.ok(rev > 200, `revision ${rev}`);
        assert.equal(perTxn.size, rev, 'one txn per revision');
        for (let i = 0; i < rev; i++) assert.equal(perTxn.get(String(i)), 20, `txn ${i} has ${perTxn.get(String(i)) ?? 0} of its 20 keys`);
        const last = await store.changes('t/', rev - 1);
        assert.equal(last.events.length, 20, 'the last revision carries its whole txn');
      } finally {
        await store.close();
      }
    }
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
