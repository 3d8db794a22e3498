import { mkdtemp, open, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../sqlite.js';

/**
 * A store of 400 keys of 1 KiB, closed, then 4 KiB of garbage written in the middle of the
 * file, or over the root page of the kv table (so that every read of it meets the damage).
 */
export async function damagedStoreDir(at: 'middle' | 'kv-root' = 'middle'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-ab-damaged-'));
  const store = await SqliteStore.open(dir);
  for (let i = 0; i < 400; i++) await store.txn([], [{ type: 'put', key: `pools/p/peers/k${String(i).padStart(4, '0')}`, value: 'v'.repeat(1024) }]);
  await store.close();
  const file = join(dir, 'store.db');
  const { size } = await stat(file);
  let offset = Math.floor(size / 2 / 4096) * 4096;
  if (at === 'kv-root') {
    const db = new Database(file, { readonly: true });
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    offset = (Number(db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'kv'").pluck().get()) - 1) * pageSize;
    db.close();
  }
  const fh = await open(file, 'r+');
  try {
    const garbage = Buffer.alloc(4096, 0);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 200) & 0xff;
    await fh.write(garbage, 0, garbage.length, offset);
  } finally {
    await fh.close();
  }
  return dir;
}

