import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { buildEcho, internetChecksum } from '../wg/icmp.js';
import { publicKeyOf } from '../wg/keys.js';
import { parseInitiation } from '../wg/messages.js';
import { Initiator } from '../wg/noise.js';
import type { Session } from '../wg/session.js';
import { seededKey, seededRandom } from '../wg/testing/rng.js';
import { answerEcho, TestResponder } from '../wg/testing/responder.js';
import { ProbeMachine, RESPONDER_RATE_LIMIT_MS, type Step } from './machine.js';

const key = seededKey;
const server = key(1);
const client = key(2);
const EP = '198.18.0.1:51820';
const PING = { target: '10.77.0.1', source: '10.77.0.2' };

function setup(o: { ping?: boolean; underLoad?: boolean; timeoutMs?: number } = {}) {
  let wall = 1_700_000_000_000_000_000n;
  const initiator = new Initiator({ privateKey: client, peerPublicKey: publicKeyOf(server), clock: () => (wall += 1_000_000n), random: seededRandom(3) });
  const responder = new TestResponder({ privateKey: server, random: seededRandom(4), ...(o.underLoad ? { underLoad: true } : {}) });
  const clock = { t: 0 };
  const machine = new ProbeMachine({ initiator, endpoint: EP, timeoutMs: o.timeoutMs ?? 1000, echoId: 0x4242, now: () => clock.t, ...(o.ping ? { ping: PING } : {}) });
  /** Sets the clock, then lets the machine handle one event. */
  const at = (t: number, event: (m: ProbeMachine) => Step): Step => {
    clock.t = t;
    return event(machine);
  };
  return { machine, responder, at };
}

/** The responder answers an initiation; returns the response bytes and its session. */
function answer(responder: TestResponder, initiation: Uint8Array): { message: Uint8Array; session: Session } {
  const out = responder.consumeInitiation(initiation);
  assert.equal(out.kind, 'response');
  return out as { message: Uint8Array; session: Session };
}

function only(step: Step): Uint8Array {
  assert.equal(step.send.length, 1, `expected one datagram, got ${step.send.length}`);
  return step.send[0]!;
}

function failure(step: Step): FabricError {
  assert.ok(step.done && 'error' in step.done, 'expected the probe to fail');
  return step.done.error;
}

describe('handshake phase', () => {
  test('one initiation, a verified response: success with the measured round trip', () => {
    const { at, responder } = setup();
    const init = only(at(100, (m) => m.start()));
    const resp = answer(responder, init);
    const done = at(103.5, (m) => m.receive(resp.message));
    assert.ok(done.done && 'result' in done.done);
    assert.deepEqual(done.done.result, {
      endpoint: EP, handshakeMs: 3.5, serverIndex: resp.session.localIndex, clientIndex: parseInitiation(init).sender, attempts: 1, cookieUsed: false,
    });
  });

  test('no answer: retransmits every timeout/5 with new indexes, then times out with a message naming the likely causes', () => {
    const { at } = setup();
    const first = at(0, (m) => m.start());
    assert.equal(first.wakeAt, 200);
    const senders = [parseInitiation(only(first)).sender];
    for (const t of [200, 400, 600, 800]) senders.push(parseInitiation(only(at(t, (m) => m.tick()))).sender);
    assert.equal(new Set(senders).size, 5);
    const err = failure(at(1000, (m) => m.tick()));
    assert.equal(err.code, 'WGF_ERR_PROBE_TIMEOUT');
    assert.equal(err.message, `no handshake response from ${EP} within 1000 ms (wrong server key, wrong port, unknown client key, or server down)`);
    assert.equal((err.details as { attempts: number }).attempts, 5);
  });

  test('an early tick sends nothing', () => {
    const { at } = setup();
    at(0, (m) => m.start());
    assert.deepEqual(at(150, (m) => m.tick()), { send: [], wakeAt: 200 });
  });

  test('the round trip is measured from the initiation that was answered', () => {
    const { at, responder } = setup();
    at(0, (m) => m.start());
    const second = only(at(200, (m) => m.tick()));
    const done = at(201.25, (m) => m.receive(answer(responder, second).message));
    assert.ok(done.done && 'result' in done.done);
    assert.equal(done.done.result.handshakeMs, 1.25);
    assert.equal(done.done.result.attempts, 2);
  });

  test('port unreachable is reported in the timeout message', () => {
    const { at } = setup();
    at(0, (m) => m.start());
    at(1, (m) => m.portUnreachable());
    const err = failure(at(1000, (m) => m.tick()));
    assert.equal(err.code, 'WGF_ERR_PROBE_TIMEOUT');
    assert.match(err.message, /ICMP port unreachable: nothing listens on that UDP port/);
  });

  const badReplies: { name: string; reply: (init: Uint8Array, r: TestResponder) => Uint8Array; match: RegExp }[] = [
    { name: 'garbage bytes', reply: () => Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 1, 2, 3), match: /7-byte datagram that is not a WireGuard message/ },
    {
      name: 'a forged response for our index (random contents)',
      reply: (init) => {
        const b = seededRandom(8)(92);
        b.set([2, 0, 0, 0], 0);
        b.set(init.subarray(4, 8), 8);
        return b;
      },
      match: /mac1 does not verify/,
    },
    { name: 'a response of the wrong size', reply: () => Uint8Array.of(2, 0, 0, 0, ...new Uint8Array(40)), match: /response must be 92 bytes, got 44/ },
    { name: 'an initiation instead of a response', reply: (init) => init, match: /unexpected WireGuard message of type 1/ },
  ];
  for (const b of badReplies) {
    test(`a reply that does not verify ends in WGF_ERR_PROBE_BAD_REPLY saying why: ${b.name}`, () => {
      const { at, responder } = setup();
      const init = only(at(0, (m) => m.start()));
      const step = at(5, (m) => m.receive(b.reply(init, responder)));
      assert.equal(step.done, undefined, 'keeps waiting for a valid reply');
      const err = failure(at(1000, (m) => m.tick()));
      assert.equal(err.code, 'WGF_ERR_PROBE_BAD_REPLY');
      assert.match(err.message, b.match);
    });
  }

  test('a valid response after garbage still succeeds', () => {
    const { at, responder } = setup();
    const init = only(at(0, (m) => m.start()));
    at(1, (m) => m.receive(Uint8Array.of(9, 9, 9)));
    const done = at(2, (m) => m.receive(answer(responder, init).message));
    assert.ok(done.done && 'result' in done.done);
  });

  test('cookie reply: the retry waits out the responder rate limit, then carries mac2', () => {
    const { at, responder } = setup({ underLoad: true });
    const init = only(at(0, (m) => m.start()));
    const cookie = responder.consumeInitiation(init);
    assert.equal(cookie.kind, 'cookie');
    const early = at(5, (m) => m.receive(cookie.message));
    assert.deepEqual(early, { send: [], wakeAt: RESPONDER_RATE_LIMIT_MS });
    const retry = only(at(RESPONDER_RATE_LIMIT_MS, (m) => m.tick()));
    assert.notDeepEqual(retry.subarray(132), new Uint8Array(16), 'mac2 set');
    const done = at(21, (m) => m.receive(answer(responder, retry).message));
    assert.ok(done.done && 'result' in done.done);
    assert.equal(done.done.result.cookieUsed, true);
    assert.equal(done.done.result.handshakeMs, 1);
  });
});

