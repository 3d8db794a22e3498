import { test } from 'node:test';
import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { canonicalIp, formatEndpoint, ipFamily, isHostname, normalizeCidr, parseCidr, parseEndpoint, parsePort } from './addr.js';
import { Rng, testSeed } from './testing/random.js';

const families: [string, 4 | 6 | null][] = [
  ['10.0.0.1', 4], ['0.0.0.0', 4], ['255.255.255.255', 4], ['256.0.0.1', null], ['10.0.0.01', null], ['10.1', null],
  ['10.0.0.1.', null], [' 10.0.0.1', null], ['::', 6], ['::1', 6], ['2001:db8::1', 6], ['2001:DB8::A', 6],
  ['1:2:3:4:5:6:7:8', 6], ['1:2:3:4:5:6:7::', 6], ['::2:3:4:5:6:7:8', 6], ['1:2:3:4::5:6:7:8', null],
  ['1:2:3:4:5:6:7', null], ['1:2:3:4:5:6:7:8:9', null], ['::ffff:1.2.3.4', 6], ['1.2.3.4::', null], ['::1.2.3.4:1', null],
  ['fe80::1%eth0', null], [':::', null], ['1::2::3', null], ['12345::', null], ['', null], [':', null], ['g::1', null],
  ['1:2:3:4:5:6:1.2.3.4', 6], ['1:2:3:4:5:6:7:1.2.3.4', null],
];

for (const [s, fam] of families) {
  test(`ipFamily(${JSON.stringify(s)}) is ${fam}`, () => assert.equal(ipFamily(s), fam));
}

test('ipFamily agrees with ipaddr.js on random IPv6-ish strings (differential fuzz)', () => {
  const rng = new Rng(testSeed(4242));
  let valid = 0;
  for (let i = 0; i < 20_000; i++) {
    const s = rng.bool(0.5)
      ? rng.string(rng.range(0, 20), '0123456789abcdefABCDEF:::.')
      : Array.from({ length: rng.range(1, 9) }, () => (rng.bool(0.15) ? '' : rng.int(65536).toString(16))).join(':');
    const ours = ipFamily(s) === 6;
    const theirs = s.includes(':') && ipaddr.IPv6.isValid(s);
    assert.equal(ours, theirs, `disagree on ${JSON.stringify(s)}`);
    if (ours) valid++;
  }
  assert.ok(valid > 1000, `only ${valid} valid samples: the generator is too weak`);
});

const cidrs: [string, string | null][] = [
  ['10.0.0.1/24', '10.0.0.0/24'], ['10.0.0.1', '10.0.0.1/32'], ['0.0.0.0/0', '0.0.0.0/0'], ['10.0.0.0/33', null],
  ['10.0.0.0/024', null], ['10.0.0.0/', null], ['10.0.0.0/-1', null], ['2001:db8::1/64', '2001:db8::/64'],
  ['2001:DB8:0:0:0:0:0:1', '2001:db8::1/128'], ['::/0', '::/0'], ['::/129', null], ['::ffff:1.2.3.4/128', '::ffff:1.2.3.4/128'],
  ['1:2:3:4:5:6:7:0/128', '1:2:3:4:5:6:7:0/128'], ['fd00::ab/120', 'fd00::/120'], ['10.0.0.1/32/1', null],
];

for (const [s, norm] of cidrs) {
  test(`normalizeCidr(${JSON.stringify(s)}) is ${norm}`, () => {
    assert.equal(normalizeCidr(s), norm);
    assert.equal(parseCidr(s) !== null, norm !== null);
  });
}

test('parseCidr can require an explicit prefix', () => {
  assert.equal(parseCidr('10.0.0.1', false), null);
  assert.deepEqual(parseCidr('10.0.0.1/8', false), { family: 4, addr: '10.0.0.1', prefix: 8 });
});

