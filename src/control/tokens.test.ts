import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashSecret, newToken, parseToken } from './tokens.js';

test('token text: wgf_<16 hex>_<43 base64url>, 256-bit secret, parsed back exactly', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const t = newToken();
    assert.match(t.text, /^wgf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(t.secret, 'base64url').length, 32);
    assert.deepEqual(parseToken(t.text), { id: t.id, secret: t.secret });
    seen.add(t.secret);
  }
  assert.equal(seen.size, 100);
  for (const bad of ['', 'wgf_', 'wgf_0123456789abcdef_short', `WGF_0123456789abcdef_${'A'.repeat(43)}`, `wgf_0123456789abcdeg_${'A'.repeat(43)}`, `wgf_0123456789abcdef_${'A'.repeat(43)} `]) {
    assert.equal(parseToken(bad), null, bad);
  }
});

test('the stored hash binds id and secret and is not the secret', () => {
  const t = newToken();
  const h = hashSecret(t.id, t.secret);
  assert.match(h, /^[0-9a-f]{64}$/);
  assert.notEqual(h, hashSecret('0000000000000000', t.secret));
  assert.ok(!h.includes(t.secret));
});