describe('ping phase', () => {
  function handshake() {
    const s = setup({ ping: true });
    const init = only(s.at(0, (m) => m.start()));
    const resp = answer(s.responder, init);
    const echo = only(s.at(2, (m) => m.receive(resp.message)));
    return { ...s, server: resp.session, echo };
  }

  test('after the handshake an echo goes through the tunnel; its reply completes the probe', () => {
    const { at, server, echo } = handshake();
    const reply = answerEcho(server, echo, [PING.target]);
    assert.ok(reply, 'the echo request decrypts and is addressed to the target');
    const done = at(3.5, (m) => m.receive(reply));
    assert.ok(done.done && 'result' in done.done);
    assert.equal(done.done.result.handshakeMs, 2);
    assert.equal(done.done.result.echoMs, 1.5);
    assert.equal(done.done.result.echoFrom, PING.target);
  });

  test('keepalives, foreign ICMP and late responses are ignored; a later echo reply still counts', () => {
    const { at, server, echo } = handshake();
    assert.equal(at(3, (m) => m.receive(server.seal(new Uint8Array(0)))).done, undefined, 'keepalive');
    const stranger = buildEcho({ source: '10.77.0.9', destination: PING.source, id: 0x4242, seq: 1 }, 'reply');
    assert.equal(at(3, (m) => m.receive(server.seal(stranger))).done, undefined, 'reply from another address');
    const late = setup(); // a response to another initiation, arriving after the handshake
    assert.equal(at(3, (m) => m.receive(answer(late.responder, only(late.at(0, (m) => m.start()))).message)).done, undefined);
    const done = at(4, (m) => m.receive(answerEcho(server, echo, [PING.target])!));
    assert.ok(done.done && 'result' in done.done);
  });

  test('no echo reply: retransmits with new sequence numbers, then WGF_ERR_PROBE_PING naming the target', () => {
    const { at, server, echo } = handshake();
    const again = only(at(202, (m) => m.tick()));
    assert.notDeepEqual(echo, again);
    // An ICMP destination unreachable from the server is mentioned.
    const unreach = buildEcho({ source: PING.target, destination: PING.source, id: 0, seq: 0 }, 'reply');
    unreach[20] = 3;
    unreach[21] = 1;
    unreach[22] = unreach[23] = 0;
    const sum = internetChecksum(unreach.subarray(20));
    unreach[22] = sum >> 8;
    unreach[23] = sum & 0xff;
    at(300, (m) => m.receive(server.seal(unreach)));
    const err = failure(at(1000, (m) => m.tick()));
    assert.equal(err.code, 'WGF_ERR_PROBE_PING');
    assert.match(err.message, /^handshake with 198\.18\.0\.1:51820 ok in 2\.0 ms, but no ICMP echo reply from 10\.77\.0\.1 within 1000 ms; got ICMP type 3 code 1 from 10\.77\.0\.1/);
  });
});

test('the timeout must be positive', () => {
  const initiator = new Initiator({ privateKey: client, peerPublicKey: publicKeyOf(server) });
  assert.throws(() => new ProbeMachine({ initiator, endpoint: EP, timeoutMs: 0, echoId: 1, now: () => 0 }), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_VALIDATION');
});
