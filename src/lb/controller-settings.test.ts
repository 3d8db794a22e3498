import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import type { LbSettings } from '../protocol/types.js';
import { LbController, defaultNftTable, type LbBackend } from './controller.js';
import type { HealthDecision } from './health.js';
import { buildMaglevTable } from './maglev.js';
import { renderRuleset } from './nft.js';
import type { RulesetApplier } from './nft-apply.js';
import { FakeApplier } from './testing/fake-applier.js';
import { FakeConntrack } from './testing/fake-conntrack.js';

// setSettings(): the pool's LB settings (affinity, table size) change under a running controller.

const VIP = '198.18.0.1';
const PORT = 51820;
const A: LbBackend = { name: 'be-a', address: '198.18.1.2', port: PORT, weight: 1 };
const B: LbBackend = { name: 'be-b', address: '198.18.2.2', port: PORT, weight: 1 };
const C: LbBackend = { name: 'be-c', address: '198.18.3.2', port: PORT, weight: 1 };
const up: HealthDecision = { state: 'up', cause: 'healthy', inTable: true, keepFlows: true, reason: 'healthy', since: 0 };
const allUp = new Map([['be-a', up], ['be-b', up], ['be-c', up]]);

function rig(applier: RulesetApplier = new FakeApplier()) {
  const conntrack = new FakeConntrack();
  const ctl = new LbController({ vip: VIP, port: PORT, tableSize: 13, affinity: 'src-ip-port', applier, conntrack, now: () => 1000 });
  return { conntrack, ctl };
}

/** The whole ruleset for these in-table backends under `s`. */
function expectedScript(inTable: LbBackend[], s: LbSettings): string {
  return renderRuleset({
    table: defaultNftTable(VIP, PORT),
    vips: [{ vip: VIP, port: PORT, affinity: s.affinity, backends: inTable, table: buildMaglevTable(inTable, s.tableSize) }],
  });
}

test('setSettings: the next update writes the whole table with the new size and affinity, and cuts no flow', async () => {
  const applier = new FakeApplier();
  const { conntrack, ctl } = rig(applier);
  conntrack.flows.set('198.18.1.2:51820', 5);
  await ctl.update([A, B, C], allUp);
  assert.equal(applier.current, expectedScript([A, B, C], { affinity: 'src-ip-port', tableSize: 13 }));

  assert.equal(ctl.setSettings({ affinity: 'src-ip', tableSize: 17 }), true);
  assert.deepEqual([ctl.status().tableSize, ctl.status().affinity], [13, 'src-ip-port'], 'status shows the table in the kernel until the next apply');
  const r = await ctl.update([A, B, C], allUp);
  assert.equal(r.applied, true);
  assert.deepEqual(r.write, { mode: 'full', slots: 17 }, 'a full write, not a delta');
  assert.equal(applier.calls.length, 2);
  assert.equal(applier.calls[1], expectedScript([A, B, C], { affinity: 'src-ip', tableSize: 17 }));
  assert.match(applier.calls[1]!, /jhash ip saddr mod 17 seed /);
  const s = ctl.status();
  assert.deepEqual([s.tableSize, s.affinity, s.generation], [17, 'src-ip', 2]);
  assert.equal(s.backends.reduce((n, b) => n + b.slots, 0), 17, 'slots of the new table');
  assert.deepEqual(conntrack.calls, [], 'established flows stay on their backends (conntrack holds them)');

  assert.equal(ctl.setSettings({ affinity: 'src-ip', tableSize: 17 }), false, 'the same settings again: nothing to do');
  assert.equal((await ctl.update([A, B, C], allUp)).applied, false);
  assert.equal(applier.calls.length, 2);
});

test('setSettings: an affinity change alone is a full write too (the table is the same, the rule is not)', async () => {
  const applier = new FakeApplier();
  const { ctl } = rig(applier);
  await ctl.update([A, B], allUp);
  ctl.setSettings({ affinity: 'src-ip', tableSize: 13 });
  const r = await ctl.update([A, B], allUp);
  assert.equal(r.write.mode, 'full');
  assert.equal(applier.current, expectedScript([A, B], { affinity: 'src-ip', tableSize: 13 }));
  ctl.setSettings({ affinity: 'src-ip-port', tableSize: 13 });
  assert.equal((await ctl.update([A, B], allUp)).write.mode, 'full');
  assert.equal(applier.current, expectedScript([A, B], { affinity: 'src-ip-port', tableSize: 13 }));
});

