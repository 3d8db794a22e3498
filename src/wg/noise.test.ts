import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';
import { publicKeyOf, toBase64, type Key } from './keys.js';
import { mac1Key, writeMac1 } from './macs.js';
import { buildResponse, parseInitiation, parseResponse } from './messages.js';
import { COOKIE_LIFETIME_NS, CONSTRUCTION, IDENTIFIER, INITIAL_CHAIN_KEY, INITIAL_HASH, Initiator, type InitiatorOptions } from './noise.js';
import { hash } from './crypto.js';
import { seededKey, seededRandom } from './testing/rng.js';
import { TestResponder } from './testing/responder.js';

const key = seededKey;
const server = key(1);
const client = key(2);
const serverPub = publicKeyOf(server);
const clientPub = publicKeyOf(client);
const T0 = 1_700_000_000_000_000_000n;

function setup(o: Partial<InitiatorOptions> = {}, r: { peers?: Map<string, Key | undefined>; underLoad?: boolean } = {}) {
  let now = T0;
  const clock = { advance: (ns: bigint) => (now += ns), get: () => now };
  const initiator = new Initiator({ privateKey: client, peerPublicKey: serverPub, clock: () => now, random: seededRandom(3), ...o });
  const responder = new TestResponder({ privateKey: server, random: seededRandom(4), ...r });
  return { initiator, responder, clock };
}

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FabricError, `not a FabricError: ${String(e)}`);
    return (e.details as { reason?: string } | undefined)?.reason ?? e.code;
  }
  return undefined;
}

function respond(responder: TestResponder, message: Uint8Array) {
  const out = responder.consumeInitiation(message);
  assert.equal(out.kind, 'response');
  return out as Extract<typeof out, { kind: 'response' }>;
}

