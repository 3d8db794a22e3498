import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFabricError } from '../protocol/errors.js';
import { time } from './validate.js';

test('time: calendar-valid RFC 3339 only; impossible dates are refused, never rolled over', () => {
  const ok: [string, string][] = [
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'], ['2030-12-31T23:59:59Z', '2030-12-31T23:59:59.000Z'],
    ['2030-01-01T10:00:00+02:00', '2030-01-01T08:00:00.000Z'], ['2030-06-30t00:00:00.5z', '2030-06-30T00:00:00.500Z'],
  ];
  for (const [input, want] of ok) assert.equal(time('expiresAt', input), want, input);
  const bad = ['2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '2030-04-31T00:00:00Z', '2030-13-01T00:00:00Z', '2030-00-10T00:00:00Z',
    '2030-01-00T00:00:00Z', '2030-01-01T24:00:00Z', '2030-01-01T00:60:00Z', '2030-01-01T00:00:60Z', '2030-01-01T00:00:00+24:00', '2030-01-01'];
  for (const input of bad) {
    assert.throws(() => time('expiresAt', input), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === 'expiresAt', input);
  }
  assert.equal(time('expiresAt', null), null);
});
