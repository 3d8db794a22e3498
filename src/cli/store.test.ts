import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ControlPlane } from '../control/plane.js';
import { SecretBox } from '../control/secrets.js';
import { EtcdStore } from '../store/etcd.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { etcdPerFile } from '../store/testing/etcd-per-file.js';
import { generateKeyPair, toBase64 } from '../wg/keys.js';
import { main } from './main.js';

const fx = etcdPerFile('wgf-ed-copy-');
const { skip } = fx;

async function quietMain(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => { out += s; return true; }) as typeof process.stderr.write;
  try {
    return { code: await main(argv), out };
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
}

const all = async (s: Store) => (await s.range('')).kvs.map((kv) => [kv.key, kv.value]);

describe('store copy, backup and restore', { skip }, () => {
  test('a SQLite fabric copied to etcd and back, and backed up and restored, keeps every key (audit log included)', async () => {
    const src = join(fx.dir, 'src');
    const sqlite = await SqliteStore.open(src);
    const cp = new ControlPlane({ store: sqlite, secrets: new SecretBox(randomBytes(32)) });
    await cp.bootstrap();
    await cp.createPool({ name: 'p', ipv4Prefix: '10.70.0.0/24' }, { actor: 't' });
    for (let i = 0; i < 30; i++) await cp.createPeer('p', { name: `peer-${i}`, publicKey: toBase64(generateKeyPair().publicKey) }, { actor: 't' });
    const want = await all(sqlite);
    assert.ok(want.some(([k]) => k!.startsWith('audit/')), 'the fabric has an audit log');
    await sqlite.close();

    const prefix = `c/${randomBytes(4).toString('hex')}/`;
    const copy = await quietMain(['store', 'copy', '--from', `sqlite:${src}`, '--to', `etcd:${fx.endpoint}`, '--etcd-prefix', prefix, '--json']);
    assert.equal(copy.code, 0, copy.out);
    assert.equal(JSON.parse(/\{\n {2}"[\s\S]*?\n\}/.exec(copy.out)![0]).keys, want.length);
    const e = await EtcdStore.open({ endpoints: [fx.endpoint], prefix });
    try {
      assert.deepEqual(await all(e), want);
    } finally {
      await e.close();
    }
    // Into a store that is not empty: refused, nothing written.
    const again = await quietMain(['store', 'copy', '--from', `sqlite:${src}`, '--to', `etcd:${fx.endpoint}`, '--etcd-prefix', prefix]);
    assert.notEqual(again.code, 0);
    assert.match(again.out, /WGF_ERR_ALREADY_EXISTS|not empty/);

    // etcd -> backup file -> a new SQLite directory.
    const file = join(fx.dir, 'fabric.backup');
    const backup = await quietMain(['store', 'backup', '--from', `etcd:${fx.endpoint}`, '--etcd-prefix', prefix, '--out', file]);
    assert.equal(backup.code, 0, backup.out);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const restore = await quietMain(['store', 'restore', '--in', file, '--to', `sqlite:${join(fx.dir, 'restored')}`]);
    assert.equal(restore.code, 0, restore.out);
    const back = await SqliteStore.open(join(fx.dir, 'restored'));
    try {
      assert.deepEqual(await all(back), want);
    } finally {
      await back.close();
    }
    // A cut backup is refused before anything is written.
    await writeFile(join(fx.dir, 'cut.backup'), (await import('node:fs')).readFileSync(file, 'utf8').split('\n').slice(0, 5).join('\n'));
    const cut = await quietMain(['store', 'restore', '--in', join(fx.dir, 'cut.backup'), '--to', `sqlite:${join(fx.dir, 'cut')}`]);
    assert.notEqual(cut.code, 0);
    assert.match(cut.out, /cut short/);
  });
});
