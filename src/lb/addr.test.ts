import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { checkPort, formatIpPort, parseIp, parseIpPort } from './addr.js';

test('parseIp: bytes in network order and canonical text', () => {
  const cases: { in: string; family: 4 | 6; text: string; bytes: number[] }[] = [
    { in: '198.18.0.1', family: 4, text: '198.18.0.1', bytes: [198, 18, 0, 1] },
    { in: '::1', family: 6, text: '::1', bytes: [...new Array<number>(15).fill(0), 1] },
    { in: '2001:0DB8:0000::0001', family: 6, text: '2001:db8::1', bytes: [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1] },
    { in: '1::', family: 6, text: '1::', bytes: [0, 1, ...new Array<number>(14).fill(0)] },
    { in: '::ffff:1.2.3.4', family: 6, text: '::ffff:102:304', bytes: [...new Array<number>(10).fill(0), 0xff, 0xff, 1, 2, 3, 4] },
    // IPv4-compatible form: no ffff (ipaddr.js alone gets this one wrong).
    { in: '::1.2.3.4', family: 6, text: '::102:304', bytes: [...new Array<number>(12).fill(0), 1, 2, 3, 4] },
    { in: '1:2:3:4:5:6:7:8', family: 6, text: '1:2:3:4:5:6:7:8', bytes: [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8] },
  ];
  for (const c of cases) {
    const got = parseIp(c.in);
    assert.equal(got.family, c.family, c.in);
    assert.equal(got.text, c.text, c.in);
    assert.deepEqual([...got.bytes], c.bytes, c.in);
  }
});

test('parseIp and checkPort reject what is not a literal address or a port', () => {
  for (const bad of ['', '1.2.3', '01.2.3.4', '1.2.3.4/32', 'fe80::1%eth0', 'example.com', '1:2:3:4:5:6:7:8:9']) {
    assert.throws(() => parseIp(bad, 'vip'), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === 'vip', bad);
  }
  for (const bad of [0, 65536, 1.5, Number.NaN]) {
    assert.throws(() => checkPort(bad), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'), String(bad));
  }
  assert.equal(checkPort(0, 'srcPort', 0), 0);
  assert.equal(checkPort(65535), 65535);
});

test('parseIpPort reads IPv4:PORT and [IPv6]:PORT in canonical form; formatIpPort writes them back', () => {
  const good: [string, { address: string; port: number }, string][] = [
    ['198.51.100.1:51820', { address: '198.51.100.1', port: 51820 }, '198.51.100.1:51820'],
    ['[2001:DB8::0001]:443', { address: '2001:db8::1', port: 443 }, '[2001:db8::1]:443'],
  ];
  for (const [text, want, back] of good) {
    const got = parseIpPort(text, 'vip');
    assert.deepEqual(got, want, text);
    assert.equal(formatIpPort(got.address, got.port), back, text);
  }
  for (const bad of ['198.51.100.1', '198.51.100.1:0', '198.51.100.1:65536', 'vpn.example.com:51820', '2001:db8::1:51820', '[198.51.100.1]:1', '']) {
    assert.throws(() => parseIpPort(bad, 'vip'), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === 'vip', bad);
  }
});
