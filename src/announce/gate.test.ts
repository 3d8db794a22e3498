import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAnnouncement, decideLbAnnouncement, type GateInput, type LbGateInput, type LbGateVip } from './gate.js';

const OK: GateInput = {
  addresses: ['198.18.9.1'], adminState: 'active', deviceUp: true, caughtUp: true, appliedRevision: 5, controlPlaneRevision: 5,
  probe: { ok: true, reason: '' }, announcing: true, drainStartedMs: null, drainSeconds: 10, nowMs: 100_000,
};

test('decideAnnouncement: each check, by name', () => {
  const cases: [string, Partial<GateInput>, string, RegExp][] = [
    ['healthy', {}, 'announced', /^healthy$/],
    ['no addresses', { addresses: [] }, 'withdrawn', /no anycast address/],
    ['disabled', { adminState: 'disabled' }, 'withdrawn', /admin state disabled/],
    ['device down', { deviceUp: false }, 'withdrawn', /device down/],
    ['never probed', { probe: null }, 'withdrawn', /not probed yet/],
    ['probe failed', { probe: { ok: false, reason: 'timeout after 300 ms' } }, 'withdrawn', /probe failed: timeout after 300 ms/],
    ['start-up not in sync', { caughtUp: false, announcing: false, appliedRevision: 3 }, 'withdrawn', /not in sync yet \(applied 3 of 5\)/],
    ['announced, then behind: shared cause keeps it', { caughtUp: false, appliedRevision: 3 }, 'announced', /shared cause does not withdraw/],
    ['draining within the wait', { adminState: 'draining', drainStartedMs: 95_000 }, 'draining', /admin state draining/],
    ['draining past the wait', { adminState: 'draining', drainStartedMs: 85_000 }, 'withdrawn', /drained/],
    ['draining with a failed probe withdraws at once', { adminState: 'draining', drainStartedMs: 99_000, probe: { ok: false, reason: 'x' } }, 'withdrawn', /probe failed/],
  ];
  for (const [name, over, state, reason] of cases) {
    const d = decideAnnouncement({ ...OK, ...over });
    assert.equal(d.state, state, name);
    assert.match(d.reason, reason, name);
  }
});

test('decideLbAnnouncement: a VIP is offered while running, its table loaded and a backend in service', () => {
  const vip = (v: string, over: Partial<LbGateVip> = {}): LbGateVip => ({ vip: v, running: true, tableLoaded: true, inService: 2, ...over });
  const base: LbGateInput = { vips: [vip('198.18.7.2')], draining: false, drainStartedMs: null, drainSeconds: 5, nowMs: 100_000 };
  const cases: [string, Partial<LbGateInput>, string, RegExp, string[]][] = [
    ['healthy', {}, 'announced', /^healthy$/, ['198.18.7.2']],
    ['table not loaded', { vips: [vip('198.18.7.2', { tableLoaded: false })] }, 'withdrawn', /table not loaded yet/, []],
    ['no backend in service', { vips: [vip('198.18.7.2', { inService: 0 })] }, 'withdrawn', /no backend in service/, []],
    ['service stopped', { vips: [vip('198.18.7.2', { running: false })] }, 'withdrawn', /not running/, []],
    ['one of two VIPs serves', { vips: [vip('198.18.7.2', { inService: 0 }), vip('2001:db8::2')] }, 'announced', /held back 198\.18\.7\.2: no backend/, ['2001:db8::2']],
    ['draining within the wait', { draining: true, drainStartedMs: 97_000 }, 'draining', /instance draining/, ['198.18.7.2']],
    ['draining past the wait', { draining: true, drainStartedMs: 90_000 }, 'withdrawn', /drained/, []],
    ['draining with no backend withdraws at once', { draining: true, drainStartedMs: 99_000, vips: [vip('198.18.7.2', { inService: 0 })] }, 'withdrawn', /no backend/, []],
  ];
  for (const [name, over, state, reason, addresses] of cases) {
    const d = decideLbAnnouncement({ ...base, ...over });
    assert.equal(d.state, state, name);
    assert.match(d.reason, reason, name);
    assert.deepEqual(d.addresses, addresses, name);
  }
});
