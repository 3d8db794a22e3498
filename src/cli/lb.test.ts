import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HEALTH_CONFIG } from '../lb/health.js';
import { lbRunSettings } from './lb.js';

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
