import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { DEFAULT_WATCH_LIMITS, validateWatchLimits, WatchSlots } from './stream-limits.js';

test('watch slots: per-token and total limits answer WGF_ERR_TOO_MANY_WATCHES naming the scope; release frees once', () => {
  const slots = new WatchSlots({ maxTotal: 3, maxPerToken: 2 });
  const a1 = slots.acquire('a');
  slots.acquire('a');
  assert.throws(() => slots.acquire('a'), (e) => isFabricError(e, 'WGF_ERR_TOO_MANY_WATCHES') && e.status === 429 && e.details?.['scope'] === 'token');
  slots.acquire('b');
  assert.throws(() => slots.acquire('c'), (e) => isFabricError(e, 'WGF_ERR_TOO_MANY_WATCHES') && e.details?.['scope'] === 'server');
  a1();
  a1(); // idempotent: must not free a second slot
  assert.equal(slots.size, 2);
  slots.acquire('c');
  assert.throws(() => slots.acquire('d'));
});

test('watch limits are validated with the field named', () => {
  assert.deepEqual(validateWatchLimits(DEFAULT_WATCH_LIMITS), DEFAULT_WATCH_LIMITS);
  for (const bad of [{ maxTotal: 0 }, { maxPerToken: 1.5 }, { bufferBytes: 10 }, { maxPerToken: 1000, maxTotal: 10 }]) {
    assert.throws(() => validateWatchLimits({ ...DEFAULT_WATCH_LIMITS, ...bad }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && typeof e.details?.['field'] === 'string');
  }
});
