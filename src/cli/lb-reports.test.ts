import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LbBackendReport, LbReport } from '../protocol/types.js';
import { lbReportRows, lbSummary, renderLbReportRows } from './lb-reports.js';

const NOW = Date.parse('2030-01-01T00:01:00Z');

function report(instance: string, ageS: number, backends: LbBackendReport[], over: Partial<LbReport> = {}): LbReport {
  return {
    pool: 'p', instance, vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 3, lastError: null, failOpen: false, backends,
    reportedAt: new Date(NOW - ageS * 1000).toISOString(), revision: 7, ...over,
  };
}
const inT = (name: string, slots = 126): LbBackendReport => ({ name, state: 'up', reason: 'healthy', inTable: true, slots });
const outT = (name: string, reason: string, state: LbBackendReport['state'] = 'down'): LbBackendReport => ({ name, state, reason, inTable: false, slots: 0 });

describe('lbSummary: the LB column of node list / status', () => {
  const timeout = 'probe failed: timeout after 300 ms (handshake)';
  const cases: [string, string, LbReport[], string][] = [
    ['no LB reports', 'n1', [], '-'],
    ['reports that do not list the node', 'n9', [report('lb1', 1, [inT('n1')])], '-'],
    ['in on every instance', 'n1', [report('lb1', 1, [inT('n1')]), report('lb2', 2, [inT('n1')])], 'in 2/2'],
    ['out on every instance, freshest reason, cut', 'n2', [report('lb1', 3, [outT('n2', 'probe failed: refused')]), report('lb2', 1, [outT('n2', timeout)])], 'out 2/2: probe failed: timeout after 300…'],
    ['out on one of two', 'n2', [report('lb1', 1, [inT('n2')]), report('lb2', 1, [outT('n2', 'draining: no new flows', 'up')])], 'out 1/2: draining: no new flows'],
    ['a stale report', 'n1', [report('lb1', 42, [inT('n1')])], 'in 1/1 (stale 42s)'],
    ['the oldest stale age', 'n1', [report('lb1', 42, [inT('n1')]), report('lb2', 300, [inT('n1')]), report('lb3', 1, [inT('n1')])], 'in 3/3 (stale 300s)'],
    ['10 s is not yet stale', 'n1', [report('lb1', 10, [inT('n1')])], 'in 1/1'],
    ['fail-open', 'n1', [report('lb1', 1, [{ ...inT('n1'), reason: 'agent not in sync (kept in: no backend is in sync)' }], { failOpen: true })], 'in 1/1 (fail-open)'],
    ['a report from the future (clock skew) is fresh', 'n1', [report('lb1', -5, [inT('n1')])], 'in 1/1'],
  ];
  for (const [name, node, reports, want] of cases) test(name, () => assert.equal(lbSummary(node, reports, NOW), want));
});

describe('lb list rows and table', () => {
  test('one row per instance and backend, an instance without backends as one row, notes for errors and fail-open', () => {
    const rows = lbReportRows([
      report('lb1', 2, [inT('n1', 251), outT('n2', 'probe failed: refused')]),
      report('lb2', 42, [], { vip: 'fd00::2', lastError: 'nft -f - failed', failOpen: true }),
    ], NOW);
    assert.deepEqual(rows.map((r) => [r.instance, r.backend, r.inTable, r.ageS, r.stale]), [['lb1', 'n1', true, 2, false], ['lb1', 'n2', false, 2, false], ['lb2', null, null, 42, true]]);
    assert.equal(renderLbReportRows(rows), [
      'INSTANCE  VIP               TABLE            BACKEND  STATE  IN TABLE  SLOTS  REPORTED         REASON',
      'lb1       198.18.1.2:51820  251 src-ip-port  n1       up     yes       251    2s ago           healthy',
      'lb1       198.18.1.2:51820  251 src-ip-port  n2       down   no        0      2s ago           probe failed: refused',
      'lb2       [fd00::2]:51820   251 src-ip-port  -        -      -         -      42s ago (stale)  -',
      "lb2: fail-open on readiness in effect (no backend's agent is in sync)",
      'lb2: last error: nft -f - failed',
      '',
    ].join('\n'));
  });
  test('the RETURN column appears once an instance reports its return path (JSON rows carry it, null when unknown)', () => {
    const rows = lbReportRows([report('lb1', 2, [inT('n1', 251)], { returnPath: 'dsr' }), report('lb2', 2, [inT('n1', 251)])], NOW);
    assert.deepEqual(rows.map((r) => r.returnPath), ['dsr', null]);
    const text = renderLbReportRows(rows).split('\n');
    assert.match(text[0]!, /^INSTANCE +VIP +TABLE +RETURN +BACKEND/);
    assert.match(text[1]!, /^lb1 .* dsr +n1/);
  });

  test('instances of one VIP with tables of different settings get a note; agreeing ones do not', () => {
    const rows = lbReportRows([
      report('lb1', 1, [inT('n1', 251)]),
      report('lb2', 1, [inT('n1', 257)], { tableSize: 257, affinity: 'src-ip' }),
      report('lb3', 1, [inT('n1', 251)], { vip: '198.18.9.9' }),
    ], NOW);
    assert.deepEqual(rows.map((r) => [r.instance, r.tableSize, r.affinity]), [['lb1', 251, 'src-ip-port'], ['lb2', 257, 'src-ip'], ['lb3', 251, 'src-ip-port']]);
    const notes = renderLbReportRows(rows).split('\n').filter((l) => l.includes('different tables'));
    assert.deepEqual(notes, ["198.18.1.2:51820: the instances hold different tables (lb1 251 src-ip-port, lb2 257 src-ip); they agree once every one applied the pool's settings"]);
    assert.doesNotMatch(renderLbReportRows(lbReportRows([report('lb1', 1, []), report('lb2', 1, [])], NOW)), /different tables/);
  });
  test('no reports', () => assert.equal(renderLbReportRows([]), 'no LB reports in this pool\n'));
});

test('lb list: an ANNOUNCED column only when an instance announces its VIP', () => {
  const base = { pool: 'p', vip: '198.18.7.2', port: 51820, tableSize: 7, affinity: 'src-ip-port' as const, generation: 1, lastError: null, failOpen: false, backends: [], revision: 1 };
  const at = new Date(1_000_000).toISOString();
  const plain = renderLbReportRows(lbReportRows([{ ...base, instance: 'lb1', reportedAt: at }], 1_000_000));
  assert.doesNotMatch(plain, /ANNOUNCED/);
  const rows = lbReportRows([
    { ...base, instance: 'lb1', reportedAt: at, announce: { kind: 'bgp', state: 'announced', reason: 'healthy', addresses: ['198.18.7.2'], since: at } },
    { ...base, instance: 'lb2', reportedAt: at, announce: { kind: 'bgp', state: 'withdrawn', reason: '198.18.7.2: no backend in service', addresses: [], since: at } },
  ], 1_000_000);
  const text = renderLbReportRows(rows);
  assert.match(text, /ANNOUNCED/);
  assert.match(text, /lb1 +198\.18\.7\.2:51820 +7 src-ip-port +announced /);
  assert.match(text, /lb2 .*withdrawn \(198\.18\.7\.2: no backend in service\)/);
});
