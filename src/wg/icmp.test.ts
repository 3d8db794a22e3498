import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import { buildEcho, internetChecksum, isEchoReply, isEchoRequest, parseIcmp } from './icmp.js';
import { seededInt, seededRandom } from './testing/rng.js';

const bytes = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('internet checksum (RFC 1071)', () => {
  const cases = [
    { name: 'RFC 1071 section 3 example', data: '0001 f203 f4f5 f6f7', sum: 0x220d },
    { name: 'IPv4 header example (192.168.0.1 -> 192.168.0.199)', data: '4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7', sum: 0xb861 },
    { name: 'odd length pads with a zero byte', data: '0102 03', sum: ~(0x0102 + 0x0300) & 0xffff },
    { name: 'a buffer including its own checksum sums to zero', data: '4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7', sum: 0 },
  ];
  for (const c of cases) test(c.name, () => assert.equal(internetChecksum(bytes(c.data)), c.sum));
});

describe('echo request, golden bytes', () => {
  test('IPv4: 10.0.0.2 -> 10.0.0.1, id 0x1234, seq 1, no payload', () => {
    const p = buildEcho({ source: '10.0.0.2', destination: '10.0.0.1', id: 0x1234, seq: 1 });
    // ICMP: 0800 + 1234 + 0001 sums to 0x1a35, checksum 0xe5ca. IP: 4500 001c 0000 0000 4001 .... 0a00 0002 0a00 0001.
    const ipSum = internetChecksum(bytes('4500 001c 0000 0000 4001 0000 0a00 0002 0a00 0001'));
    assert.equal(hex(p), '4500001c000000004001' + ipSum.toString(16).padStart(4, '0') + '0a0000020a000001' + '0800e5ca12340001');
    assert.equal(ipSum, 0x66df); // ~(0x4500+0x001c+0x4001+0x0a00+0x0002+0x0a00+0x0001)
  });
  test('IPv6: ::1 -> ::1, id 0, seq 0: ICMPv6 checksum over the pseudo-header is 0x7fbb', () => {
    const p = buildEcho({ source: '::1', destination: '::1', id: 0, seq: 0 });
    assert.equal(p.length, 48);
    assert.equal(hex(p.subarray(0, 8)), '60000000' + '0008' + '3a' + '40');
    assert.equal(hex(p.subarray(40)), '80007fbb00000000');
  });
});

describe('round trips through parseIcmp', () => {
  const cases = [
    { name: 'IPv4 request with payload', spec: { source: '198.18.0.2', destination: '198.18.0.1', id: 7, seq: 65535, payload: Uint8Array.of(1, 2, 3) }, kind: 'request' as const },
    { name: 'IPv4 reply', spec: { source: '10.77.0.1', destination: '10.77.0.2', id: 65535, seq: 0 }, kind: 'reply' as const },
    { name: 'IPv6 request', spec: { source: 'fd00::2', destination: 'fd00::1', id: 1, seq: 2, payload: new Uint8Array(57).fill(9) }, kind: 'request' as const },
    { name: 'IPv6 reply', spec: { source: 'fd00:1:2::1', destination: 'fd00:1:2::abcd', id: 3, seq: 4 }, kind: 'reply' as const },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const p = parseIcmp(buildEcho(c.spec, c.kind));
      assert.equal(p.source, c.spec.source);
      assert.equal(p.destination, c.spec.destination);
      assert.equal(p.id, c.spec.id);
      assert.equal(p.seq, c.spec.seq);
      assert.deepEqual(p.payload, c.spec.payload ?? new Uint8Array(0));
      assert.equal(isEchoReply(p), c.kind === 'reply');
      assert.equal(isEchoRequest(p), c.kind === 'request');
    });
  }
  test('tunnel padding after the IP packet is ignored', () => {
    const p = buildEcho({ source: '10.0.0.1', destination: '10.0.0.2', id: 1, seq: 1, payload: Uint8Array.of(5) }, 'reply');
    const padded = new Uint8Array(Math.ceil(p.length / 16) * 16 + 16);
    padded.set(p);
    assert.deepEqual(parseIcmp(padded).payload, Uint8Array.of(5));
  });
});

