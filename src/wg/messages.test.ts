import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import {
  buildCookieReply, buildInitiation, buildResponse, buildTransport, COOKIE_REPLY_SIZE, INITIATION_SIZE, messageType,
  parseCookieReply, parseInitiation, parseMessage, parseResponse, parseTransport, RESPONSE_SIZE,
} from './messages.js';
import { seededInt, seededRandom } from './testing/rng.js';

const fill = (n: number, b: number) => new Uint8Array(n).fill(b);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const rep = (byte: string, n: number) => byte.repeat(n);

const initiation = {
  sender: 0x04030201,
  ephemeral: fill(32, 0x11),
  encryptedStatic: fill(48, 0x22),
  encryptedTimestamp: fill(28, 0x33),
  mac1: fill(16, 0x44),
  mac2: fill(16, 0x55),
};
const response = {
  sender: 0x0d0c0b0a,
  receiver: 0xfffefdfc,
  ephemeral: fill(32, 0x66),
  encryptedNothing: fill(16, 0x77),
  mac1: fill(16, 0x88),
  mac2: fill(16, 0x99),
};
const cookieReply = { receiver: 0x00000080, nonce: fill(24, 0xaa), encryptedCookie: fill(32, 0xbb) };
const transport = { receiver: 7, counter: 0x0102030405060708n, data: fill(32, 0xcc) };

function isBadMessage(e: unknown): boolean {
  return e instanceof FabricError && e.code === 'WGF_ERR_BAD_MESSAGE';
}

describe('golden bytes: every field at its documented offset, little-endian', () => {
  const cases = [
    {
      name: 'initiation (148 bytes)',
      bytes: buildInitiation(initiation),
      golden: '01000000' + '01020304' + rep('11', 32) + rep('22', 48) + rep('33', 28) + rep('44', 16) + rep('55', 16),
    },
    {
      name: 'response (92 bytes)',
      bytes: buildResponse(response),
      golden: '02000000' + '0a0b0c0d' + 'fcfdfeff' + rep('66', 32) + rep('77', 16) + rep('88', 16) + rep('99', 16),
    },
    {
      name: 'cookie reply (64 bytes)',
      bytes: buildCookieReply(cookieReply),
      golden: '03000000' + '80000000' + rep('aa', 24) + rep('bb', 32),
    },
    {
      name: 'transport (16-byte header + data)',
      bytes: buildTransport(transport),
      golden: '04000000' + '07000000' + '0807060504030201' + rep('cc', 32),
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(hex(c.bytes), c.golden);
      assert.equal(c.bytes.length, c.golden.length / 2);
    });
  }
});

describe('round trips', () => {
  test('initiation', () => assert.deepEqual(parseInitiation(buildInitiation(initiation)), { type: 1, ...initiation }));
  test('response', () => assert.deepEqual(parseResponse(buildResponse(response)), { type: 2, ...response }));
  test('cookie reply', () => assert.deepEqual(parseCookieReply(buildCookieReply(cookieReply)), { type: 3, ...cookieReply }));
  test('transport', () => assert.deepEqual(parseTransport(buildTransport(transport)), { type: 4, ...transport }));
  test('transport with the largest counter and index', () => {
    const t = { receiver: 0xffffffff, counter: (1n << 64n) - 1n, data: fill(16, 1) };
    assert.deepEqual(parseTransport(buildTransport(t)), { type: 4, ...t });
  });
  test('parseMessage dispatches on the type', () => {
    assert.equal(parseMessage(buildInitiation(initiation)).type, 1);
    assert.equal(parseMessage(buildResponse(response)).type, 2);
    assert.equal(parseMessage(buildCookieReply(cookieReply)).type, 3);
    assert.equal(parseMessage(buildTransport(transport)).type, 4);
  });
  test('parsed fields are copies, not views of the input', () => {
    const b = buildInitiation(initiation);
    const m = parseInitiation(b);
    b.fill(0, 8);
    assert.deepEqual(m.ephemeral, initiation.ephemeral);
  });
});

