import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SseParser, type SseEvent } from '../client/sse.js';
import { pubkey } from '../control/testing/fixtures.js';
import { endsAfter } from './revocation.js';
import { harness, type Harness } from './testing/harness.js';

/** An open SSE stream and every event it delivered until it ended. */
interface Stream { events: SseEvent[]; ended: Promise<void>; heartbeat: Promise<void> }

describe('revocation reaches open watch streams', () => {
  let h: Harness;
  let base: string;
  beforeEach(async () => {
    h = await harness({ heartbeatMs: 30 });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });
  afterEach(() => h.close());

  const open = async (pool: string, token: string): Promise<Stream> => {
    const since = await h.cp.currentRevision();
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${base}/v1/pools/${pool}/watch?since=${since}`, { headers: { authorization: `Bearer ${token}` } }, resolve);
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.statusCode, 200);
    const parser = new SseParser();
    const events: SseEvent[] = [];
    let beat!: () => void;
    const heartbeat = new Promise<void>((r) => (beat = r));
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      for (const e of parser.push(chunk)) {
        events.push(e);
        if (e.event === 'heartbeat') beat();
      }
    });
    const ended = new Promise<void>((r) => res.on('end', () => r()));
    return { events, ended, heartbeat };
  };
  const idOf = async (text: string) => (await h.cp.authenticate(text))!.id;
  const del = (url: string) => h.app.inject({ method: 'DELETE', url, headers: h.bearer(h.tokens.admin) });
  const errorCode = (s: Stream) => {
    const err = s.events.filter((e) => e.event === 'error');
    assert.equal(err.length, 1, 'the stream ends with one error event');
    assert.equal(s.events.at(-1)!.event, 'error', 'nothing after the error event');
    return JSON.parse(err[0]!.data).error.code as string;
  };

  test('a read-only token deleted through this server: its stream ends before the DELETE is answered', async () => {
    const s = await open('p1', h.tokens.readOnly);
    await s.heartbeat;
    assert.equal((await del(`/v1/tokens/${await idOf(h.tokens.readOnly)}`)).statusCode, 204);
    await h.cp.createPeer('p1', { name: 'after-ro', publicKey: pubkey() }, { actor: 't' });
    await s.ended;
    assert.equal(errorCode(s), 'WGF_ERR_UNAUTHORIZED');
    assert.ok(!s.events.some((e) => e.event === 'change'), 'no change after the deletion');
  });

  test('a node token deleted through this server: its stream ends, the next change is not delivered', async () => {
    const s = await open('p1', h.tokens.node);
    await s.heartbeat;
    await del(`/v1/tokens/${await idOf(h.tokens.node)}`);
    await h.cp.createPeer('p1', { name: 'after-node', publicKey: pubkey() }, { actor: 't' });
    await s.ended;
    assert.equal(errorCode(s), 'WGF_ERR_UNAUTHORIZED');
    assert.ok(!s.events.some((e) => e.event === 'change'));
  });

  test('node rm: the node token stream delivers the node delete, then ends; a later peer change is not delivered', async () => {
    const s = await open('p1', h.tokens.node);
    const other = await open('p1', h.tokens.node2);
    await s.heartbeat;
    assert.equal((await del('/v1/pools/p1/nodes/n1')).statusCode, 204);
    await h.cp.createPeer('p1', { name: 'after-rm', publicKey: pubkey() }, { actor: 't' });
    await s.ended;
    assert.equal(errorCode(s), 'WGF_ERR_UNAUTHORIZED');
    assert.deepEqual(s.events.filter((e) => e.event === 'change').map((e) => JSON.parse(e.data).type), ['node.delete']);
    // The other node's stream goes on and sees the new peer.
    for (let i = 0; i < 200 && !other.events.some((e) => e.event === 'change' && e.data.includes('after-rm')); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(other.events.some((e) => e.event === 'change' && e.data.includes('after-rm')));
  });

  test('a token deleted elsewhere (another replica, straight in the store): the stream ends at the next heartbeat', async () => {
    const s = await open('p1', h.tokens.readOnly);
    await s.heartbeat;
    await h.cp.deleteToken(await idOf(h.tokens.readOnly), { actor: 'replica-2' });
    await s.ended;
    assert.equal(errorCode(s), 'WGF_ERR_UNAUTHORIZED');
  });

  test('a forced pool delete ends every stream of the pool after its deletion event', async () => {
    await h.cp.createPeer('p1', { name: 'x1', publicKey: pubkey() }, { actor: 't' });
    const ro = await open('p1', h.tokens.readOnly);
    const node = await open('p1', h.tokens.node);
    await Promise.all([ro.heartbeat, node.heartbeat]);
    assert.equal((await h.app.inject({ method: 'DELETE', url: '/v1/pools/p1?force=true', headers: h.bearer(h.tokens.admin) })).statusCode, 204);
    await Promise.all([ro.ended, node.ended]);
    for (const s of [ro, node]) {
      assert.equal(errorCode(s), 'WGF_ERR_NOT_FOUND');
      const types = s.events.filter((e) => e.event === 'change').map((e) => JSON.parse(e.data).type);
      assert.ok(types.includes('pool.delete') && types.includes('peer.delete'), types.join());
    }
  });
});

test('endsAfter: pool deletes end any stream; a node delete ends only that node\'s token stream', () => {
  const node = { role: 'node' as const, pool: 'p1', node: 'n1' };
  const ro = { role: 'read-only' as const, pool: null, node: null };
  assert.equal(endsAfter([{ type: 'pool.delete', revision: 3, name: 'p1' }], ro, 'p1')?.error.code, 'WGF_ERR_NOT_FOUND');
  assert.equal(endsAfter([{ type: 'node.delete', revision: 3, name: 'n1' }], node, 'p1')?.error.code, 'WGF_ERR_UNAUTHORIZED');
  const both = endsAfter([{ type: 'node.delete', revision: 3, name: 'n1' }, { type: 'pool.delete', revision: 3, name: 'p1' }, { type: 'pool.put', revision: 4, pool: {} as never }], node, 'p1');
  assert.deepEqual([both?.revision, both?.error.code], [3, 'WGF_ERR_NOT_FOUND']);
  assert.equal(endsAfter([{ type: 'node.delete', revision: 3, name: 'n2' }], node, 'p1'), null);
  assert.equal(endsAfter([{ type: 'node.delete', revision: 3, name: 'n1' }], ro, 'p1'), null);
});
