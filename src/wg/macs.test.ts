import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { blake2s } from '@noble/hashes/blake2.js';
import { FabricError } from '../protocol/errors.js';
import { generateKeyPair } from './keys.js';
import {
  addressBytes, computeMac1, cookieKey, createCookieReply, mac1Key, mac1Of, makeCookie, openCookieReply, verifyMac1,
  verifyMac2, writeMac1, writeMac2,
} from './macs.js';
import { buildInitiation, buildResponse, parseCookieReply } from './messages.js';
import { seededRandom } from './testing/rng.js';

const random = seededRandom(42);
const responder = generateKeyPair();
const other = generateKeyPair();
const concat = (...p: Uint8Array[]) => Uint8Array.from(p.flatMap((x) => [...x]));
const ascii = (s: string) => new TextEncoder().encode(s);

function initiation(): Uint8Array {
  return buildInitiation({
    sender: 0x11223344,
    ephemeral: random(32),
    encryptedStatic: random(48),
    encryptedTimestamp: random(28),
    mac1: new Uint8Array(16),
    mac2: new Uint8Array(16),
  });
}

describe('mac1', () => {
  test('equals keyed BLAKE2s-128 over bytes 0..116 with key BLAKE2s-256("mac1----" || responder key), computed independently', () => {
    const msg = initiation();
    const key = blake2s(concat(ascii('mac1----'), responder.publicKey));
    const expected = blake2s(msg.subarray(0, 116), { key, dkLen: 16 });
    assert.deepEqual(mac1Key(responder.publicKey), key);
    assert.deepEqual(writeMac1(msg, mac1Key(responder.publicKey)), expected);
    assert.deepEqual(msg.subarray(116, 132), expected, 'written at offset 116');
    assert.deepEqual(msg.subarray(132), new Uint8Array(16), 'mac2 untouched');
  });

  test('a response carries mac1 at 60..76, over bytes 0..60', () => {
    const msg = buildResponse({
      sender: 1, receiver: 2, ephemeral: random(32), encryptedNothing: random(16), mac1: new Uint8Array(16), mac2: new Uint8Array(16),
    });
    const key = mac1Key(responder.publicKey);
    writeMac1(msg, key);
    assert.deepEqual(msg.subarray(60, 76), blake2s(msg.subarray(0, 60), { key, dkLen: 16 }));
    assert.ok(verifyMac1(msg, key));
  });

  const flips = [
    { name: 'type byte', at: 0 },
    { name: 'sender index', at: 5 },
    { name: 'ephemeral key', at: 20 },
    { name: 'last byte before mac1', at: 115 },
    { name: 'inside mac1', at: 120 },
  ];
  for (const f of flips) {
    test(`verification fails when the ${f.name} changes`, () => {
      const msg = initiation();
      const key = mac1Key(responder.publicKey);
      writeMac1(msg, key);
      assert.ok(verifyMac1(msg, key));
      msg[f.at]! ^= 0x01;
      assert.equal(verifyMac1(msg, key), false);
    });
  }

  test('mac2 is not covered by mac1, and the wrong responder key fails', () => {
    const msg = initiation();
    writeMac1(msg, mac1Key(responder.publicKey));
    msg[140] = 0xff;
    assert.ok(verifyMac1(msg, mac1Key(responder.publicKey)));
    assert.equal(verifyMac1(msg, mac1Key(other.publicKey)), false);
  });
});

describe('mac2', () => {
  test('covers everything before offset 132, including mac1', () => {
    const msg = initiation();
    writeMac1(msg, mac1Key(responder.publicKey));
    const cookie = random(16);
    writeMac2(msg, cookie);
    assert.deepEqual(msg.subarray(132), blake2s(msg.subarray(0, 132), { key: cookie, dkLen: 16 }));
    assert.ok(verifyMac2(msg, cookie));
    assert.equal(verifyMac2(msg, random(16)), false, 'other cookie');
    msg[130]! ^= 1; // inside mac1
    assert.equal(verifyMac2(msg, cookie), false);
  });
});

describe('cookie replies', () => {
  const secret = random(32);
  const source = addressBytes(Uint8Array.of(198, 18, 0, 2), 51820);
  function reply(triggering: Uint8Array, nonce = random(24)): Uint8Array {
    return createCookieReply({ responderPublicKey: responder.publicKey, secret, source, triggering, receiver: 0x11223344, nonce });
  }

  test('addressBytes: IP bytes then the port little-endian', () => {
    assert.deepEqual(addressBytes(Uint8Array.of(10, 0, 0, 1), 0x1234), Uint8Array.of(10, 0, 0, 1, 0x34, 0x12));
  });

  test('cookie = MAC(secret, source); sources differ, cookies differ', () => {
    assert.deepEqual(makeCookie(secret, source), blake2s(source, { key: secret, dkLen: 16 }));
    assert.notDeepEqual(makeCookie(secret, source), makeCookie(secret, addressBytes(Uint8Array.of(198, 18, 0, 3), 51820)));
  });

  test('the initiator opens the reply to the cookie, using the responder key and the mac1 it sent', () => {
    const msg = initiation();
    writeMac1(msg, mac1Key(responder.publicKey));
    const r = reply(msg);
    assert.equal(r.length, 64);
    const parsed = parseCookieReply(r);
    assert.equal(parsed.receiver, 0x11223344);
    assert.deepEqual(openCookieReply(r, responder.publicKey, mac1Of(msg)), makeCookie(secret, source));
  });

  test('XChaCha20-Poly1305 key is BLAKE2s-256("cookie--" || responder key)', () => {
    assert.deepEqual(cookieKey(responder.publicKey), blake2s(concat(ascii('cookie--'), responder.publicKey)));
  });

  const failures = [
    { name: 'other responder key', key: other.publicKey, mutate: (r: Uint8Array, _m: Uint8Array) => r, mac1: (m: Uint8Array) => mac1Of(m) },
    { name: 'other mac1 (not an answer to our message)', key: responder.publicKey, mutate: (r: Uint8Array) => r, mac1: () => random(16) },
    { name: 'tampered nonce', key: responder.publicKey, mutate: (r: Uint8Array) => (r[10]! ^= 1, r), mac1: (m: Uint8Array) => mac1Of(m) },
    { name: 'tampered ciphertext', key: responder.publicKey, mutate: (r: Uint8Array) => (r[40]! ^= 1, r), mac1: (m: Uint8Array) => mac1Of(m) },
  ];
  for (const f of failures) {
    test(`opening fails with WGF_ERR_BAD_MESSAGE: ${f.name}`, () => {
      const msg = initiation();
      writeMac1(msg, mac1Key(responder.publicKey));
      const r = f.mutate(reply(msg), msg);
      assert.throws(() => openCookieReply(r, f.key, f.mac1(msg)), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_BAD_MESSAGE');
    });
  }

  test('computeMac1 refuses a buffer too short to hold the MACs', () => {
    assert.throws(() => computeMac1(new Uint8Array(31), mac1Key(responder.publicKey)), RangeError);
  });
});
