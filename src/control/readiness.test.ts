import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadinessTracker } from './readiness.js';

const P = 'status/p/';
const at = (ms: number) => new Date(ms).toISOString();
const put = (node: string, ready: boolean, reportedMs: number, revision = 1) =>
  ({ type: 'put' as const, key: P + node, revision, value: JSON.stringify({ ready, reportedAt: at(reportedMs) }) });

test('ReadinessTracker: full state, flips only, ageing on the clock, renewed reports, deletions, unparsable reports', () => {
  let now = 1_000_000;
  const t = new ReadinessTracker(P, 5000, () => now);
  t.load([{ key: P + 'a', value: JSON.stringify({ ready: true, reportedAt: at(now - 1000) }), createRevision: 1, modRevision: 1 },
    { key: P + 'b', value: 'not json', createRevision: 1, modRevision: 1 }]);
  assert.deepEqual(t.next(true), { full: true, nodes: { a: true, b: false } });
  assert.equal(t.nextExpiry(), now - 1000 + 5001);
  assert.equal(t.next(), null, 'nothing flipped');
  t.apply([put('a', true, now)]); // renewed: a later expiry
  assert.equal(t.next(), null);
  now += 4500; // the first report would have aged out by now, the renewed one not
  assert.equal(t.next(), null);
  now += 600;
  assert.deepEqual(t.next(), { full: false, nodes: { a: false } }, 'aged out with no new report');
  assert.equal(t.nextExpiry(), null);
  t.apply([put('b', true, now), put('c', false, now)]);
  assert.deepEqual(t.next(), { full: false, nodes: { b: true, c: false } }, 'a node reporting for the first time is told, even as not ready');
  t.apply([{ type: 'delete', key: P + 'b', revision: 3 }]);
  assert.deepEqual(t.next(), { full: false, nodes: { b: false } });
  assert.deepEqual(t.next(true), { full: true, nodes: { a: false, c: false } });
});
