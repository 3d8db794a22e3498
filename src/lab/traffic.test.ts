import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pingResult } from './traffic.js';

const OUT = [
  'PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.',
  '64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=0.500 ms',
  '64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=1.50 ms',
  '64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=9.00 ms (DUP!)',
  '64 bytes from 10.0.0.1: icmp_seq=4 ttl=64 time=0.100 ms',
  '64 bytes from 10.0.0.1: icmp_seq=5 ttl=64 time=0.100 ms',
  '',
  '--- 10.0.0.1 ping statistics ---',
  '6 packets transmitted, 5 received, +1 duplicates, 16.6667% packet loss, time 1005ms',
].join('\n');

test('pingResult counts replies to the judged sequence numbers only, duplicates once', () => {
  // Judged: 1..3. Seq 2 was lost; seq 3 answered twice; 4 and 5 are tail packets.
  assert.deepEqual(pingResult(OUT, 3), { sent: 3, received: 2, avgMs: 1 });
  assert.deepEqual(pingResult(OUT, 5), { sent: 5, received: 4, avgMs: 0.55 });
  assert.equal(pingResult('64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=1 ms\n64 bytes from 10.0.0.1: icmp_seq=2 ttl=64 time=2 ms\n64 bytes from 10.0.0.1: icmp_seq=3 ttl=64 time=2 ms\n', 3).avgMs, 1.667, 'rounded to microseconds as ping prints it');
});

test('pingResult of a ping that got nothing (or failed to start)', () => {
  assert.deepEqual(pingResult('PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.\n\n--- 10.0.0.1 ping statistics ---\n4 packets transmitted, 0 received, 100% packet loss\n', 2), { sent: 2, received: 0, avgMs: null });
  assert.deepEqual(pingResult('', 3), { sent: 3, received: 0, avgMs: null });
});