test('canonicalIp prints like Go net/netip', () => {
  assert.equal(canonicalIp('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(canonicalIp('::ffff:0102:0304'), '::ffff:1.2.3.4');
  assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
  assert.equal(canonicalIp('nope'), null);
});

const endpoints: [string, { host: string; port: number; kind: 4 | 6 | 'name' } | null][] = [
  ['1.2.3.4:51820', { host: '1.2.3.4', port: 51820, kind: 4 }],
  ['[2001:db8::1]:51820', { host: '2001:db8::1', port: 51820, kind: 6 }],
  ['vpn.example.com:443', { host: 'vpn.example.com', port: 443, kind: 'name' }],
  ['localhost:1', { host: 'localhost', port: 1, kind: 'name' }],
  ['2001:db8::1:51820', null], ['[2001:db8::1]51820', null], ['[1.2.3.4]:1', null], ['1.2.3.4', null], ['1.2.3.4:', null],
  ['1.2.3.4:0', null], ['1.2.3.4:65536', null], ['1.2.3.4:080', null], [':51820', null], ['bad_host!:1', null],
  ['-lead.example:1', null], ['1.2.3:1', null], ['[fe80::1%eth0]:1', null],
];

for (const [s, want] of endpoints) {
  test(`parseEndpoint(${JSON.stringify(s)})`, () => {
    assert.deepEqual(parseEndpoint(s), want);
    if (want) assert.equal(formatEndpoint(want), s);
  });
}

test('host names and ports', () => {
  for (const ok of ['a', 'example.com', 'example.com.', 'x-1.y_2.z', `${'a'.repeat(63)}.com`]) assert.ok(isHostname(ok), ok);
  for (const bad of ['', '.', 'a..b', '-a', 'a-', `${'a'.repeat(64)}.com`, '1.2.3', 'a b', `${'a.'.repeat(127)}a`]) assert.ok(!isHostname(bad), bad);
  assert.equal(parsePort('65535'), 65535);
  assert.equal(parsePort('0'), null);
  assert.equal(parsePort('+1'), null);
});

test('address parsers never throw on random input (fuzz)', () => {
  const rng = new Rng(testSeed(77));
  for (let i = 0; i < 20_000; i++) {
    const s = rng.string(rng.range(0, 60), '0123456789abcdef:.[]/%-_ xyz\u0000\u00e9');
    const e = parseEndpoint(s);
    if (e) assert.equal(parseEndpoint(formatEndpoint(e))?.port, e.port);
    const n = normalizeCidr(s);
    if (n) assert.equal(normalizeCidr(n), n, `normalizeCidr is not idempotent on ${JSON.stringify(s)}`);
    isHostname(s);
  }
});

/** The ipaddr.js form of normalizeCidr (what it was before the hand-written one). */
function normalizeWithIpaddr(s: string): string | null {
  const c = parseCidr(s);
  if (c === null) return null;
  const bytes = ipaddr.parse(c.addr).toByteArray();
  for (let bit = c.prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${canonicalIp(ipaddr.fromByteArray(bytes).toString())}/${c.prefix}`;
}

test('normalizeCidr equals the ipaddr.js reference on random prefixes (zero runs, IPv4-mapped, every length)', () => {
  const rng = new Rng(testSeed(78));
  const group = (): string => (rng.range(0, 3) === 0 ? '0' : rng.range(0, 0xffff).toString(16));
  for (let i = 0; i < 20_000; i++) {
    let s: string;
    if (rng.range(0, 3) === 0) s = `${rng.range(0, 255)}.${rng.range(0, 255)}.${rng.range(0, 255)}.${rng.range(0, 255)}/${rng.range(0, 32)}`;
    else {
      const g = Array.from({ length: 8 }, group);
      if (rng.range(0, 5) === 0) g.splice(0, 6, '0', '0', '0', '0', '0', 'ffff');
      let text = g.join(':');
      if (rng.range(0, 2) === 0) { // write one zero run as '::'
        const from = rng.range(0, 7);
        const to = rng.range(from + 1, 8);
        text = `${g.slice(0, from).join(':')}::${g.slice(to).join(':')}`;
      }
      if (rng.range(0, 6) === 0) text = text.replace(/:[0-9a-f]+:[0-9a-f]+$/, `:${rng.range(0, 255)}.${rng.range(0, 255)}.${rng.range(1, 255)}.${rng.range(0, 255)}`);
      s = `${rng.range(0, 1) ? text.toUpperCase() : text}/${rng.range(0, 128)}`;
    }
    // ipaddr.js reads '::a.b.c.d' as IPv4-mapped; net/netip (wireguard-go) does not: see below.
    if (!/^::[0-9]+\./.test(s)) assert.equal(normalizeCidr(s), normalizeWithIpaddr(s), s);
  }
});

test('normalizeCidr prints IPv4-in-IPv6 forms as net/netip does', () => {
  assert.equal(normalizeCidr('::1.2.3.4/128'), '::102:304/128'); // IPv4-compatible: not mapped
  assert.equal(normalizeCidr('::ffff:1.2.3.4/128'), '::ffff:1.2.3.4/128');
  assert.equal(normalizeCidr('::FFFF:0102:0304/120'), '::ffff:1.2.3.0/120');
  assert.equal(normalizeCidr('2001:db8:0:0:1:0:0:1/128'), '2001:db8::1:0:0:1/128'); // first of equal runs
  assert.equal(normalizeCidr('2001:0:0:1:0:0:0:1/128'), '2001:0:0:1::1/128'); // the longest run
  assert.equal(normalizeCidr('1:0:2:0:3:0:4:0/128'), '1:0:2:0:3:0:4:0/128'); // single zeros stay
});
