import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import {
  canonicalPublicKey, generateKeyPair, parseKey, parsePublicKey, publicKeyOf, sharedSecret, toBase64, toHex,
} from './keys.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

test('RFC 7748 section 6.1 vectors: public keys and shared secret', () => {
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  assert.equal(toHex(publicKeyOf(alice)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(toHex(publicKeyOf(bob)), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  assert.equal(toHex(sharedSecret(alice, publicKeyOf(bob))), '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
});

test('generated keys are clamped and their pair agrees on a shared secret', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  assert.equal(a.privateKey[0]! & 7, 0);
  assert.equal(a.privateKey[31]! & 0xc0, 0x40);
  assert.deepEqual(sharedSecret(a.privateKey, b.publicKey), sharedSecret(b.privateKey, a.publicKey));
});

test('base64 and hex forms parse to the same key', () => {
  const { publicKey } = generateKeyPair();
  assert.deepEqual(parseKey(toBase64(publicKey)), publicKey);
  assert.deepEqual(parseKey(toHex(publicKey)), publicKey);
  assert.deepEqual(parseKey(toHex(publicKey).toUpperCase()), publicKey);
  assert.equal(canonicalPublicKey(toHex(publicKey)), toBase64(publicKey));
});

const invalid: [string, string][] = [
  ['empty', ''],
  ['too short base64', 'AAAA'],
  ['31 bytes base64', Buffer.alloc(31, 1).toString('base64')],
  ['33 bytes base64', Buffer.alloc(33, 1).toString('base64')],
  ['non-canonical base64 (padding bits set)', Buffer.alloc(32, 1).toString('base64').replace(/E=$/, 'F=')],
  ['base64url alphabet', Buffer.alloc(32, 0xfb).toString('base64url') + '='],
  ['63 hex chars', 'a'.repeat(63)],
  ['non-hex', 'g'.repeat(64)],
  ['whitespace inside', Buffer.alloc(32, 1).toString('base64').replace('A', ' ')],
];
for (const [name, text] of invalid) {
  test(`invalid key is rejected with WGF_ERR_INVALID_KEY: ${name}`, () => {
    assert.throws(() => parseKey(text), (e) => isFabricError(e, 'WGF_ERR_INVALID_KEY'));
  });
}

// The points of order 1, 2, 4 and 8 on Curve25519 (and non-canonical encodings of them).
const lowOrder = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];
for (const k of lowOrder) {
  test(`low-order public key ${k.slice(0, 8)}… is rejected with WGF_ERR_WEAK_KEY`, () => {
    assert.throws(() => parsePublicKey(k), (e) => isFabricError(e, 'WGF_ERR_WEAK_KEY'));
    assert.throws(() => parsePublicKey(Buffer.from(k, 'hex').toString('base64')), (e) => isFabricError(e, 'WGF_ERR_WEAK_KEY'));
  });
}

test('error messages never contain the key text', () => {
  const secretish = 'Z'.repeat(43);
  try {
    parseKey(secretish, 'private key');
    assert.fail('should throw');
  } catch (e) {
    assert.ok(isFabricError(e));
    assert.doesNotMatch(e.message + JSON.stringify(e.toJSON()), /ZZZZ/);
  }
});

test('a string that is not a key says why: length, content, config line, URL-safe alphabet, hex digits', async () => {
  const { whyNotAKey } = await import('./keys.js');
  const good = Buffer.alloc(32, 0x5a).toString('base64');
  const cases: [string, string, RegExp][] = [
    ['short', good.slice(0, 40), /is 40 characters long; a key is 32 bytes: 44 characters of base64/],
    ['bad char', `${good.slice(0, 10)}!${good.slice(11)}`, /right length \(44\) but a character that is not base64 at position 11/],
    ['damaged end', `${good.slice(0, 42)}B=`, /right length \(44\) but is not the base64 of 32 bytes/],
    ['config line', `PublicKey = ${good}`, /whole "PublicKey = \.\.\." line/],
    ['url-safe', Buffer.alloc(32, 0xfb).toString('base64url') + '=', /URL-safe base64/],
    ['hex short', 'ab'.repeat(31), /looks like hex but has 62 digits/],
  ];
  for (const [name, text, re] of cases) {
    assert.match(whyNotAKey(text), re, name);
    assert.ok(!whyNotAKey(text).includes(text), `${name}: never echoes the text`);
  }
});
