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

test('a token with an expiry authenticates until then and is refused after; past expiries are refused at creation', async () => {
  const { ControlPlane } = await import('./plane.js');
  const { MemoryStore } = await import('../store/memory.js');
  const { SecretBox } = await import('./secrets.js');
  const { rejectsWith } = await import('./testing/fixtures.js');
  let now = Date.parse('2030-01-01T00:00:00Z');
  const cp = new ControlPlane({ store: new MemoryStore(), secrets: SecretBox.random(), clock: { now: () => new Date(now) } });
  const t = await cp.createToken({ name: 'ci', role: 'read-only', expiresAt: '2030-01-01T01:00:00Z' }, { actor: 'tester' });
  assert.equal(t.token.expiresAt, '2030-01-01T01:00:00.000Z');
  assert.equal((await cp.authenticate(t.secret))?.name, 'ci');
  now = Date.parse('2030-01-01T01:00:00Z');
  assert.equal(await cp.authenticate(t.secret), null, 'expired');
  assert.equal((await cp.listTokens()).items[0]?.expiresAt, '2030-01-01T01:00:00.000Z', 'still listed, with its expiry');
  await rejectsWith(cp.createToken({ name: 'late', role: 'operator', expiresAt: '2029-12-31T00:00:00Z' }, { actor: 'tester' }), 'WGF_ERR_VALIDATION');
  const forever = await cp.createToken({ name: 'forever', role: 'operator' }, { actor: 'tester' });
  assert.equal(forever.token.expiresAt, null);
});

test('a node token survives a store copy (revisions renumbered) and is still refused for a re-created node', async () => {
  const { ControlPlane } = await import('./plane.js');
  const { MemoryStore } = await import('../store/memory.js');
  const { SecretBox } = await import('./secrets.js');
  const { copyStore } = await import('../store/copy.js');
  const { fakeClock } = await import('./testing/fixtures.js');
  const secrets = SecretBox.random();
  const clock = fakeClock();
  const src = new MemoryStore();
  const a = new ControlPlane({ store: src, secrets, clock });
  await a.createPool({ name: 'p', ipv4Prefix: '10.1.0.0/24', endpoint: 'vpn.example.net:51820' }, { actor: 't' });
  for (let i = 0; i < 5; i++) await a.createToken({ name: `pad${i}`, role: 'read-only' }, { actor: 't' }); // shift revisions
  await a.createNode('p', { name: 'n', endpoint: '192.0.2.1:51820' }, { actor: 't' });
  const tok = await a.createToken({ name: 'n-node', role: 'node', pool: 'p', node: 'n' }, { actor: 't' });
  const dst = new MemoryStore();
  await dst.txn([], [{ type: 'put', key: 'zz/unrelated', value: '1' }]); // the target numbers revisions its own way
  await dst.txn([], [{ type: 'delete', key: 'zz/unrelated' }]);
  await copyStore(src, dst);
  const b = new ControlPlane({ store: dst, secrets, clock });
  assert.equal((await b.authenticate(tok.secret))?.node, 'n', 'the copied node token still authenticates');
  await b.deleteNode('p', 'n', { actor: 't' });
  await b.createNode('p', { name: 'n', endpoint: '192.0.2.1:51820' }, { actor: 't' });
  assert.equal(await b.authenticate(tok.secret), null, 'refused for the re-created node');
});