describe('handshake constants', () => {
  test('C0 = HASH(construction), H0 = HASH(C0 || identifier)', () => {
    assert.equal(CONSTRUCTION, 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
    assert.equal(IDENTIFIER, 'WireGuard v1 zx2c4 Jason@zx2c4.com');
    assert.deepEqual(INITIAL_CHAIN_KEY, new Uint8Array(createHash('blake2s256').update(CONSTRUCTION).digest()));
    assert.deepEqual(INITIAL_HASH, hash(INITIAL_CHAIN_KEY, new TextEncoder().encode(IDENTIFIER)));
  });
});

describe('initiator against the test responder', () => {
  test('a full handshake: the responder learns our static key and timestamp, both sides derive matching transport keys', () => {
    const { initiator, responder } = setup();
    const sent = initiator.createInitiation();
    assert.equal(sent.message.length, 148);
    assert.equal(parseInitiation(sent.message).sender, sent.sender);
    const out = respond(responder, sent.message);
    assert.deepEqual(out.initiatorPublicKey, clientPub);
    assert.equal(Buffer.from(out.timestamp).toString('hex').slice(0, 16), (0x400000000000000an + T0 / 1_000_000_000n).toString(16));
    const session = initiator.consumeResponse(out.message);
    assert.equal(session.localIndex, sent.sender);
    assert.equal(session.remoteIndex, parseResponse(out.message).sender);
    const hello = new TextEncoder().encode('hello through the tunnel');
    assert.deepEqual(out.session.open(session.seal(hello)).subarray(0, hello.length), hello);
    assert.deepEqual(session.open(out.session.seal(hello)).subarray(0, hello.length), hello);
  });

  test('deterministic with injected clock and randomness (golden digest of the initiation)', () => {
    const a = setup().initiator.createInitiation().message;
    const b = setup().initiator.createInitiation().message;
    assert.deepEqual(a, b);
    assert.equal(createHash('sha256').update(a).digest('hex').slice(0, 16), GOLDEN_INITIATION_SHA256_PREFIX);
  });

  test('timestamps strictly increase even when the clock does not move; a replayed initiation is refused', () => {
    const { initiator, responder } = setup();
    const first = initiator.createInitiation();
    const second = initiator.createInitiation();
    const t1 = respond(responder, first.message).timestamp;
    const t2 = respond(responder, second.message).timestamp;
    assert.ok(Buffer.compare(t1, t2) < 0);
    assert.equal(reasonOf(() => responder.consumeInitiation(second.message)), 'replay');
  });

  test('a response to an earlier retransmission completes the handshake; others are then forgotten', () => {
    const { initiator, responder } = setup();
    const first = initiator.createInitiation();
    const second = initiator.createInitiation();
    const r1 = respond(responder, first.message);
    const r2 = respond(responder, second.message);
    assert.ok(initiator.isPending(first.sender) && initiator.isPending(second.sender));
    assert.equal(initiator.consumeResponse(r1.message).localIndex, first.sender);
    assert.equal(initiator.isPending(second.sender), false);
    assert.equal(reasonOf(() => initiator.consumeResponse(r2.message)), 'index');
  });

  test('matching non-zero preshared keys work', () => {
    const psk = key(9);
    const { initiator, responder } = setup({ presharedKey: psk }, { peers: new Map([[toBase64(clientPub), psk]]) });
    const out = respond(responder, initiator.createInitiation().message);
    assert.ok(initiator.consumeResponse(out.message));
  });

  const failures: { name: string; where: 'responder' | 'initiator'; reason: string; init?: Partial<InitiatorOptions>; resp?: { peers?: Map<string, Key | undefined> } }[] = [
    { name: 'wrong server key: the responder drops it at mac1', where: 'responder', reason: 'mac1', init: { peerPublicKey: publicKeyOf(key(5)) } },
    { name: 'unknown client key: the responder has no such peer', where: 'responder', reason: 'peer', resp: { peers: new Map([[toBase64(publicKeyOf(key(6))), undefined]]) } },
    { name: 'preshared key only on our side: the response does not decrypt', where: 'initiator', reason: 'decrypt', init: { presharedKey: key(7) } },
    { name: 'preshared key only on the server: the response does not decrypt', where: 'initiator', reason: 'decrypt', resp: { peers: new Map([[toBase64(clientPub), key(8)]]) } },
  ];
  for (const f of failures) {
    test(f.name, () => {
      const { initiator, responder } = setup(f.init, f.resp);
      const sent = initiator.createInitiation();
      if (f.where === 'responder') return assert.equal(reasonOf(() => responder.consumeInitiation(sent.message)), f.reason);
      const out = respond(responder, sent.message);
      assert.equal(reasonOf(() => initiator.consumeResponse(out.message)), f.reason);
    });
  }

  const tampering: { name: string; mutate: (r: Uint8Array) => void; remac: boolean; reason: string }[] = [
    { name: 'ephemeral byte flipped', mutate: (r) => (r[20]! ^= 1), remac: false, reason: 'mac1' },
    { name: 'mac1 byte flipped', mutate: (r) => (r[65]! ^= 1), remac: false, reason: 'mac1' },
    { name: 'receiver index changed', mutate: (r) => (r[8]! ^= 1), remac: false, reason: 'index' },
    { name: 'encrypted-nothing flipped, mac1 recomputed', mutate: (r) => (r[50]! ^= 1), remac: true, reason: 'decrypt' },
    { name: 'ephemeral flipped, mac1 recomputed', mutate: (r) => (r[12]! ^= 4), remac: true, reason: 'decrypt' },
    { name: 'truncated', mutate: () => {}, remac: false, reason: 'WGF_ERR_BAD_MESSAGE' },
  ];
  for (const t of tampering) {
    test(`tampered response is refused: ${t.name}`, () => {
      const { initiator, responder } = setup();
      const out = respond(responder, initiator.createInitiation().message);
      let r = out.message.slice();
      t.mutate(r);
      if (t.remac) writeMac1(r, mac1Key(clientPub));
      if (t.name === 'truncated') r = r.subarray(0, 91);
      assert.equal(reasonOf(() => initiator.consumeResponse(r)), t.reason);
    });
  }

  test('a response carrying a low-order ephemeral key is refused as weak', () => {
    const { initiator, responder } = setup();
    const sent = initiator.createInitiation();
    const good = parseResponse(respond(responder, sent.message).message);
    const forged = buildResponse({ ...good, ephemeral: new Uint8Array(32) }); // the zero point
    writeMac1(forged, mac1Key(clientPub));
    assert.equal(reasonOf(() => initiator.consumeResponse(forged)), 'weak-key');
  });

  test('unusable keys are refused when the initiator is built', () => {
    assert.equal(reasonOf(() => new Initiator({ privateKey: client, peerPublicKey: new Uint8Array(32) })), 'WGF_ERR_WEAK_KEY');
    assert.equal(reasonOf(() => new Initiator({ privateKey: client, peerPublicKey: serverPub, presharedKey: new Uint8Array(31) })), 'WGF_ERR_INVALID_KEY');
  });
});

describe('cookies (responder under load)', () => {
  test('cookie reply, then the retry carries mac2 and is answered', () => {
    const { initiator, responder } = setup({}, { underLoad: true });
    const first = initiator.createInitiation();
    assert.equal(first.withCookie, false);
    const out = responder.consumeInitiation(first.message);
    assert.equal(out.kind, 'cookie');
    assert.equal(initiator.consumeCookieReply(out.message), first.sender);
    assert.ok(initiator.hasCookie);
    const retry = initiator.createInitiation();
    assert.equal(retry.withCookie, true);
    assert.notDeepEqual(retry.message.subarray(132), new Uint8Array(16));
    assert.ok(initiator.consumeResponse(respond(responder, retry.message).message));
  });

  test('the cookie expires: later initiations have no mac2', () => {
    const { initiator, responder, clock } = setup({}, { underLoad: true });
    const out = responder.consumeInitiation(initiator.createInitiation().message);
    initiator.consumeCookieReply(out.message);
    clock.advance(COOKIE_LIFETIME_NS);
    assert.equal(initiator.hasCookie, false);
    assert.equal(initiator.createInitiation().withCookie, false);
  });

  test('cookie replies from another key or for unknown indexes are refused', () => {
    const { initiator } = setup();
    const sent = initiator.createInitiation();
    // Same seed, same first index: a cookie reply for our index, but from a responder with another key.
    const foreignInit = new Initiator({ privateKey: client, peerPublicKey: publicKeyOf(key(11)), random: seededRandom(3), clock: () => T0 });
    const foreignSent = foreignInit.createInitiation();
    assert.equal(foreignSent.sender, sent.sender);
    const foreign = new TestResponder({ privateKey: key(11), underLoad: true, random: seededRandom(12) }).consumeInitiation(foreignSent.message);
    assert.equal(foreign.kind, 'cookie');
    assert.equal(reasonOf(() => initiator.consumeCookieReply(foreign.message)), 'decrypt');
    const stray = foreign.message.slice();
    stray[4]! ^= 0xff;
    assert.equal(reasonOf(() => initiator.consumeCookieReply(stray)), 'index');
    assert.equal(initiator.hasCookie, false);
  });
});

// sha256 of the initiation built by setup() with seeds 1..4 at T0; pins the byte layout and
// every derivation step. If this changes, the handshake changed: re-check against wireguard-go.
const GOLDEN_INITIATION_SHA256_PREFIX = 'e6add1b255baaff2';
