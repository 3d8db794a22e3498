import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isFabricError } from '../protocol/errors.js';
import { MemoryStore, openStore, SqliteStore } from './index.js';

test('openStore("memory:") gives a fresh MemoryStore each time', async () => {
  const a = await openStore('memory:');
  const b = await openStore('memory:');
  assert.ok(a instanceof MemoryStore);
  await a.txn([], [{ type: 'put', key: 'k', value: 'v' }]);
  assert.equal(await b.get('k'), undefined);
  await a.close();
  await b.close();
});

const sqliteSpecs: { name: string; spec: (dir: string) => string }[] = [
  { name: 'sqlite:<absolute dir>', spec: (dir) => `sqlite:${dir}` },
  { name: 'a bare absolute path', spec: (dir) => dir },
  { name: 'sqlite:<dir> with a trailing slash', spec: (dir) => `sqlite:${dir}/` },
];
for (const c of sqliteSpecs) {
  test(`openStore(${c.name}) opens a SqliteStore with store.db in that dir`, async () => {
    const parent = await mkdtemp(join(tmpdir(), 'wgf-open-'));
    const dir = join(parent, 'data');
    try {
      const store = await openStore(c.spec(dir));
      assert.ok(store instanceof SqliteStore);
      await store.txn([], [{ type: 'put', key: 'k', value: 'v' }]);
      await store.close();
      assert.ok((await stat(join(dir, 'store.db'))).isFile());
      const again = await openStore(`sqlite:${dir}`);
      assert.equal((await again.get('k'))?.value, 'v');
      await again.close();
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
}

test('openStore with a bare relative path resolves it from the working directory', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'wgf-open-'));
  const cwd = process.cwd();
  try {
    process.chdir(parent);
    const store = await openStore('rel/data');
    await store.close();
    assert.ok((await stat(join(parent, 'rel', 'data', 'store.db'))).isFile());
  } finally {
    process.chdir(cwd);
    await rm(parent, { recursive: true, force: true });
  }
});

const badSpecs: { spec: string; why: RegExp }[] = [
  { spec: 'etcd:', why: /etcd: needs client URLs/ },
  { spec: 'postgres:db', why: /unknown store scheme "postgres:"/ },
  { spec: 'memory:extra', why: /memory: takes nothing after the colon/ },
  { spec: 'sqlite:', why: /sqlite: needs a directory/ },
  { spec: '', why: /empty/ },
  { spec: '   ', why: /empty/ },
];
for (const c of badSpecs) {
  test(`openStore(${JSON.stringify(c.spec)}) is refused with WGF_ERR_VALIDATION naming the supported specs`, async () => {
    await assert.rejects(openStore(c.spec), (e) => {
      assert.ok(isFabricError(e, 'WGF_ERR_VALIDATION'), String(e));
      assert.match(e.message, c.why);
      assert.match(e.message, /memory:, sqlite:<dir>, <dir>, etcd:<url>\[,<url>...\]/);
      assert.deepEqual(e.details?.supported, ['memory:', 'sqlite:<dir>', '<dir>', 'etcd:<url>[,<url>...]']);
      return true;
    });
  });
}