describe('refusals', () => {
  const v4 = buildEcho({ source: '10.0.0.1', destination: '10.0.0.2', id: 1, seq: 1, payload: Uint8Array.of(1, 2) }, 'reply');
  const v6 = buildEcho({ source: 'fd00::1', destination: 'fd00::2', id: 1, seq: 1 }, 'reply');
  const mutated = (b: Uint8Array, i: number, x: number) => {
    const c = b.slice();
    c[i]! ^= x;
    return c;
  };
  const cases = [
    { name: 'empty', packet: new Uint8Array(0), reason: /empty/ },
    { name: 'IP version 5', packet: mutated(v4, 0, 0x10), reason: /version/ },
    { name: 'IPv4 header checksum', packet: mutated(v4, 8, 1), reason: /header checksum/ },
    { name: 'ICMP checksum', packet: mutated(v4, 28, 1), reason: /ICMP checksum/ },
    { name: 'IPv4 total length beyond the packet', packet: v4.subarray(0, v4.length - 1), reason: /lengths/ },
    { name: 'ICMPv6 checksum (source address changed)', packet: mutated(v6, 8, 1), reason: /ICMPv6 checksum/ },
    { name: 'IPv6 truncated', packet: v6.subarray(0, 39), reason: /truncated/ },
    { name: 'IPv6 next header UDP', packet: mutated(v6, 6, 58 ^ 17), reason: /not ICMPv6/ },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.throws(() => parseIcmp(c.packet), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_BAD_MESSAGE' && c.reason.test(e.message));
    });
  }
  test('builder refuses mixed families and out-of-range fields', () => {
    assert.throws(() => buildEcho({ source: '10.0.0.1', destination: 'fd00::1', id: 1, seq: 1 }), RangeError);
    assert.throws(() => buildEcho({ source: '10.0.0.1', destination: '10.0.0.2', id: 65536, seq: 1 }), RangeError);
    assert.throws(() => buildEcho({ source: 'nope', destination: '10.0.0.2', id: 1, seq: 1 }), RangeError);
  });
});

test('fuzz: parseIcmp throws nothing but WGF_ERR_BAD_MESSAGE on random and mutated packets', () => {
  const random = seededRandom(99);
  const int = seededInt(random);
  const seeds = [
    buildEcho({ source: '10.0.0.1', destination: '10.0.0.2', id: 1, seq: 1, payload: new Uint8Array(20) }, 'reply'),
    buildEcho({ source: 'fd00::1', destination: 'fd00::2', id: 1, seq: 1, payload: new Uint8Array(20) }, 'reply'),
  ];
  let ok = 0;
  const check = (b: Uint8Array) => {
    try {
      parseIcmp(b);
      ok++;
    } catch (e) {
      if (!(e instanceof FabricError && e.code === 'WGF_ERR_BAD_MESSAGE')) throw new Error(`non-FabricError for ${hex(b)}: ${String(e)}`);
    }
  };
  for (let len = 0; len <= 300; len++) {
    for (let k = 0; k < 4; k++) {
      const b = random(len);
      if (len > 0 && k < 2) b[0] = k === 0 ? 0x45 : 0x60; // half the inputs get past the version check
      check(b);
    }
  }
  for (const s of seeds) {
    for (let len = 0; len <= 300; len++) {
      const b = new Uint8Array(len);
      b.set(s.subarray(0, Math.min(len, s.length)));
      check(b);
    }
    for (let i = 0; i < 1000; i++) {
      const b = s.slice();
      b[int(b.length)]! ^= 1 << int(8);
      check(b);
    }
  }
  assert.ok(ok > 2 * 200, `only ${ok} inputs parsed: the fuzz did not reach the happy path`);
});
