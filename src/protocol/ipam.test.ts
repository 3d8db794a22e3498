import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { firstGap, formatIp, formatNet, hostProblem, overlaps, parseIp, parseNet, parsePoolPrefix, serverAddress, toHex, usableRange } from './ipam.js';

const code = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return isFabricError(e) ? e.code : String(e);
  }
};

test('parses addresses strictly and formats them canonically', () => {
  assert.equal(formatIp(4, parseIp('10.1.2.3').value), '10.1.2.3');
  assert.equal(formatIp(6, parseIp('FD77:0:0::0:1').value), 'fd77::1');
  for (const bad of ['10.1', '010.0.0.1', '1.2.3.256', '0x0a.0.0.1', 'fe80::1%eth0', '1::2::3', '', 'abc', '10.0.0.1 /8']) {
    assert.equal(code(() => parseIp(bad)), 'WGF_ERR_INVALID_CIDR', bad);
  }
});

test('CIDRs must be in network form, with a hint naming the fix', () => {
  assert.equal(formatNet(parseNet('10.77.0.0/16')), '10.77.0.0/16');
  assert.equal(formatNet(parseNet('fd77:0::/64')), 'fd77::/64');
  try {
    parseNet('10.77.1.5/16');
    assert.fail('accepted host bits');
  } catch (e) {
    assert.ok(isFabricError(e, 'WGF_ERR_INVALID_CIDR'));
    assert.match(e.message, /did you mean 10\.77\.0\.0\/16/);
  }
  for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', 'fd00::/129', '/8']) assert.equal(code(() => parseNet(bad)), 'WGF_ERR_INVALID_CIDR', bad);
  assert.equal(formatNet(parseNet('10.0.0.7', 'a', false)), '10.0.0.7/32');
});

test('pool prefixes: family and length bounds', () => {
  assert.equal(code(() => parsePoolPrefix('fd00::/64', 4, 'ipv4Prefix')), 'WGF_ERR_INVALID_CIDR');
  assert.equal(code(() => parsePoolPrefix('10.0.0.0/31', 4, 'ipv4Prefix')), 'WGF_ERR_INVALID_CIDR');
  assert.equal(code(() => parsePoolPrefix('10.0.0.0/30', 4, 'ipv4Prefix')), 'ok');
  assert.equal(code(() => parsePoolPrefix('fd00::/127', 6, 'ipv6Prefix')), 'WGF_ERR_INVALID_CIDR');
});

test('usable range skips the network address, the servers address and IPv4 broadcast', () => {
  const p4 = parseNet('10.0.0.0/30');
  const r4 = usableRange(p4);
  assert.equal(formatIp(4, serverAddress(p4)), '10.0.0.1');
  assert.equal(formatIp(4, r4.first), '10.0.0.2');
  assert.equal(formatIp(4, r4.last), '10.0.0.2');
  const p6 = parseNet('fd00::/126');
  assert.equal(formatIp(6, usableRange(p6).first), 'fd00::2');
  assert.equal(formatIp(6, usableRange(p6).last), 'fd00::3');
  assert.equal(hostProblem(p4, parseIp('10.0.0.1').value), 'reserved');
  assert.equal(hostProblem(p4, parseIp('10.0.0.3').value), 'reserved');
  assert.equal(hostProblem(p4, parseIp('10.0.0.4').value), 'outside');
  assert.equal(hostProblem(p4, parseIp('10.0.0.2').value), null);
});

test('overlap is symmetric and exact at the edges', () => {
  const cases: [string, string, boolean][] = [
    ['10.0.0.0/24', '10.0.0.128/25', true],
    ['10.0.0.0/25', '10.0.0.128/25', false],
    ['0.0.0.0/0', '192.168.1.0/24', true],
    ['10.0.0.0/8', 'fd00::/8', false],
    ['fd00::/64', 'fd00::1/128', true],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(overlaps(parseNet(a), parseNet(b)), want, `${a} ${b}`);
    assert.equal(overlaps(parseNet(b), parseNet(a)), want, `${b} ${a}`);
  }
});

test('hex keys have fixed width so they sort in address order', () => {
  const vals = ['10.0.0.2', '10.0.0.10', '10.0.1.1', '9.255.255.255'].map((s) => parseIp(s).value);
  const byHex = [...vals].sort((a, b) => (toHex(4, a) < toHex(4, b) ? -1 : 1));
  const byNum = [...vals].sort((a, b) => (a < b ? -1 : 1));
  assert.deepEqual(byHex, byNum);
  assert.equal(toHex(6, 1n).length, 32);
});

test('firstGap finds the first free address in an interval', () => {
  assert.equal(firstGap([], 2n, 5n), 2n);
  assert.equal(firstGap([2n, 3n, 5n], 2n, 9n), 4n);
  assert.equal(firstGap([0n, 1n, 2n, 3n], 2n, 3n), null);
  assert.equal(firstGap([2n, 3n], 2n, 4n), 4n);
  assert.equal(firstGap([7n], 2n, 4n), 2n);
});
