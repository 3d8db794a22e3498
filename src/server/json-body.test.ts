import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pubkey } from '../control/testing/fixtures.js';
import { duplicateKey } from './json-body.js';
import { harness, type Harness } from './testing/harness.js';

test('duplicateKey finds a key twice in one object at any depth, escapes decoded; distinct objects may share keys', () => {
  const cases: [string, string | null][] = [
    ['{"a":1,"b":2}', null], ['{"a":1,"a":2}', 'a'], ['{"a":{"x":1},"b":{"x":2}}', null], ['{"l":{"e":"1","e":"2"}}', 'l.e'],
    ['[{"a":1},{"a":1}]', null], ['{"a":"\\"a\\"","b":["a","a"]}', null], ['{"a":1,"\\u0061":2}', 'a'], ['{"s":"{\\"a\\":1,\\"a\\":2}"}', null],
    ['{"x":[{"k":1,"k":2}]}', 'x[].k'], ['1', null], ['"a"', null],
  ];
  for (const [text, want] of cases) assert.equal(duplicateKey(text), want, text);
});

let h: Harness;
before(async () => (h = await harness()));
after(() => h.close());

test('a body with a duplicate key is refused with WGF_ERR_VALIDATION naming it; nothing is stored', async () => {
  const key = pubkey();
  const payload = `{"name":"dup1","publicKey":"${key}","labels":{"env":"prod","env":"dev"}}`;
  const res = await h.app.inject({ method: 'POST', url: '/v1/pools/p1/peers', headers: { ...h.bearer(h.tokens.admin), 'content-type': 'application/json' }, payload });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().error.code, 'WGF_ERR_VALIDATION');
  assert.match(res.json().error.message, /"labels\.env" twice/);
  assert.equal((await h.app.inject({ method: 'GET', url: '/v1/pools/p1/peers/dup1', headers: h.bearer(h.tokens.admin) })).statusCode, 404);
  const poison = await h.app.inject({ method: 'POST', url: '/v1/pools/p1/peers', headers: { ...h.bearer(h.tokens.admin), 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1}}' });
  assert.equal(poison.statusCode, 400);
  const fine = await h.app.inject({ method: 'POST', url: '/v1/pools/p1/peers', headers: h.bearer(h.tokens.admin), payload: { name: 'dup1', publicKey: key, labels: { env: 'prod' } } });
  assert.equal(fine.statusCode, 201);
});

test('expiresAt must be a real calendar date: 2024-02-30 is 400, not stored as 2024-03-01', async () => {
  const res = await h.app.inject({ method: 'POST', url: '/v1/pools/p1/peers', headers: h.bearer(h.tokens.admin), payload: { name: 'feb30', publicKey: pubkey(), expiresAt: '2024-02-30T00:00:00Z' } });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().error.details.field, 'expiresAt');
});
