import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isFabricError } from '../protocol/errors.js';
import { isValidKey, keepAtTxnBoundary, validateLimit, validateSince, validateTxn } from './validate.js';

const keyCases: { key: unknown; valid: boolean }[] = [
  { key: 'pools/a/peers/p000001', valid: true },
  { key: 'k+/=AZaz09', valid: true },
  { key: '!', valid: true },
  { key: '~', valid: true },
  { key: '', valid: false },
  { key: 'a b', valid: false },
  { key: 'a\nb', valid: false },
  { key: 'é', valid: false },
  { key: '\x7f', valid: false },
  { key: 42, valid: false },
  { key: undefined, valid: false },
];
for (const c of keyCases) {
  test(`isValidKey(${JSON.stringify(c.key) ?? String(c.key)}) is ${c.valid}`, () => assert.equal(isValidKey(c.key), c.valid));
}

// Revisions of a revision-ordered event list: [1, 2,2,2, 3, 4,4]
const revs = [1, 2, 2, 2, 3, 4, 4].map((revision) => ({ revision }));
const keepCases: { name: string; events: { revision: number }[]; limit: number; keep: number }[] = [
  { name: 'everything fits', events: revs, limit: 7, keep: 7 },
  { name: 'limit above the length', events: revs, limit: 100, keep: 7 },
  { name: 'the cut falls on a boundary', events: revs, limit: 4, keep: 4 },
  { name: 'the cut would split r2: back off to r1', events: revs, limit: 3, keep: 1 },
  { name: 'the cut would split r4: back off to r3', events: revs, limit: 6, keep: 5 },
  { name: 'the first txn alone exceeds limit: keep it whole', events: revs.slice(1), limit: 2, keep: 3 },
  { name: 'one oversized txn, partly fetched: keep all fetched', events: revs.slice(1, 4), limit: 2, keep: 3 },
  { name: 'empty input', events: [], limit: 1, keep: 0 },
];
for (const c of keepCases) {
  test(`keepAtTxnBoundary: ${c.name}`, () => assert.equal(keepAtTxnBoundary(c.events, c.limit), c.keep));
}

const invalid: { name: string; call: () => void; field: string }[] = [
  { name: 'compares not an array', call: () => validateTxn(null as never, []), field: '' },
  { name: 'op key with a space', call: () => validateTxn([], [{ type: 'put', key: 'a b', value: 'v' }]), field: 'ops[0].key' },
  { name: 'second op without value', call: () => validateTxn([], [{ type: 'delete', key: 'a' }, { type: 'put', key: 'b' } as never]), field: 'ops[1].value' },
  { name: 'op of unknown type', call: () => validateTxn([], [{ type: 'get', key: 'a' } as never]), field: 'ops[0].type' },
  { name: 'compare with NaN', call: () => validateTxn([{ key: 'a', modRevision: Number.NaN }], []), field: 'compares[0].modRevision' },
  { name: 'since negative', call: () => validateSince(-1), field: 'since' },
  { name: 'since Infinity', call: () => validateSince(Infinity), field: 'since' },
  { name: 'limit 0', call: () => validateLimit(0), field: 'limit' },
  { name: 'limit fractional', call: () => validateLimit(1.5), field: 'limit' },
];
for (const c of invalid) {
  test(`validation refuses ${c.name}`, () => {
    assert.throws(c.call, (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && (c.field === '' || e.details?.field === c.field));
  });
}

test('validation accepts well-formed input', () => {
  assert.doesNotThrow(() => validateTxn([{ key: 'a', modRevision: 0 }], [{ type: 'put', key: 'a', value: '' }, { type: 'delete', key: 'b' }]));
  assert.doesNotThrow(() => validateSince(0));
  assert.doesNotThrow(() => validateLimit(undefined));
  assert.doesNotThrow(() => validateLimit(1));
});
