import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderFields, renderTable } from './output.js';

test('tables align columns and show "-" for empty values', () => {
  const out = renderTable([{ a: 'x', b: null }, { a: 'longer', b: ['1', '2'] }], [
    { header: 'NAME', get: (r) => r.a },
    { header: 'IPS', get: (r) => (r.b === null ? null : r.b.join(',')) },
  ]);
  assert.equal(out, 'NAME    IPS\nx       -\nlonger  1,2\n');
});

test('fields render labels and objects', () => {
  assert.equal(renderFields([['name', 'a'], ['labels', { env: 'prod' }], ['dns', []]]), 'name:   a\nlabels: env=prod\ndns:    -\n');
});
