import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failoverProblems, failoverSummary, ownersOf, pickVictim, secs, splitClients, type FailoverResult } from './failover-core.js';

const hs = new Map([
  ['backend-1', new Map([['K1', 100], ['K2', 0]])],
  ['backend-2', new Map([['K1', 90], ['K2', 105], ['K3', 101]])],
  ['backend-3', new Map([['K3', 100]])],
]);
const keys = new Map([['client-1', 'K1'], ['client-2', 'K2'], ['client-3', 'K3'], ['client-4', 'K4']]);

test('each client belongs to the backend with its most recent handshake; never-handshaked (0) or unknown is none', () => {
  assert.deepEqual([...ownersOf(hs, keys)], [['client-1', 'backend-1'], ['client-2', 'backend-2'], ['client-3', 'backend-2'], ['client-4', null]]);
});

test('the victim is the backend serving the most clients (first on a tie); none when no client is served', () => {
  const own = ownersOf(hs, keys);
  assert.equal(pickVictim(['backend-1', 'backend-2', 'backend-3'], own), 'backend-2');
  assert.equal(pickVictim(['backend-1', 'backend-3'], own), 'backend-1');
  assert.equal(pickVictim(['backend-3'], own), null);
  assert.deepEqual(splitClients(['client-1', 'client-2', 'client-3', 'client-4'], own, 'backend-2'), { affected: ['client-2', 'client-3'], others: ['client-1', 'client-4'] });
});

const good: FailoverResult = {
  killed: 'backend-3', limitMs: 120_000,
  lbOut: [{ instance: 'lab1-1', ms: 1450, reason: 'probe failed' }, { instance: 'lab1-2', ms: 1380, reason: 'probe failed' }],
  clients: [{ client: 'client-4', ms: 16_750, nowOn: 'backend-1' }, { client: 'client-5', ms: 17_520, nowOn: 'backend-2' }],
  others: [{ client: 'client-1', sent: 100, received: 100 }, { client: 'client-2', sent: 100, received: 98 }],
  backMs: 3100,
};

test('a complete failover has no problems and its summary gives every time', () => {
  assert.deepEqual(failoverProblems(good), []);
  const s = failoverSummary(good).join('\n');
  assert.match(s, /^failover OK: killed backend-3$/m);
  assert.match(s, /lab1-1 \+1\.4s, lab1-2 \+1\.4s/);
  assert.match(s, /client-4 \+16\.8s on backend-1, client-5 \+17\.5s on backend-2 \(slowest \+17\.5s\)/);
  assert.match(s, /198\/200 pings answered/);
  assert.match(s, /3\.1s after its restart/);
  assert.equal(secs(null), 'not within the limit');
});

test('every missing step is a problem, named: an LB that kept it, a client not back or back on the dead one, others cut off, no return', () => {
  const bad: FailoverResult = {
    ...good,
    lbOut: [good.lbOut[0]!, { instance: 'lab1-2', ms: null, reason: null }],
    clients: [{ client: 'client-4', ms: null, nowOn: null }, { client: 'client-5', ms: 900, nowOn: 'backend-3' }],
    others: [{ client: 'client-1', sent: 100, received: 0 }],
    backMs: null,
  };
  const p = failoverProblems(bad);
  assert.deepEqual(p, [
    'LB lab1-2 did not take backend-3 out of its table within 120s',
    'client-4 did not get through again within 120s',
    'client-5 answered again but still on the killed backend-3',
    'client-1 (not on backend-3) got no answer at all during the failover',
    'backend-3 was not back in every LB table within 120s of its restart',
  ]);
  assert.match(failoverSummary(bad).join('\n'), /^failover FAILED: killed backend-3$/m);
  assert.deepEqual(failoverProblems({ ...good, clients: [] }), ['backend-3 served no client: nothing was failed over']);
});