describe('rejections', () => {
  const init = buildInitiation(initiation);
  const resp = buildResponse(response);
  const withByte = (b: Uint8Array, i: number, v: number) => {
    const c = b.slice();
    c[i] = v;
    return c;
  };
  const cases: { name: string; parse: (b: Uint8Array) => unknown; bytes: Uint8Array; match: RegExp }[] = [
    { name: 'empty datagram', parse: parseMessage, bytes: new Uint8Array(0), match: /too short/ },
    { name: 'three bytes', parse: parseMessage, bytes: Uint8Array.of(1, 0, 0), match: /too short/ },
    { name: 'type 0', parse: parseMessage, bytes: withByte(init, 0, 0), match: /unknown type 0/ },
    { name: 'type 5', parse: parseMessage, bytes: withByte(init, 0, 5), match: /unknown type 5/ },
    { name: 'reserved byte 1 set', parse: parseMessage, bytes: withByte(init, 1, 1), match: /reserved/ },
    { name: 'reserved byte 3 set', parse: parseMessage, bytes: withByte(init, 3, 0x80), match: /reserved/ },
    { name: 'initiation one byte short', parse: parseMessage, bytes: init.subarray(0, 147), match: /148 bytes, got 147/ },
    { name: 'initiation one byte long', parse: parseMessage, bytes: Uint8Array.from([...init, 0]), match: /148 bytes, got 149/ },
    { name: 'response of the wrong size', parse: parseMessage, bytes: resp.subarray(0, 91), match: /92 bytes, got 91/ },
    { name: 'cookie reply of the wrong size', parse: parseMessage, bytes: Uint8Array.from([3, 0, 0, 0, ...fill(61, 0)]), match: /64 bytes, got 65/ },
    { name: 'transport below 32 bytes', parse: parseMessage, bytes: buildTransport(transport).subarray(0, 31), match: /at least 32/ },
    { name: 'response given to parseInitiation', parse: parseInitiation, bytes: resp, match: /expected initiation/ },
    { name: 'initiation given to parseResponse', parse: parseResponse, bytes: init, match: /expected response/ },
    { name: 'initiation given to parseTransport', parse: parseTransport, bytes: init, match: /expected transport/ },
    { name: 'initiation given to parseCookieReply', parse: parseCookieReply, bytes: init, match: /expected cookie reply/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.throws(() => c.parse(c.bytes), (e: unknown) => isBadMessage(e) && c.match.test((e as Error).message));
    });
  }
  test('error details carry the type and size', () => {
    try {
      parseMessage(init.subarray(0, 100));
      assert.fail('expected a throw');
    } catch (e) {
      assert.ok(isBadMessage(e));
      assert.deepEqual((e as FabricError).details, { type: 1, size: 100 });
    }
  });
  test('builders refuse wrong field lengths and indexes (programming errors)', () => {
    assert.throws(() => buildInitiation({ ...initiation, ephemeral: fill(31, 0) }), RangeError);
    assert.throws(() => buildResponse({ ...response, receiver: 2 ** 32 }), RangeError);
    assert.throws(() => buildTransport({ ...transport, data: fill(15, 0) }), RangeError);
    assert.throws(() => buildTransport({ ...transport, counter: 1n << 64n }), RangeError);
  });
  test('messageType reads exactly the four header bytes', () => {
    assert.equal(messageType(Uint8Array.of(4, 0, 0, 0)), 4);
  });
});

describe('fuzz: parsers throw nothing but FabricError WGF_ERR_BAD_MESSAGE', () => {
  const random = seededRandom(0x5eed);
  const int = seededInt(random);
  const valid = [
    buildInitiation(initiation),
    buildResponse(response),
    buildCookieReply(cookieReply),
    buildTransport(transport),
    buildTransport({ receiver: 1, counter: 0n, data: fill(16, 0) }),
  ];
  const parsers = [parseMessage, parseInitiation, parseResponse, parseCookieReply, parseTransport];
  function check(bytes: Uint8Array): void {
    for (const p of parsers) {
      try {
        const m = p(bytes);
        // A successful parse must describe the bytes faithfully.
        assert.equal(m.type, bytes[0]);
      } catch (e) {
        if (!isBadMessage(e)) throw new Error(`parser threw a non-FabricError for ${hex(bytes)}: ${String(e)}`);
      }
    }
  }

  test('random bytes of every length 0..300, with and without a valid type byte', () => {
    let parsed = 0;
    for (let len = 0; len <= 300; len++) {
      for (let k = 0; k < 8; k++) {
        const b = random(len);
        if (len >= 4 && k % 2 === 0) {
          b[0] = 1 + ((k / 2) % 4);
          b[1] = b[2] = b[3] = 0;
        }
        check(b);
        if (len >= 4 && k % 2 === 0) {
          try {
            parseMessage(b);
            parsed++;
          } catch {
            /* counted below */
          }
        }
      }
    }
    // Type-4 messages of 32+ bytes and the exact sizes parse: the fuzz reached the happy path.
    assert.ok(parsed > 100, `only ${parsed} random messages parsed`);
  });

  test('mutations of valid messages: truncations, extensions, bit flips', () => {
    for (const v of valid) {
      for (let len = 0; len <= 300; len++) {
        const b = new Uint8Array(len);
        b.set(v.subarray(0, Math.min(len, v.length)));
        if (len > v.length) b.set(random(len - v.length), v.length);
        check(b);
      }
      for (let i = 0; i < 500; i++) {
        const b = v.slice();
        const flips = 1 + int(4);
        for (let f = 0; f < flips; f++) b[int(b.length)]! ^= 1 << int(8);
        check(b);
      }
    }
  });
});
