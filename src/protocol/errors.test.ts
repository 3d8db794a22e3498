import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERRORS, FabricError, fromErrorBody, toFabricError } from './errors.js';

test('every code is namespaced, has a 4xx/5xx status and a non-zero exit code', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.match(code, /^WGF_ERR_[A-Z_]+$/);
    assert.ok(spec.status >= 400 && spec.status < 600, code);
    assert.ok(spec.exit > 0 && spec.exit < 128, code);
    assert.ok(spec.hint.length > 10, code);
  }
});

test('unknown errors map to WGF_ERR_INTERNAL without leaking their message', () => {
  const e = toFabricError(new Error('secret detail'));
  assert.equal(e.code, 'WGF_ERR_INTERNAL');
  assert.equal(e.status, 500);
  assert.doesNotMatch(JSON.stringify(e.toJSON()), /secret detail/);
});

test('error bodies round-trip through the wire form', () => {
  const e = new FabricError('WGF_ERR_CONFLICT', 'revision moved', { expected: 3, actual: 5 });
  const back = fromErrorBody(JSON.parse(JSON.stringify(e.toJSON())), 409);
  assert.equal(back.code, 'WGF_ERR_CONFLICT');
  assert.deepEqual(back.details, { expected: 3, actual: 5 });
  assert.equal(fromErrorBody({ nonsense: true }, 401).code, 'WGF_ERR_UNAUTHORIZED');
  assert.equal(fromErrorBody('x', 502).code, 'WGF_ERR_UNAVAILABLE');
});
