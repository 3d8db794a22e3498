import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LbReport } from '../protocol/types.js';
import { drainLine, drainRows, drainTimeout, isDrained, waitForDrain } from './node-drain.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
function report(instance: string, b: { inTable: boolean; flows?: number }, ageMs = 0): LbReport {
  return {
    pool: 'p', instance, vip: '198.18.0.2', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 1, lastError: null, failOpen: false,
    backends: [{ name: 'b1', state: 'up', reason: 'draining', slots: 0, ...b }, { name: 'b2', state: 'up', reason: 'healthy', inTable: true, slots: 251, flows: 9 }],
    reportedAt: new Date(T0 - ageMs).toISOString(), revision: 1,
  };
}

test('drain rows: per LB instance the flows left on the node; stale instances are shown but not waited for', () => {
  const rows = drainRows('b1', [report('lb-1', { inTable: false, flows: 2 }), report('lb-2', { inTable: false, flows: 0 }), report('lb-3', { inTable: true, flows: 5 }, 60_000)], T0);
  assert.deepEqual(rows.map((r) => [r.instance, r.flows, r.stale]), [['lb-1', 2, false], ['lb-2', 0, false], ['lb-3', 5, true]]);
  assert.equal(isDrained(rows), false);
  assert.equal(drainLine(1.5, rows), '1.5s  2 flows left: lb-1 2, lb-2 0, lb-3 stale\n');
  assert.equal(isDrained(drainRows('b1', [report('lb-1', { inTable: false, flows: 0 }), report('lb-3', { inTable: true, flows: 5 }, 60_000)], T0)), true);
});

test('drain is not done while an instance still has the node in its table, or does not count flows', () => {
  assert.equal(isDrained(drainRows('b1', [report('lb-1', { inTable: true, flows: 0 })], T0)), false);
  const unknown = drainRows('b1', [report('lb-1', { inTable: false })], T0);
  assert.equal(isDrained(unknown), false);
  assert.match(drainLine(0, unknown), /flows unknown/);
  assert.equal(isDrained(drainRows('nobody', [report('lb-1', { inTable: false, flows: 1 })], T0)), true, 'no LB reports the node: nothing to wait for');
});

test('waitForDrain returns once the flows reach 0, printing a line per change; at the deadline it reports what is left', async () => {
  let t = T0;
  const seq = [3, 3, 1, 0];
  let i = 0;
  const lines: string[] = [];
  const r = await waitForDrain({
    node: 'b1', timeoutMs: 60_000, now: () => t, sleep: async (ms) => void (t += ms), pollMs: 1000, progress: (l) => lines.push(l),
    reports: async () => [{ ...report('lb-1', { inTable: false, flows: seq[Math.min(i++, seq.length - 1)]! }), reportedAt: new Date(t).toISOString() }],
  });
  assert.equal(r.drained, true);
  assert.equal(r.waitedS, 3);
  assert.deepEqual(lines.map((l) => l.split('  ')[1]), ['3 flows left: lb-1 3\n', '1 flow left: lb-1 1\n', '0 flows left: lb-1 0\n']);

  t = T0;
  const stuck = await waitForDrain({
    node: 'b1', timeoutMs: 5000, now: () => t, sleep: async (ms) => void (t += ms), progress: () => {},
    reports: async () => [{ ...report('lb-1', { inTable: false, flows: 4 }), reportedAt: new Date(t).toISOString() }],
  });
  assert.equal(stuck.drained, false);
  assert.equal(stuck.flowsLeft, 4);
  const e = drainTimeout(stuck);
  assert.equal(e.code, 'WGF_ERR_DRAIN_TIMEOUT');
  assert.match(e.message, /4 flows still left after 5s/);
});
