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
