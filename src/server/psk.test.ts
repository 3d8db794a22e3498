import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { pubkey } from '../control/testing/fixtures.js';
import * as K from '../control/keys.js';
import type { Peer, PoolSnapshot } from '../protocol/types.js';
import { harness, type Harness } from './testing/harness.js';

/**
 * Preshared keys through the API: accepted on create and update (null removes), stored
 * sealed, answered only to the pool's node tokens (snapshot, changes) and to the request that
 * set them; never in a list, a show, an audit entry or another role's snapshot.
 */
describe('preshared keys through the API', () => {
  let h: Harness;
  const psk = randomBytes(32).toString('base64');
  const psk2 = randomBytes(32).toString('base64');
  before(async () => {
    h = await harness();
  });
  after(() => h.close());
  const req = (token: string, method: string, url: string, payload?: unknown) =>
    h.app.inject({ method: method as 'GET', url, headers: h.bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });

  test('create: stored sealed, echoed only to the creator, hidden from list, show and audit', async () => {
    const res = await req(h.tokens.admin, 'POST', '/v1/pools/p1/peers', { name: 'psk1', publicKey: pubkey(), presharedKey: psk });
    assert.equal(res.statusCode, 201, res.body);
    const created = res.json<Peer>();
    assert.equal(created.presharedKey, psk, 'the holder that set it gets it back once');
    assert.equal(created.hasPresharedKey, true);
    const raw = (await h.store.get(K.peerKey('p1', 'psk1')))!.value;
    assert.ok(!raw.includes(psk) && !raw.includes(Buffer.from(psk, 'base64').toString('hex')), 'sealed at rest');
    for (const token of [h.tokens.admin, h.tokens.operator, h.tokens.readOnly]) {
      for (const url of ['/v1/pools/p1/peers/psk1', '/v1/pools/p1/peers', '/v1/pools/p1/snapshot', '/v1/pools/p1/changes?since=0', '/v1/audit']) {
        const r = await req(token, 'GET', url);
        assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
        assert.ok(!r.body.includes(psk), `${url} must not carry the preshared key`);
      }
    }
    const shown = (await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers/psk1')).json<Peer>();
    assert.equal(shown.hasPresharedKey, true);
    assert.equal(shown.presharedKey, undefined);
  });

  test("the pool's node token reads it in the snapshot and the changes; another pool's peers stay without", async () => {
    const snap = (await req(h.tokens.node, 'GET', '/v1/pools/p1/snapshot')).json<PoolSnapshot>();
    assert.equal(snap.peers.find((p) => p.name === 'psk1')?.presharedKey, psk);
    const ch = (await req(h.tokens.node, 'GET', '/v1/pools/p1/changes?since=0')).json<{ changes: { type: string; peer?: Peer }[] }>();
    assert.equal(ch.changes.find((c) => c.peer?.name === 'psk1')?.peer?.presharedKey, psk);
    assert.equal((await req(h.tokens.node, 'GET', '/v1/pools/p2/snapshot')).statusCode, 403, 'a node token reads only its pool');
  });

  test('update rotates it (answered to the caller, streamed to nodes) and null removes it', async () => {
    const since = (await req(h.tokens.node, 'GET', '/v1/pools/p1/snapshot')).json<PoolSnapshot>().revision;
    const r = await req(h.tokens.operator, 'PATCH', '/v1/pools/p1/peers/psk1', { presharedKey: psk2 });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json<Peer>().presharedKey, psk2);
    const ch = (await req(h.tokens.node, 'GET', `/v1/pools/p1/changes?since=${since}`)).json<{ changes: { peer?: Peer }[] }>();
    assert.equal(ch.changes[0]?.peer?.presharedKey, psk2);
    const off = await req(h.tokens.operator, 'PATCH', '/v1/pools/p1/peers/psk1', { presharedKey: null });
    assert.equal(off.statusCode, 200, off.body);
    assert.equal(off.json<Peer>().hasPresharedKey, false);
    assert.equal(off.json<Peer>().presharedKey, undefined);
    const snap = (await req(h.tokens.node, 'GET', '/v1/pools/p1/snapshot')).json<PoolSnapshot>();
    assert.equal(snap.peers.find((p) => p.name === 'psk1')?.presharedKey, undefined);
  });

  test('bad preshared keys are refused with their codes', async () => {
    const bad = await req(h.tokens.admin, 'POST', '/v1/pools/p1/peers', { name: 'psk2', publicKey: pubkey(), presharedKey: '!'.repeat(44) });
    assert.equal(bad.json<{ error: { code: string } }>().error.code, 'WGF_ERR_INVALID_KEY');
    const zero = await req(h.tokens.admin, 'POST', '/v1/pools/p1/peers', { name: 'psk2', publicKey: pubkey(), presharedKey: Buffer.alloc(32).toString('base64') });
    assert.equal(zero.json<{ error: { code: string; message: string } }>().error.code, 'WGF_ERR_VALIDATION');
    assert.match(zero.json<{ error: { message: string } }>().error.message, /presharedKey is all zero/);
    assert.equal((await req(h.tokens.admin, 'GET', '/v1/pools/p1/peers/psk2')).statusCode, 404, 'nothing half-made');
  });
});
