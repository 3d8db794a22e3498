import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pubkey } from '../control/testing/fixtures.js';
import type { PeerBatchResult } from '../protocol/api.js';
import type { PoolSnapshot } from '../protocol/types.js';
import { harness, type Harness } from './testing/harness.js';

/** POST /v1/pools/{pool}/peers/batch over HTTP: size limits, the error body, the snapshot after. */
describe('peer batch over HTTP', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(() => h.close());
  const post = (token: string, payload: unknown) =>
    h.app.inject({ method: 'POST', url: '/v1/pools/p1/peers/batch', headers: h.bearer(token), payload: payload as object });

  test('1,000 creations in one request (a body above the single-request limit): 200, one revision, in the snapshot', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({ op: 'create', peer: { name: `h${i}`, publicKey: pubkey(), labels: { batch: 'one', n: String(i) } } }));
    const res = await post(h.tokens.operator, { items });
    assert.equal(res.statusCode, 200, res.body.slice(0, 300));
    const body = res.json<PeerBatchResult>();
    assert.equal(body.results.length, 1000);
    const snap = (await h.app.inject({ method: 'GET', url: '/v1/pools/p1/snapshot', headers: h.bearer(h.tokens.node) })).json<PoolSnapshot>();
    assert.equal(snap.peers.filter((p) => p.revision === body.revision).length, 1000);
  });

  test('a failing item: 422 WGF_ERR_BATCH_REJECTED with each failing index and code; nothing applied', async () => {
    const before = (await h.cp.listPeers('p1', { limit: 1000, prefix: 'e' })).items.length;
    const res = await post(h.tokens.operator, { items: [{ op: 'create', peer: { name: 'e1', publicKey: pubkey() } }, { op: 'create', peer: { name: 'e2', publicKey: 'short' } }] });
    assert.equal(res.statusCode, 422);
    const err = res.json<{ error: { code: string; details: { failed: { index: number; code: string }[] } } }>().error;
    assert.equal(err.code, 'WGF_ERR_BATCH_REJECTED');
    assert.deepEqual(err.details.failed.map((f) => [f.index, f.code]), [[1, 'WGF_ERR_VALIDATION']]);
    assert.equal((await h.cp.listPeers('p1', { limit: 1000, prefix: 'e' })).items.length, before);
  });

  test('more than 1,000 items or an unknown op: 400 WGF_ERR_VALIDATION; a read-only token: 403', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => ({ op: 'delete', name: `x${i}` }));
    assert.equal((await post(h.tokens.operator, { items: many })).json<{ error: { code: string } }>().error.code, 'WGF_ERR_VALIDATION');
    assert.equal((await post(h.tokens.operator, { items: [{ op: 'rename', name: 'a' }] })).statusCode, 400);
    assert.equal((await post(h.tokens.readOnly, { items: [{ op: 'delete', name: 'a' }] })).statusCode, 403);
  });
});
