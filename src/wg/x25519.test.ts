import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { clamp, generateKeyPair, publicKeyOf, sharedSecret } from './keys.js';
import { seededRandom } from './testing/rng.js';
import { dh, generateEphemeral, importPrivateKey, importPublicKey } from './x25519.js';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FabricError, String(e));
    return e.code;
  }
  return undefined;
};

test('dh over key objects equals keys.ts sharedSecret, in both directions', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const ab = dh(importPrivateKey(a.privateKey).object, importPublicKey(b.publicKey));
  assert.deepEqual(ab, sharedSecret(a.privateKey, b.publicKey));
  assert.deepEqual(ab, dh(importPrivateKey(b.privateKey).object, importPublicKey(a.publicKey)));
});

test('generated ephemeral keys: the public half matches the private key', () => {
  const e = generateEphemeral();
  const d = new Uint8Array(Buffer.from(e.object.export({ format: 'jwk' }).d!, 'base64url'));
  assert.deepEqual(e.publicKey, publicKeyOf(d));
  assert.notDeepEqual(generateEphemeral().publicKey, e.publicKey);
});

test('ephemeral keys from injected randomness are the clamped random bytes', () => {
  const raw = seededRandom(5)(32);
  clamp(raw);
  assert.deepEqual(generateEphemeral(seededRandom(5)).publicKey, publicKeyOf(raw));
});

test('low-order public keys give WGF_ERR_WEAK_KEY; wrong lengths WGF_ERR_INVALID_KEY', () => {
  const me = importPrivateKey(generateKeyPair().privateKey).object;
  assert.equal(code(() => dh(me, importPublicKey(new Uint8Array(32)))), 'WGF_ERR_WEAK_KEY');
  const one = new Uint8Array(32);
  one[0] = 1; // u = 1 is a point of order 4
  assert.equal(code(() => dh(me, importPublicKey(one))), 'WGF_ERR_WEAK_KEY');
  assert.equal(code(() => importPublicKey(new Uint8Array(31))), 'WGF_ERR_INVALID_KEY');
  assert.equal(code(() => importPrivateKey(new Uint8Array(33))), 'WGF_ERR_INVALID_KEY');
});

test('keys.ts reuses the key objects of an array seen before, but not once the array changed in place', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  const c = generateKeyPair();
  const priv = a.privateKey.slice();
  const pub = b.publicKey.slice();
  const first = sharedSecret(priv, pub);
  assert.deepEqual(sharedSecret(priv, pub), first);
  pub.set(c.publicKey); // same array, other key
  assert.deepEqual(sharedSecret(priv, pub), sharedSecret(a.privateKey, c.publicKey));
  priv.set(c.privateKey);
  assert.deepEqual(publicKeyOf(priv), c.publicKey);
  assert.deepEqual(sharedSecret(priv, pub), dh(importPrivateKey(c.privateKey).object, importPublicKey(c.publicKey)));
});

test('an unclamped private key gives the public key of its clamped form (X25519 clamps)', () => {
  const raw = seededRandom(9)(32);
  raw[0]! |= 7;
  raw[31]! |= 0x80;
  const clamped = raw.slice();
  clamp(clamped);
  assert.deepEqual(publicKeyOf(raw), publicKeyOf(clamped));
});
