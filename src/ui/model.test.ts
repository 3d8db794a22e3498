import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LbReport } from '../protocol/types.js';
import { abilities, age, auditAfterIdFor, flowsOn, lbCells, localToIso, nodeActions, slotsOn } from './model.js';

test('abilities: only operator and admin get buttons that change things', () => {
  assert.deepEqual(abilities('read-only'), { operate: false, admin: false });
  assert.deepEqual(abilities('operator'), { operate: true, admin: false });
  assert.deepEqual(abilities('admin'), { operate: true, admin: true });
  assert.deepEqual(abilities('node'), { operate: false, admin: false });
});

test('age: seconds, minutes, hours, days; "-" for none', () => {
  const now = Date.parse('2030-01-01T12:00:00Z');
  for (const [iso, want] of [['2030-01-01T11:59:18Z', '42s'], ['2030-01-01T11:55:00Z', '5m'], ['2030-01-01T09:00:00Z', '3h'], ['2029-12-29T12:00:00Z', '3d'], [null, '-']] as const) {
    assert.equal(age(iso, now), want, String(iso));
  }
});

test('auditAfterIdFor: sorts after every id of earlier milliseconds and before every id of that one on', () => {
  const t = Date.parse('2030-01-01T12:00:00.500Z');
  const id = (ms: number, seq: number, rnd: string) => `${String(ms).padStart(13, '0')}-${String(seq).padStart(6, '0')}-${rnd}`;
  const after = auditAfterIdFor(t);
  assert.match(after, /^[0-9a-f-]{1,64}$/, 'fits the API pattern of afterId');
  assert.ok(id(t - 1, 999_999, 'ffffff') <= after);
  assert.ok(id(t - 1, 1, '000000') < after);
  assert.ok(id(t, 1, '000000') > after);
  assert.ok(id(t + 60_000, 1, '000000') > after);
});

const report = (over: Partial<LbReport> = {}): LbReport => ({
  pool: 'p', instance: 'lb-a', vip: '198.18.0.1', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 1, lastError: null, failOpen: false,
  backends: [{ name: 'n1', state: 'up', reason: 'healthy', inTable: true, slots: 200 }, { name: 'n2', state: 'down', reason: 'probe failed', inTable: false, slots: 0 }],
  reportedAt: '2030-01-01T12:00:00Z', revision: 5, ...over,
});

test('lbCells: in with slots, out with the state, stale and unknown backends told apart', () => {
  const now = Date.parse('2030-01-01T12:00:05Z');
  assert.deepEqual(lbCells('n1', [report()], now), [{ instance: 'lb-a', text: 'in, 200 slots', tone: 'ok', title: 'healthy' }]);
  assert.deepEqual(lbCells('n2', [report()], now), [{ instance: 'lb-a', text: 'out: down', tone: 'bad', title: 'probe failed' }]);
  assert.equal(lbCells('n9', [report()], now)[0]!.text, 'not a backend');
  const drained = report({ backends: [{ name: 'n1', state: 'up', reason: 'draining: no new flows', inTable: false, slots: 0 }] });
  assert.equal(lbCells('n1', [drained], now)[0]!.text, 'out: draining: no new flows', 'up but out: the reason says why');
  const stale = lbCells('n1', [report()], now + 60_000)[0]!;
  assert.equal(stale.tone, 'warn');
  assert.match(stale.text, /stale 65s/);
});

test('slotsOn sums the slots a node still owns across instances', () => {
  assert.equal(slotsOn('n1', [report(), report({ instance: 'lb-b' })]), 400);
  assert.equal(slotsOn('n2', [report()]), 0);
});

test('nodeActions follow the admin state', () => {
  assert.deepEqual(nodeActions({ adminState: 'active' }).map((a) => a.to), ['draining', 'disabled']);
  assert.deepEqual(nodeActions({ adminState: 'draining' }).map((a) => a.to), ['active', 'disabled']);
  assert.deepEqual(nodeActions({ adminState: 'disabled' }).map((a) => a.to), ['active']);
});

test('localToIso: a datetime-local value as RFC 3339 UTC without milliseconds', () => {
  assert.equal(localToIso(''), undefined);
  assert.equal(localToIso('nonsense'), undefined);
  const iso = localToIso('2031-06-01T12:00')!;
  assert.match(iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(Date.parse(iso), Date.parse('2031-06-01T12:00'));
});

test('flows left on a node: summed over the instances that count them, null when none does; shown in the LB cell', () => {
  const now = Date.now();
  assert.equal(flowsOn('n1', [report()]), null);
  const counted = (instance: string, flows: number) => report({ instance, backends: [{ name: 'n1', state: 'up', reason: 'draining: no new flows', inTable: false, slots: 0, flows }] });
  assert.equal(flowsOn('n1', [counted('lb-a', 7), counted('lb-b', 3), report({ instance: 'lb-c' })]), 10);
  assert.equal(flowsOn('n2', [counted('lb-a', 7)]), null);
  assert.equal(lbCells('n1', [counted('lb-a', 1)], now)[0]!.text, 'out: draining: no new flows, 1 flow');
  assert.equal(lbCells('n1', [counted('lb-a', 0)], now)[0]!.text, 'out: draining: no new flows, 0 flows');
});
