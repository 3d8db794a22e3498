import type Database from 'better-sqlite3';

/**
 * Integrity and commit-health helpers of the SQLite driver (pure over a connection).
 * quick = PRAGMA quick_check (every page and B-tree structure, O(file size), no index-content
 * cross-check); full = PRAGMA integrity_check (also every index against its table).
 */

/** SQLite result codes that mean the file itself is damaged. */
export function isCorruptCode(code: string | undefined): boolean {
  return code !== undefined && (code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT_'));
}

/** SQLite result codes that mean "this commit could not be written" (disk full, I/O error, read-only). */
export function isCommitFailureCode(code: string | undefined): boolean {
  return code !== undefined && /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN)(_|$)/.test(code);
}

/** Runs quick_check or integrity_check; returns the problems found (empty when the file is sound), at most `max`. */
export function integrityProblems(db: Database.Database, mode: 'quick' | 'full', max = 20): string[] {
  const pragma = mode === 'quick' ? 'quick_check' : 'integrity_check';
  const rows = db.pragma(`${pragma}(${max})`) as Record<string, string>[];
  const lines = rows.map((r) => String(Object.values(r)[0]));
  return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
}

/**
 * A small real commit that needs new space (a 16 KiB blob written and removed in one txn):
 * throws the SqliteError when the store cannot commit (disk full, I/O error).
 */
export function probeCommit(db: Database.Database): void {
  db.transaction(() => {
    db.prepare("INSERT OR REPLACE INTO meta (name, value) VALUES ('health_probe', randomblob(16384))").run();
    db.prepare("DELETE FROM meta WHERE name = 'health_probe'").run();
  }).immediate();
}
