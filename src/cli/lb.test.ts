import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { LbGroup } from '../lb/group.js';
import { DEFAULT_HEALTH_CONFIG } from '../lb/health.js';
import { LbMetrics, startLbHttp } from '../lb/service-http.js';
import type { LbServiceStatus } from '../lb/service.js';
import { isFabricError } from '../protocol/errors.js';
import { lbRunPairs, lbRunSettings } from './lb.js';

const RUNNER = fileURLToPath(new URL('./testing/run-cli.ts', import.meta.url));

/** Runs the CLI in a child process (its stdout must not mix with the test runner's). */
function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', RUNNER, ...argv], (error, out, err) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out, err });
    });
  });
}

const BASE = { probeIntervalMs: 200, probeTimeoutMs: 300, failAfter: 2, recoverAfter: 3, drainTimeoutMs: 300_000 };

test('lb run settings: defaults leave the damping of DEFAULT_HEALTH_CONFIG; flags override each field', () => {
  const plain = lbRunSettings(BASE);
  assert.deepEqual(plain.health, DEFAULT_HEALTH_CONFIG);
  assert.equal(plain.drainTimeoutMs, 300_000);

  const s = lbRunSettings({
    ...BASE, probeIntervalMs: 100, failAfter: 4, drainTimeoutMs: 0,
    dampingPenalty: 500, dampingSuppressAbove: 3000, dampingReuseBelow: 1000, dampingHalfLifeMs: 10_000, dampingMaxSuppressMs: 60_000,
  });
  assert.equal(s.health.intervalMs, 100);
  assert.equal(s.health.fall, 4);
  assert.equal(s.drainTimeoutMs, 0, 'a zero deadline cuts held flows at once');
  assert.deepEqual(s.health.damping, { penalty: 500, suppressAbove: 3000, reuseBelow: 1000, halfLifeMs: 10_000, maxSuppressMs: 60_000 });
});

test('lb run settings: contradictory or bad values are refused with WGF_ERR_VALIDATION', () => {
  const bad: Array<[string, Parameters<typeof lbRunSettings>[0], RegExp]> = [
    ['reuse above suppress', { ...BASE, dampingReuseBelow: 2500 }, /reuseBelow/],
    ['negative drain', { ...BASE, drainTimeoutMs: -1 }, /--drain-timeout-ms/],
    ['fractional drain', { ...BASE, drainTimeoutMs: 1.5 }, /--drain-timeout-ms/],
    ['zero fall', { ...BASE, failAfter: 0 }, /fall/],
    ['zero half-life', { ...BASE, dampingHalfLifeMs: 0 }, /halfLifeMs/],
  ];
  for (const [label, flags, message] of bad) {
    assert.throws(() => lbRunSettings(flags), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'WGF_ERR_VALIDATION', label);
      assert.match((e as Error).message, message, label);
      return true;
    }, label);
  }
});

test('lb run pairs: --pool and --vip paired in order, VIPs canonical; one pair as before', () => {
  assert.deepEqual(lbRunPairs(['office'], ['198.51.100.1:51820']), [{ pool: 'office', vip: '198.51.100.1', port: 51820 }]);
  assert.deepEqual(lbRunPairs(['a', 'b', 'c'], ['198.51.100.1:51820', '[2001:DB8::0:1]:51820', '198.51.100.1:51821']), [
    { pool: 'a', vip: '198.51.100.1', port: 51820 },
    { pool: 'b', vip: '2001:db8::1', port: 51820 },
    { pool: 'c', vip: '198.51.100.1', port: 51821 },
  ], 'the same address on another port is another VIP');
});

test('lb run pairs: uneven flags, a VIP twice, a pool twice and bad VIPs are refused with WGF_ERR_VALIDATION', () => {
  const bad: [string, string[], string[], RegExp][] = [
    ['a --vip short', ['a', 'b'], ['198.51.100.1:51820'], /--pool and --vip go in pairs.*got 2 --pool and 1 --vip/],
    ['a --pool short', ['a'], ['198.51.100.1:51820', '198.51.100.2:51820'], /got 1 --pool and 2 --vip/],
    ['none', [], [], /got 0 --pool and 0 --vip/],
    ['a VIP twice', ['a', 'b'], ['198.51.100.1:51820', '198.51.100.1:51820'], /--vip 198\.51\.100\.1:51820 is given twice \(pools a and b\)/],
    ['a VIP twice, spelled differently', ['a', 'b'], ['[2001:db8::1]:443', '[2001:DB8:0::1]:443'], /--vip \[2001:db8::1\]:443 is given twice/],
    ['a pool twice', ['a', 'a'], ['198.51.100.1:51820', '198.51.100.2:51820'], /--pool a is given twice .*lbprobe-<instance>.*run another instance with its own --instance/],
    ['a host name', ['a'], ['vpn.example.com:51820'], /--vip must be a literal IPv4 or IPv6 address/],
    ['no port', ['a'], ['198.51.100.1'], /--vip must be IPv4:PORT or \[IPv6\]:PORT/],
  ];
  for (const [label, pools, vips, message] of bad) {
    assert.throws(() => lbRunPairs(pools, vips), (e: unknown) => {
      assert.ok(isFabricError(e, 'WGF_ERR_VALIDATION'), label);
      assert.match(e.message, message, label);
      return true;
    }, label);
  }
});