test('setSettings before the first apply: the first table is built with them', async () => {
  const applier = new FakeApplier();
  const { ctl } = rig(applier);
  ctl.setSettings({ affinity: 'src-ip', tableSize: 251 });
  assert.deepEqual([ctl.status().tableSize, ctl.status().affinity], [251, 'src-ip']);
  await ctl.update([A, B], allUp);
  assert.equal(applier.calls.length, 1);
  assert.equal(applier.current, expectedScript([A, B], { affinity: 'src-ip', tableSize: 251 }));
});

test('setSettings while a reconcile with the old settings is in nft: that one finishes, the next update rewrites', async () => {
  const fake = new FakeApplier();
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const applier: RulesetApplier = {
    apply: async (script) => {
      if (gate) await gate;
      return fake.apply(script);
    },
  };
  const { ctl } = rig(applier);
  await ctl.update([A, B, C], allUp);
  gate = new Promise((resolve) => { release = resolve; });
  const running = ctl.update([A, { ...B, weight: 3 }, C], allUp);
  await new Promise((resolve) => setImmediate(resolve)); // the reconcile is now waiting in apply()
  assert.equal(fake.calls.length, 1, 'the second write has not reached the kernel yet');
  ctl.setSettings({ affinity: 'src-ip', tableSize: 17 });
  release();
  gate = undefined;
  const first = await running;
  assert.equal(first.write.mode, 'delta', 'built and written with the settings it started with');
  const next = await ctl.update([A, { ...B, weight: 3 }, C], allUp);
  assert.equal(next.write.mode, 'full');
  assert.equal(fake.current, expectedScript([A, { ...B, weight: 3 }, C], { affinity: 'src-ip', tableSize: 17 }));
});

const badSettings: { name: string; s: LbSettings; field: string }[] = [
  { name: 'a table size that is not prime', s: { affinity: 'src-ip-port', tableSize: 65536 }, field: 'tableSize' },
  { name: 'a table size below 3', s: { affinity: 'src-ip-port', tableSize: 2 }, field: 'tableSize' },
  { name: 'an unknown affinity', s: { affinity: 'dst-ip' as never, tableSize: 13 }, field: 'affinity' },
];
for (const c of badSettings) {
  test(`setSettings rejects ${c.name} (WGF_ERR_VALIDATION) and changes nothing`, async () => {
    const applier = new FakeApplier();
    const { ctl } = rig(applier);
    await ctl.update([A, B], allUp);
    assert.throws(() => ctl.setSettings(c.s), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && e.details?.['field'] === c.field);
    assert.equal((await ctl.update([A, B], allUp)).applied, false);
    assert.deepEqual([ctl.status().tableSize, ctl.status().affinity], [13, 'src-ip-port']);
  });
}

test('a table size smaller than the backends to place: nothing applied, the reason in lastError, applied again once the size fits', async () => {
  const applier = new FakeApplier();
  const { ctl } = rig(applier);
  await ctl.update([A, B, C], allUp);
  assert.equal(ctl.setSettings({ affinity: 'src-ip-port', tableSize: 3 }), true);
  const D: LbBackend = { name: 'be-d', address: '198.18.4.2', port: PORT, weight: 1 };
  await assert.rejects(ctl.update([A, B, C, D], new Map([...allUp, ['be-d', up]])), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'));
  assert.match(ctl.status().lastError ?? '', /table size 3 is smaller than the 4 backends/);
  assert.equal(applier.calls.length, 1, 'the kernel keeps the last good table');
  const r = await ctl.update([A, B, C], allUp);
  assert.equal(r.applied, true);
  assert.equal(ctl.status().lastError, null);
  assert.equal(ctl.status().tableSize, 3);
});
