import { FabricError } from '../protocol/errors.js';
import type { KeyValue, Op, Store } from './store.js';

/**
 * Moving a whole fabric between stores (SQLite ↔ etcd), and backups as files. Everything of a
 * fabric is a key of its store (pools, peers, nodes, tokens, audit log, IPAM claims), so a copy
 * of all keys, read as one snapshot, is the whole fabric. Revisions are not carried over: the
 * target numbers its own, and agents and LBs moved to it take a snapshot and diff it against
 * their devices (nothing changes on a device whose peers are the same).
 */

/** First line of a backup file. */
export interface BackupHeader {
  readonly format: 'wgfabric-store-backup';
  readonly version: 1;
  /** Store revision of the snapshot. */
  readonly revision: number;
  readonly keys: number;
  readonly createdAt: string;
}

/** Keys per txn when writing: below etcd's default of 128 ops per txn. */
export const COPY_BATCH = 100;

/** One consistent snapshot of every key (range('') reads at one revision on every driver). */
export async function snapshotAll(store: Store): Promise<{ revision: number; kvs: readonly KeyValue[] }> {
  const { revision, kvs } = await store.range('');
  return { revision, kvs };
}

/**
 * Writes `entries` into `target`, which must be empty (WGF_ERR_ALREADY_EXISTS otherwise:
 * restoring over a fabric would mix two). Returns the number of keys written.
 */
export async function writeAll(target: Store, entries: Iterable<{ key: string; value: string }>): Promise<number> {
  const existing = await target.count('');
  if (existing > 0) {
    throw new FabricError('WGF_ERR_ALREADY_EXISTS', `the target store is not empty (${existing} keys); copy or restore only into an empty store (another --etcd-prefix, or a new data directory)`, { keys: existing });
  }
  let batch: Op[] = [];
  let n = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await target.txn([], batch);
    n += batch.length;
    batch = [];
  };
  for (const e of entries) {
    batch.push({ type: 'put', key: e.key, value: e.value });
    if (batch.length >= COPY_BATCH) await flush();
  }
  await flush();
  return n;
}

/** Copies every key of `from` (one snapshot) into the empty `to`. */
export async function copyStore(from: Store, to: Store): Promise<{ revision: number; keys: number }> {
  const snap = await snapshotAll(from);
  const keys = await writeAll(to, snap.kvs);
  return { revision: snap.revision, keys };
}

/** The backup file text of a snapshot: a header line, then one JSON line per key. */
export function* backupLines(snap: { revision: number; kvs: readonly KeyValue[] }, now: Date): Generator<string> {
  const header: BackupHeader = { format: 'wgfabric-store-backup', version: 1, revision: snap.revision, keys: snap.kvs.length, createdAt: now.toISOString() };
  yield `${JSON.stringify(header)}\n`;
  for (const kv of snap.kvs) yield `${JSON.stringify({ k: kv.key, v: kv.value })}\n`;
}

/** Parses a backup file; WGF_ERR_VALIDATION naming the line when it is not one, or is cut short. */
export function parseBackup(text: string): { header: BackupHeader; entries: { key: string; value: string }[] } {
  const lines = text.split('\n').filter((l) => l !== '');
  const bad = (line: number, why: string) => new FabricError('WGF_ERR_VALIDATION', `not a wgfabric store backup: line ${line}: ${why}`, { field: 'backup', line });
  let header: BackupHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as BackupHeader;
  } catch {
    throw bad(1, 'no backup header');
  }
  if (header?.format !== 'wgfabric-store-backup' || header.version !== 1) throw bad(1, 'unknown format or version');
  const entries = lines.slice(1).map((l, i) => {
    let o: { k?: unknown; v?: unknown };
    try {
      o = JSON.parse(l) as typeof o;
    } catch {
      throw bad(i + 2, 'not JSON');
    }
    if (typeof o.k !== 'string' || typeof o.v !== 'string') throw bad(i + 2, 'needs string k and v');
    return { key: o.k, value: o.v };
  });
  if (entries.length !== header.keys) throw bad(lines.length, `the header announces ${header.keys} keys, the file holds ${entries.length} (cut short?)`);
  return { header, entries };
}
