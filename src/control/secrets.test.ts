import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFabricError } from '../protocol/errors.js';
import { loadOrCreateMasterKey, SecretBox } from './secrets.js';

test('seal/open round-trips and binds the context', () => {
  const box = SecretBox.random();
  const secret = new Uint8Array(32).fill(7);
  const sealed = box.seal(secret, 'pool-a');
  assert.doesNotMatch(sealed, /BwcHBwcH/); // base64 of the plaintext bytes must not appear
  assert.deepEqual(box.open(sealed, 'pool-a'), secret);
  assert.throws(() => box.open(sealed, 'pool-b'), (e) => isFabricError(e, 'WGF_ERR_CRYPTO'));
});

test('a wrong master key is WGF_ERR_CRYPTO, never garbage', () => {
  const sealed = SecretBox.random().seal(new Uint8Array(32), 'p');
  assert.throws(() => SecretBox.random().open(sealed, 'p'), (e) => isFabricError(e, 'WGF_ERR_CRYPTO') && /different master key/.test(e.message));
  // Same key id but tampered ciphertext.
  const box = SecretBox.random();
  const s = box.seal(new Uint8Array(32), 'p');
  const flipped = s.slice(0, -6) + (s.at(-6) === 'A' ? 'B' : 'A') + s.slice(-5);
  assert.throws(() => box.open(flipped, 'p'), (e) => isFabricError(e, 'WGF_ERR_CRYPTO'));
  assert.throws(() => box.open('garbage', 'p'), (e) => isFabricError(e, 'WGF_ERR_CRYPTO'));
  assert.throws(() => new SecretBox(new Uint8Array(16)), (e) => isFabricError(e, 'WGF_ERR_CRYPTO'));
});

test('master key file: created 0600 once, then read back; malformed files are refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-mk-'));
  try {
    const file = join(dir, 'sub', 'master.key');
    const a = await loadOrCreateMasterKey(file);
    assert.equal(a.created, true);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const b = await loadOrCreateMasterKey(file);
    assert.equal(b.created, false);
    assert.deepEqual(b.key, a.key);
    assert.equal(b.insecureMode, false);
    assert.equal((await readFile(file, 'utf8')).trim().length, 44);
    await chmod(file, 0o644);
    assert.equal((await loadOrCreateMasterKey(file)).insecureMode, true);
    await writeFile(file, 'not a key\n');
    await assert.rejects(loadOrCreateMasterKey(file), (e) => isFabricError(e, 'WGF_ERR_CRYPTO') && !/not a key/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
