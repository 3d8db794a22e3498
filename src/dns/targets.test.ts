import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointAddress, inServiceAddresses, lbAddresses, nodeTargets } from './targets.js';

const now = Date.parse('2026-12-04T12:00:00Z');
const status = (ready: boolean, ageS: number) => ({ reportedAt: new Date(now - ageS * 1000).toISOString(), appliedRevision: 1, peersDesired: 1, peersApplied: 1, lastReconcileAt: null, driftRepairs: 0, ready, message: '' });

test('node targets: IP endpoints of either family; readiness needs a fresh ready report', () => {
  const { targets, skipped } = nodeTargets([
    { name: 'a', endpoint: '198.18.0.10:51820', adminState: 'active', status: status(true, 1) },
    { name: 'b', endpoint: '[FD77::0:2]:51820', adminState: 'draining', status: status(true, 1) },
    { name: 'c', endpoint: '198.18.0.12:51820', adminState: 'active', status: status(true, 60) },
    { name: 'd', endpoint: 'vpn1.example.net:51820', adminState: 'active', status: status(true, 1) },
    { name: 'e', endpoint: null, adminState: 'active', status: null },
  ], now, 15_000);
  assert.deepEqual(targets.map((t) => [t.name, t.address, t.adminState, t.ready]), [['a', '198.18.0.10', 'active', true], ['b', 'fd77::2', 'draining', true], ['c', '198.18.0.12', 'active', false]]);
  assert.deepEqual(skipped, ['d', 'e']);
  assert.equal(endpointAddress('198.18.0.1:0'), undefined);
});

test('in service: decisions in the table only, de-duplicated', () => {
  const t = [{ name: 'a', address: '198.18.0.10' }, { name: 'b', address: '198.18.0.11' }, { name: 'c', address: '198.18.0.10' }, { name: 'd', address: '198.18.0.13' }];
  const d = new Map([['a', { inTable: true }], ['b', { inTable: false }], ['c', { inTable: true }]]);
  assert.deepEqual(inServiceAddresses(t, d), ['198.18.0.10']);
});

test('LB VIPs: fresh reports with a backend in the table', () => {
  const r = (vip: string, ageS: number, inTable: boolean) => ({ vip, reportedAt: new Date(now - ageS * 1000).toISOString(), backends: [{ name: 'x', state: 'up' as const, reason: '', inTable, slots: 1 }] });
  assert.deepEqual(lbAddresses([r('198.18.9.2', 1, true), r('198.18.9.2', 1, true), r('198.18.9.3', 30, true), r('198.18.9.4', 1, false), r('2001:DB8::2', 2, true)], now, 10_000), ['198.18.9.2', '2001:db8::2']);
});
