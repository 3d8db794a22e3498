import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pubkey } from '../control/testing/fixtures.js';
import type { SessionReportInput, SessionSummary } from '../protocol/sessions.js';
import type { Page, Peer } from '../protocol/types.js';
import { harness, type Harness } from './testing/harness.js';

/**
 * Session reports through the API: who may report, what GET peer, the peer list's connected
 * filter and the summary show, bad reports refused whole, and none of it written to the store.
 */
describe('per-peer sessions through the API', () => {
  let h: Harness;
  const alice = pubkey();
  const bob = pubkey();
  const nowS = () => Math.floor(Date.now() / 1000);
  before(async () => {
    h = await harness();
    const sys = { actor: 'fixture' };
    await h.cp.createPeer('p1', { name: 'alice', publicKey: alice }, sys);
    await h.cp.createPeer('p1', { name: 'bob', publicKey: bob }, sys);
  });
  after(() => h.close());
  const req = (token: string, method: string, url: string, payload?: unknown) =>
    h.app.inject({ method: method as 'GET', url, headers: h.bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });
  const report = (o: Partial<SessionReportInput> = {}): SessionReportInput => ({ epoch: 'agent-n1-0001', seq: 1, reset: true, peers: [], removed: [], ...o });

  test('a node reports its own sessions; no store revision, no audit entry', async () => {
    const rev = await h.cp.currentRevision();
    const audit = (await req(h.tokens.admin, 'GET', '/v1/audit')).json<Page<unknown>>().items.length;
    const res = await req(h.tokens.node, 'PUT', '/v1/pools/p1/nodes/n1/sessions', report({
      peers: [{ publicKey: alice, lastHandshake: nowS() - 30, rxBytes: 1000, txBytes: 2000, endpoint: '198.18.7.2:40000' }, { publicKey: bob, lastHandshake: nowS() - 900, rxBytes: 1, txBytes: 2, endpoint: '198.18.7.3:40000' }],
    }));
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { accepted: true, resync: false, peers: 2 });
    assert.equal(await h.cp.currentRevision(), rev, 'runtime state never touches the revisioned store');
    assert.equal((await req(h.tokens.admin, 'GET', '/v1/audit')).json<Page<unknown>>().items.length, audit, 'nor the audit log');
  });

  test('GET peer carries the session; a peer without reports has session null', async () => {
    const p = (await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers/alice')).json<Peer>();
    assert.equal(p.session?.node, 'n1');
    assert.equal(p.session?.connected, true);
    assert.equal(p.session?.endpoint, '198.18.7.2:40000');
    assert.equal(p.session?.rxBytes, 1000);
    assert.ok(p.session!.handshakeAgeSeconds! >= 30 && p.session!.handshakeAgeSeconds! < 60);
    await h.cp.createPeer('p1', { name: 'carol', publicKey: pubkey() }, { actor: 'fixture' });
    assert.equal((await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers/carol')).json<Peer>().session, null);
  });

  test('peer list: sessions on every item, connected=true|false filters', async () => {
    const names = async (q: string) => (await req(h.tokens.readOnly, 'GET', `/v1/pools/p1/peers${q}`)).json<Page<Peer>>().items.map((p) => p.name);
    assert.deepEqual(await names('?connected=true'), ['alice']);
    assert.deepEqual(await names('?connected=false'), ['bob', 'carol']);
    const all = (await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers')).json<Page<Peer>>();
    assert.deepEqual(all.items.map((p) => p.session?.node ?? null), ['n1', 'n1', null]);
    assert.equal((await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers?connected=yes')).statusCode, 400);
  });

  test('the node with the newest handshake holds the session; summary per node', async () => {
    const r = await req(h.tokens.node2, 'PUT', '/v1/pools/p1/nodes/n2/sessions', report({
      epoch: 'agent-n2-0001', peers: [{ publicKey: alice, lastHandshake: nowS() - 2, rxBytes: 5, txBytes: 6, endpoint: '198.18.7.2:40000' }],
    }));
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers/alice')).json<Peer>().session?.node, 'n2');
    const s = (await req(h.tokens.readOnly, 'GET', '/v1/sessions/summary')).json<SessionSummary>();
    assert.equal(s.connected, 1);
    assert.deepEqual(s.pools[0]!.nodes.map((n) => [n.node, n.connected, n.entries]), [['n1', 0, 2], ['n2', 1, 1]]);
    assert.equal((await req(h.tokens.readOnly, 'GET', '/v1/sessions/summary?pool=p2')).json<SessionSummary>().pools.length, 0);
  });

  test('a delta out of chain answers resync', async () => {
    const r = await req(h.tokens.node, 'PUT', '/v1/pools/p1/nodes/n1/sessions', report({ seq: 5, reset: false }));
    assert.deepEqual(r.json(), { accepted: false, resync: true, peers: 2 });
  });

  test('who may report: the node itself or admin; never another node, an operator or a read-only token', async () => {
    assert.equal((await req(h.tokens.node2, 'PUT', '/v1/pools/p1/nodes/n1/sessions', report())).statusCode, 403);
    assert.equal((await req(h.tokens.operator, 'PUT', '/v1/pools/p1/nodes/n1/sessions', report())).statusCode, 403);
    assert.equal((await req(h.tokens.readOnly, 'PUT', '/v1/pools/p1/nodes/n1/sessions', report())).statusCode, 403);
    assert.equal((await req(h.tokens.node, 'GET', '/v1/sessions/summary')).statusCode, 403);
    assert.equal((await req(h.tokens.admin, 'PUT', '/v1/pools/p1/nodes/nope/sessions', report())).json<{ error: { code: string } }>().error.code, 'WGF_ERR_NOT_FOUND');
  });

  test('bad reports are refused whole with WGF_ERR_VALIDATION', async () => {
    const before = (await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers/alice')).json<Peer>().session;
    const entry = { publicKey: alice, lastHandshake: nowS(), rxBytes: 1, txBytes: 1, endpoint: '198.18.9.9:1' };
    const cases: [string, unknown][] = [
      ['repeated key', report({ seq: 2, reset: false, peers: [entry, entry] })],
      ['changed and removed', report({ seq: 2, reset: false, peers: [entry], removed: [alice] })],
      ['not a key', report({ seq: 2, reset: false, peers: [{ ...entry, publicKey: 'x'.repeat(44) }] })],
      ['negative bytes', report({ seq: 2, reset: false, peers: [{ ...entry, rxBytes: -1 }] })],
      ['unknown field', { ...report(), extra: 1 }],
      ['bad epoch', report({ epoch: 'a b' })],
      ['too many', report({ peers: Array.from({ length: 4001 }, () => ({ ...entry, publicKey: pubkey() })) })],
    ];
    for (const [name, body] of cases) {
      const r = await req(h.tokens.node, 'PUT', '/v1/pools/p1/nodes/n1/sessions', body);
      assert.equal(r.statusCode, 400, `${name}: ${r.body}`);
      assert.equal(r.json<{ error: { code: string } }>().error.code, 'WGF_ERR_VALIDATION', name);
    }
    assert.deepEqual((await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers/alice')).json<Peer>().session?.endpoint, before?.endpoint);
  });

  test('metrics: the aggregate endpoint-change counter and connected sessions per node, no per-peer series', async () => {
    await req(h.tokens.node2, 'PUT', '/v1/pools/p1/nodes/n2/sessions', report({
      epoch: 'agent-n2-0001', seq: 2, reset: false, peers: [{ publicKey: alice, lastHandshake: nowS(), rxBytes: 9, txBytes: 9, endpoint: '203.0.113.4:5000' }],
    }));
    assert.equal((await req(h.tokens.readOnly, 'GET', '/v1/pools/p1/peers/alice')).json<Peer>().session?.endpointChanges, 1);
    const text = (await req(h.tokens.readOnly, 'GET', '/metrics')).body;
    assert.match(text, /^wgfabric_peer_endpoint_changes_total 1$/m);
    assert.match(text, /^wgfabric_sessions_connected\{pool="p1",node="n2"\} 1$/m);
    assert.ok(!text.includes(alice), 'no series names a peer');
  });
});