test('lb run: the flags repeat and pair up (validated before anything runs)', async () => {
  const uneven = await cli('lb', 'run', '--pool', 'a', '--vip', '198.51.100.1:51820', '--pool', 'b');
  assert.equal(uneven.code, 64, uneven.err);
  assert.match(uneven.err, /got 2 --pool and 1 --vip \[WGF_ERR_VALIDATION\]/);
  const twice = await cli('lb', 'run', '--pool', 'a', '--vip', '198.51.100.1:51820', '--pool', 'a', '--vip', '198.51.100.2:51820');
  assert.equal(twice.code, 64, twice.err);
  assert.match(twice.err, /--pool a is given twice/);
});

test('lb status reads every VIP of an LB (/status/all), or one with --vip', async () => {
  const status = (pool: string, vip: string): LbServiceStatus => ({
    pool, instance: 'lb1', vip, port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 2, probePeer: null, lastError: null, failOpen: false,
    backends: [{
      name: `${pool}-1`, address: '198.18.0.10', port: 51820, state: 'up', reason: 'healthy', inTable: true, slots: 251, adminState: 'active', agentReady: true,
      probes: 3, consecutiveFailures: 0, lastRttMs: 0.4, lastDetectionMs: null, detectedAt: null, leftTableAt: null,
    }],
  });
  const members = [status('a', '198.51.100.1'), status('b', '2001:db8::2')].map((st) => ({ running: true, start: async () => {}, stop: async () => {}, status: () => st }));
  const server = await startLbHttp(new LbGroup(members), new LbMetrics({ instance: 'lb1' }), '127.0.0.1', 0);
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const all = await cli('lb', 'status', '--url', url);
    assert.equal(all.code, 0, all.err);
    assert.match(all.out, /^lb lb1 198\.51\.100\.1:51820 pool a {2}table 251 slots/m);
    assert.match(all.out, /^lb lb1 \[2001:db8::2\]:51820 pool b {2}table 251 slots/m);
    assert.match(all.out, /^a-1 .*yes/m);
    assert.match(all.out, /^b-1 .*yes/m);
    const allJson = await cli('lb', 'status', '--url', url, '--json');
    assert.deepEqual((JSON.parse(allJson.out) as LbServiceStatus[]).map((s) => s.pool), ['a', 'b']);
    const one = await cli('lb', 'status', '--url', url, '--vip', '[2001:db8::2]:51820', '--json');
    assert.equal(one.code, 0, one.err);
    assert.equal((JSON.parse(one.out) as LbServiceStatus).pool, 'b');
    const none = await cli('lb', 'status', '--url', url, '--vip', '198.51.100.9:51820');
    assert.equal(none.code, 66, none.err);
    assert.match(none.err, /does not serve VIP 198\.51\.100\.9:51820 \[WGF_ERR_NOT_FOUND\]|does not serve VIP 198\.51\.100\.9:51820; it serves/);
  } finally {
    server.close();
  }
});

test('lb status says whether the BPF program checks mac1, and why not', async () => {
  const status = (vip: string, mac1: LbServiceStatus['mac1']): LbServiceStatus => ({
    pool: `p${vip.slice(-1)}`, instance: 'lb1', vip, port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 1, probePeer: null, lastError: null, failOpen: false,
    dataplane: 'bpf', attach: 'tc', ...(mac1 ? { mac1 } : {}), backends: [],
  });
  const members = [
    status('198.51.100.1', { verify: true }),
    status('198.51.100.2', { verify: false, reason: 'turned off (--no-verify-mac1)' }),
  ].map((st) => ({ running: true, start: async () => {}, stop: async () => {}, status: () => st }));
  const server = await startLbHttp(new LbGroup(members), new LbMetrics({ instance: 'lb1' }), '127.0.0.1', 0);
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const all = await cli('lb', 'status', '--url', url);
    assert.equal(all.code, 0, all.err);
    assert.match(all.out, /198\.51\.100\.1:51820 .*data path bpf at tc, mac1 checked/);
    assert.match(all.out, /198\.51\.100\.2:51820 .*data path bpf at tc, mac1 not checked: turned off \(--no-verify-mac1\)/);
    const json = await cli('lb', 'status', '--url', url, '--vip', '198.51.100.1:51820', '--json');
    assert.deepEqual((JSON.parse(json.out) as LbServiceStatus).mac1, { verify: true });
  } finally {
    server.close();
  }
});
