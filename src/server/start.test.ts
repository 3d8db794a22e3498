import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './start.js';

test('a failed listen releases the store; a wrong master key file is refused before listening', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-start-'));
  const quiet = { logger: false, handleSignals: false, stdout: { write: () => true } } as const;
  const a = await startServer({ dataDir: join(dir, 'a'), host: '127.0.0.1', port: 0, ...quiet });
  try {
    const port = (a.app.server.address() as AddressInfo).port;
    await assert.rejects(startServer({ dataDir: join(dir, 'b'), host: '127.0.0.1', port, ...quiet }), /EADDRINUSE/);
    const b = await startServer({ dataDir: join(dir, 'b'), host: '127.0.0.1', port: 0, ...quiet });
    assert.match(b.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    await b.control.createPool({ name: 'p', ipv4Prefix: '10.0.0.0/24' }, { actor: 't' });
    await b.close();
    // Same data, another master key file: refused at start, not at the first key read.
    await assert.rejects(startServer({ dataDir: join(dir, 'b'), host: '127.0.0.1', port: 0, masterKeyFile: join(dir, 'other.key'), ...quiet }),
      (e: { code?: string; message?: string }) => e.code === 'WGF_ERR_CRYPTO' && /different master key/.test(e.message ?? ''));
    const bad = join(dir, 'bad.key');
    await (await import('node:fs/promises')).writeFile(bad, 'short\n', { mode: 0o600 });
    await assert.rejects(startServer({ dataDir: join(dir, 'c'), host: '127.0.0.1', port: 0, masterKeyFile: bad, ...quiet }), (e: { code?: string }) => e.code === 'WGF_ERR_CRYPTO');
  } finally {
    await a.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the server compacts its change log automatically, exposes the compact revision, and stops compacting on close', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-start-'));
  const quiet = { logger: false, handleSignals: false, stdout: { write: () => true } } as const;
  try {
    await assert.rejects(startServer({ dataDir: join(dir, 'x'), host: '127.0.0.1', port: 0, autoCompact: { keepRevisions: -1, intervalMs: 60_000 }, ...quiet }),
      (e: { code?: string; details?: { field?: string } }) => e.code === 'WGF_ERR_VALIDATION' && e.details?.field === 'keepRevisions');
    const s = await startServer({ dataDir: join(dir, 'a'), host: '127.0.0.1', port: 0, autoCompact: { keepRevisions: 3, minBatch: 1, intervalMs: 60_000 }, ...quiet });
    try {
      assert.equal(s.compactor.enabled, true);
      for (const name of ['p1', 'p2', 'p3', 'p4']) await s.control.createPool({ name, ipv4Prefix: '10.0.0.0/24', allowOverlap: true }, { actor: 't' });
      const rev = await s.control.currentRevision();
      const out = await s.compactor.tick(); // what the timer does every intervalMs
      assert.deepEqual(out, { action: 'compacted', from: 0, to: rev - 3, revision: rev });
      assert.equal(await s.control.currentRevision(), rev, 'no audit entry, no new revision');
      const m = await s.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${s.bootstrapToken!}` } });
      assert.match(m.body, new RegExp(`^wgfabric_store_compact_revision ${rev - 3}$`, 'm'));
    } finally {
      await s.close();
    }
    assert.deepEqual(await s.compactor.tick(), { action: 'none', reason: 'stopped' }, 'close() stopped the compactor before closing the store');
    const off = await startServer({ dataDir: join(dir, 'a'), host: '127.0.0.1', port: 0, autoCompact: { keepRevisions: 0, intervalMs: 60_000 }, ...quiet });
    assert.equal(off.compactor.enabled, false);
    await off.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
