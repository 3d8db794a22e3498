import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry } from './sessions.js';
import { endpointAddress } from '../protocol/sessions.js';
import type { SessionEntry, SessionReportInput } from '../protocol/sessions.js';

const K1 = 'A'.repeat(43) + '=';
const K2 = 'B'.repeat(43) + '=';
const T0 = 1_800_000_000; // unix seconds
const ms = (s: number) => s * 1000;
const e = (publicKey: string, lastHandshake: number | null, endpoint: string | null, rx = 0, tx = 0): SessionEntry => ({ publicKey, lastHandshake, rxBytes: rx, txBytes: tx, endpoint });
const rep = (seq: number, peers: SessionEntry[], o: Partial<SessionReportInput> = {}): SessionReportInput => ({ epoch: 'epoch-aaaa', seq, reset: seq === 1, peers, removed: [], ...o });

describe('SessionRegistry', () => {
  test('a peer\'s session is the node with the most recent handshake', () => {
    const r = new SessionRegistry();
    r.apply('p', 'n1', rep(1, [e(K1, T0 - 100, '198.18.0.5:4000', 10, 20)]), ms(T0));
    r.apply('p', 'n2', rep(1, [e(K1, T0 - 10, '198.18.0.5:4000', 1, 2)]), ms(T0));
    const s = r.session('p', K1, ms(T0))!;
    assert.equal(s.node, 'n2');
    assert.equal(s.handshakeAgeSeconds, 10);
    assert.equal(s.connected, true);
    assert.deepEqual([s.rxBytes, s.txBytes, s.endpoint], [1, 2, '198.18.0.5:4000']);
    assert.equal(s.endpointChanges, 0, 'the same client address on another node is no endpoint change');
    // n1 re-handshakes later: the session moves back
    r.apply('p', 'n1', rep(2, [e(K1, T0 + 5, '198.18.0.5:4000', 11, 21)]), ms(T0 + 5));
    assert.equal(r.session('p', K1, ms(T0 + 5))!.node, 'n1');
    assert.equal(r.session('p', K2, ms(T0)), null);
  });

  test('connected only within 180 s of the last handshake; a peer without handshake is not connected', () => {
    const r = new SessionRegistry();
    r.apply('p', 'n1', rep(1, [e(K1, T0, '198.18.0.5:4000'), e(K2, null, null)]), ms(T0));
    assert.equal(r.connected('p', K1, ms(T0 + 179)), true);
    assert.equal(r.connected('p', K1, ms(T0 + 180)), false);
    assert.equal(r.connected('p', K2, ms(T0)), false);
    assert.equal(r.session('p', K2, ms(T0))!.lastHandshakeAt, null);
  });

  test('deltas chain on seq; a gap, another epoch or no table answers resync and changes nothing', () => {
    const r = new SessionRegistry();
    assert.deepEqual(r.apply('p', 'n1', rep(2, [e(K1, T0, null)]), ms(T0)), { accepted: false, resync: true, peers: 0 });
    assert.deepEqual(r.apply('p', 'n1', rep(1, [e(K1, T0, null)]), ms(T0)), { accepted: true, resync: false, peers: 1 });
    assert.deepEqual(r.apply('p', 'n1', rep(1, [e(K1, T0, null)]), ms(T0)), { accepted: true, resync: false, peers: 1 }, 'a repeat is harmless');
    assert.equal(r.apply('p', 'n1', rep(3, [e(K2, T0, null)]), ms(T0)).resync, true, 'gap');
    assert.equal(r.apply('p', 'n1', rep(2, [e(K2, T0, null)], { epoch: 'epoch-bbbb' }), ms(T0)).resync, true, 'other epoch');
    assert.equal(r.session('p', K2, ms(T0)), null);
    assert.deepEqual(r.apply('p', 'n1', rep(2, [e(K2, T0, null)], { removed: [K1] }), ms(T0)), { accepted: true, resync: false, peers: 1 });
    assert.equal(r.session('p', K1, ms(T0)), null, 'removed');
    // a new chain (agent restart) replaces the table
    r.apply('p', 'n1', rep(1, [e(K1, T0, null)], { epoch: 'epoch-cccc' }), ms(T0));
    assert.equal(r.session('p', K2, ms(T0)), null);
    assert.ok(r.session('p', K1, ms(T0)));
    assert.equal(r.reportsResync, 3);
  });

  test('endpoint address changes are counted per peer and in total; port-only changes are not', () => {
    const r = new SessionRegistry();
    r.apply('p', 'n1', rep(1, [e(K1, T0, '198.18.0.5:4000')]), ms(T0));
    r.apply('p', 'n1', rep(2, [e(K1, T0 + 1, '198.18.0.5:4001')]), ms(T0));
    assert.equal(r.session('p', K1, ms(T0))!.endpointChanges, 0);
    r.apply('p', 'n1', rep(3, [e(K1, T0 + 2, '203.0.113.9:4001')]), ms(T0));
    r.apply('p', 'n2', rep(1, [e(K1, T0 + 3, '198.18.0.5:4000')]), ms(T0)); // the leaked config elsewhere
    r.apply('p', 'n2', rep(2, [e(K1, T0 + 3, '[2001:db8::1]:4000')]), ms(T0));
    assert.equal(r.session('p', K1, ms(T0))!.endpointChanges, 3);
    assert.equal(r.endpointChangesTotal, 3);
    assert.equal(r.summary(ms(T0)).endpointChanges, 3);
    // a reset chain keeps the count (the table refills from the next reports)
    r.apply('p', 'n2', rep(1, [], { epoch: 'epoch-dddd' }), ms(T0));
    r.apply('p', 'n1', rep(1, [], { epoch: 'epoch-eeee' }), ms(T0));
    r.apply('p', 'n1', rep(2, [e(K1, T0 + 4, '[2001:db8::1]:4000')], { epoch: 'epoch-eeee' }), ms(T0));
    assert.equal(r.session('p', K1, ms(T0))!.endpointChanges, 3);
  });

  test('summary: connected per node (the node holding the session) and traffic per node', () => {
    const r = new SessionRegistry();
    r.apply('p', 'n1', rep(1, [e(K1, T0 - 500, 'x:1', 100, 200), e(K2, T0 - 1, 'y:1', 5, 6)]), ms(T0));
    r.apply('p', 'n2', rep(1, [e(K1, T0 - 2, 'x:1', 7, 8)]), ms(T0));
    r.apply('q', 'm1', rep(1, [e(K1, T0 - 1000, 'x:1')]), ms(T0));
    const s = r.summary(ms(T0));
    assert.equal(s.connected, 2);
    assert.deepEqual(s.pools.map((p) => [p.pool, p.connected]), [['p', 2], ['q', 0]]);
    assert.deepEqual(s.pools[0]!.nodes.map((n) => [n.node, n.connected, n.entries, n.rxBytes, n.txBytes]), [['n1', 1, 2, 105, 206], ['n2', 1, 1, 7, 8]]);
    assert.deepEqual(r.summary(ms(T0), 'q').pools.map((p) => p.pool), ['q']);
    assert.deepEqual(r.size(), { entries: 4, peers: 3, nodes: 3 });
  });

  test('expire drops tables of nodes that stopped reporting', () => {
    const r = new SessionRegistry();
    r.apply('p', 'n1', rep(1, [e(K1, T0 - 10, 'x:1')]), ms(T0 - 3600));
    r.apply('p', 'n2', rep(1, [e(K1, T0 - 100, 'x:1')]), ms(T0));
    r.expire(ms(T0), 1_800_000);
    assert.equal(r.session('p', K1, ms(T0))!.node, 'n2');
    r.expire(ms(T0 + 3600), 1_800_000);
    assert.equal(r.session('p', K1, ms(T0)), null);
    assert.deepEqual(r.size(), { entries: 0, peers: 0, nodes: 0 });
  });

  test('endpointAddress', () => {
    assert.equal(endpointAddress('198.18.0.5:4000'), '198.18.0.5');
    assert.equal(endpointAddress('[2001:db8::1]:51820'), '2001:db8::1');
  });
});
