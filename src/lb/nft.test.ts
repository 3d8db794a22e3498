import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { renderRuleset, renderSlotDelta, slotMapName, slotsFromNftJson, type LbRuleset, type NftVip } from './nft.js';
import { FakeApplier } from './testing/fake-applier.js';

const backends = [
  { name: 'be-c', address: '198.18.1.4', port: 51820 },
  { name: 'be-a', address: '198.18.1.2', port: 51820 },
  { name: 'be-b', address: '198.18.1.3', port: 51821 },
];
// The M = 13 golden Maglev table of be-a, be-b, be-c (indexes in name order).
const table13 = () => Int32Array.from([1, 0, 0, 2, 2, 0, 0, 2, 1, 0, 2, 1, 1]);
const vip4: NftVip = { vip: '198.18.0.1', port: 51820, affinity: 'src-ip-port', backends, table: table13() };
const empty6: NftVip = { vip: '2001:db8::1', port: 51820, affinity: 'src-ip', backends: [], table: Int32Array.from([-1]) };

test('golden: one IPv4 VIP, port affinity, DNAT only', () => {
  assert.equal(renderRuleset({ table: 'wgf_lb1', vips: [vip4] }), `# wgfabric load balancer: table inet wgf_lb1 (generated; do not edit).
# One nft -f run is one transaction: the table is replaced whole or not at all.
table inet wgf_lb1 {}
delete table inet wgf_lb1
table inet wgf_lb1 {
	map slots_198_18_0_1_51820 {
		typeof numgen random mod 13 : ip daddr . udp dport
		comment "198.18.0.1 port 51820: jhash slot -> backend"
		elements = {
			0 : 198.18.1.3 . 51821, 1 : 198.18.1.2 . 51820, 2 : 198.18.1.2 . 51820, 3 : 198.18.1.4 . 51820, 4 : 198.18.1.4 . 51820, 5 : 198.18.1.2 . 51820, 6 : 198.18.1.2 . 51820, 7 : 198.18.1.4 . 51820,
			8 : 198.18.1.3 . 51821, 9 : 198.18.1.2 . 51820, 10 : 198.18.1.4 . 51820, 11 : 198.18.1.3 . 51821, 12 : 198.18.1.3 . 51821
		}
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 198.18.0.1 udp dport 51820 dnat ip to jhash ip saddr . udp sport mod 13 seed 0x5747464c map @slots_198_18_0_1_51820
	}
}
`);
});

test('golden: IPv6 VIP with source-IP affinity, a VIP without backends, SNAT, custom seed', () => {
  const spec: LbRuleset = {
    table: 'wgf_lb2', returnPath: 'snat', seed: 7, vips: [
      {
        vip: '2001:db8::1', port: 443, affinity: 'src-ip', table: Int32Array.from([1, 0, 0, 1, 1]),
        backends: [{ name: 'v6b', address: '2001:db8::b', port: 51820 }, { name: 'v6a', address: '2001:DB8:0::a', port: 51820 }],
      },
      { vip: '198.18.0.9', port: 51820, affinity: 'src-ip', backends: [], table: Int32Array.from([-1, -1, -1, -1, -1]) },
    ],
  };
  assert.equal(renderRuleset(spec), `# wgfabric load balancer: table inet wgf_lb2 (generated; do not edit).
# One nft -f run is one transaction: the table is replaced whole or not at all.
table inet wgf_lb2 {}
delete table inet wgf_lb2
table inet wgf_lb2 {
	map slots_2001_db8__1_443 {
		typeof numgen random mod 5 : ip6 daddr . udp dport
		comment "2001:db8::1 port 443: jhash slot -> backend"
		elements = {
			0 : 2001:db8::b . 51820, 1 : 2001:db8::a . 51820, 2 : 2001:db8::a . 51820, 3 : 2001:db8::b . 51820, 4 : 2001:db8::b . 51820
		}
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 198.18.0.9 udp dport 51820 counter drop comment "no backends"
		ip6 daddr 2001:db8::1 udp dport 443 dnat ip6 to jhash ip6 saddr mod 5 seed 0x00000007 map @slots_2001_db8__1_443
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		meta l4proto udp ct original ip6 daddr 2001:db8::1 ct original proto-dst 443 masquerade
	}
}
`);
});

test('rendering does not depend on the order of VIPs or backends', () => {
  const other: NftVip = { vip: '198.18.0.2', port: 51820, affinity: 'src-ip', backends: [backends[0]!], table: Int32Array.from([0, 0, 0]) };
  const a = renderRuleset({ table: 't', vips: [vip4, other] });
  const b = renderRuleset({ table: 't', vips: [other, { ...vip4, backends: [...backends].reverse() }] });
  assert.equal(a, b);
  assert.ok(a.indexOf('slots_198_18_0_1_51820 {') < a.indexOf('slots_198_18_0_2_51820 {'));
});

test('slotMapName is stable, canonical and distinct per VIP:port', () => {
  assert.equal(slotMapName('198.18.0.1', 51820), 'slots_198_18_0_1_51820');
  assert.equal(slotMapName('2001:0db8::0001', 443), 'slots_2001_db8__1_443');
  const names = ['1.2.3.4', '::1.2.3.4', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::'].flatMap((v) => [5, 8].map((p) => slotMapName(v, p)));
  assert.equal(new Set(names).size, names.length);
});

test('validation errors name the field', () => {
  const base: LbRuleset = { table: 'wgf', vips: [vip4] };
  const cases: { name: string; spec: LbRuleset; field: string }[] = [
    { name: 'table name with a space', spec: { ...base, table: 'wgf lb' }, field: 'table' },
    { name: 'table name starting with a digit', spec: { ...base, table: '1wgf' }, field: 'table' },
    { name: 'negative seed', spec: { ...base, seed: -1 }, field: 'seed' },
    { name: 'seed above u32', spec: { ...base, seed: 2 ** 32 }, field: 'seed' },
    { name: 'unknown return path', spec: { ...base, returnPath: 'dsr' as never }, field: 'returnPath' },
    { name: 'bad VIP', spec: { ...base, vips: [{ ...vip4, vip: '198.18.0' }] }, field: 'vips[0].vip' },
    { name: 'bad VIP port', spec: { ...base, vips: [{ ...vip4, port: 0 }] }, field: 'vips[0].port' },
    { name: 'unknown affinity', spec: { ...base, vips: [{ ...vip4, affinity: 'random' as never }] }, field: 'vips[0].affinity' },
    {
      name: 'duplicate VIP:port, spelled differently',
      spec: { ...base, vips: [{ ...empty6, vip: '2001:db8::1' }, { ...empty6, vip: '2001:DB8:0:0::1' }] },
      field: 'vips',
    },
    {
      name: 'backend family differs from the VIP',
      spec: { ...base, vips: [{ ...vip4, backends: [backends[0]!, backends[1]!, { name: 'be-b', address: '2001:db8::3', port: 1 }] }] },
      field: 'vips[0].backends[2].address',
    },
    { name: 'duplicate backend name', spec: { ...base, vips: [{ ...vip4, backends: [backends[0]!, backends[1]!, { ...backends[2]!, name: 'be-a' }] }] }, field: 'vips[0].backends[2].name' },
    { name: 'bad backend port', spec: { ...base, vips: [{ ...vip4, backends: [backends[0]!, backends[1]!, { ...backends[2]!, port: 70000 }] }] }, field: 'vips[0].backends[2].port' },
    { name: 'table entry out of range', spec: { ...base, vips: [{ ...vip4, table: Int32Array.from([0, 1, 3]) }] }, field: 'vips[0].table' },
    { name: 'empty slot with backends', spec: { ...base, vips: [{ ...vip4, table: Int32Array.from([0, -1, 2]) }] }, field: 'vips[0].table' },
    { name: 'non-empty slot without backends', spec: { ...base, vips: [{ ...vip4, backends: [], table: Int32Array.from([-1, 0]) }] }, field: 'vips[0].table' },
    { name: 'table is not an Int32Array', spec: { ...base, vips: [{ ...vip4, table: [0, 1, 2] as unknown as Int32Array }] }, field: 'vips[0].table' },
  ];
  for (const c of cases) {
    assert.throws(() => renderRuleset(c.spec), (e: unknown) => {
      assert.ok(isFabricError(e, 'WGF_ERR_VALIDATION'), c.name);
      assert.equal(e.details?.['field'], c.field, c.name);
      return true;
    }, c.name);
  }
});

test('slotsFromNftJson reads a slot map from `nft -j list table` output', () => {
  // Trimmed from real nft 1.0.6 output.
  const json = {
    nftables: [
      { metainfo: { version: '1.0.6', json_schema_version: 1 } },
      { table: { family: 'inet', name: 'wgf', handle: 1 } },
      {
        map: {
          family: 'inet', name: 'slots_198_18_0_1_51820', table: 'wgf', type: 'integer', handle: 2, map: 'ipv4_addr . inet_service',
          elem: [[0, { concat: ['198.18.1.2', 51820] }], [2, { concat: ['198.18.1.3', 51821] }]],
        },
      },
      { chain: { family: 'inet', table: 'wgf', name: 'prerouting', handle: 1, type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } },
    ],
  };
  const slots = slotsFromNftJson(json, 'slots_198_18_0_1_51820');
  assert.ok(slots);
  assert.equal(slots.length, 3);
  assert.deepEqual(slots[0], { address: '198.18.1.2', port: 51820 });
  assert.equal(slots[1], undefined);
  assert.deepEqual(slots[2], { address: '198.18.1.3', port: 51821 });
  assert.equal(slotsFromNftJson(json, 'slots_other'), undefined);
  assert.equal(slotsFromNftJson({ nope: 1 }, 'slots_198_18_0_1_51820'), undefined);
});

test('renderSlotDelta rewrites only the slots whose backend changes (golden)', () => {
  // be-b leaves: its slots (0, 8, 11, 12) go to be-a / be-c; in this table no other slot moves.
  const rest = backends.filter((b) => b.name !== 'be-b');
  const table = Int32Array.from([0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1]); // indexes into [be-a, be-c]
  const to: NftVip = { ...vip4, backends: rest, table };
  assert.deepEqual(renderSlotDelta('wgf_lb1', vip4, to), { slots: 4, script: `# wgfabric load balancer: 4 of 13 slots of 198.18.0.1 port 51820 rewritten (generated; do not edit).
# One nft -f run is one transaction: every slot changes or none does.
delete element inet wgf_lb1 slots_198_18_0_1_51820 {
	0, 8, 11, 12
}
add element inet wgf_lb1 slots_198_18_0_1_51820 {
	0 : 198.18.1.2 . 51820, 8 : 198.18.1.4 . 51820, 11 : 198.18.1.2 . 51820, 12 : 198.18.1.4 . 51820
}
` });
});

test('renderSlotDelta: nothing to do, not expressible, and bad input', () => {
  assert.deepEqual(renderSlotDelta('wgf_lb1', vip4, { ...vip4, backends: [...backends].reverse() }), { script: '', slots: 0 }, 'same targets in any backend order: no change');
  // A changed address is a changed target even with the same names and table.
  const moved = backends.map((b) => (b.name === 'be-c' ? { ...b, address: '198.18.1.9' } : b));
  const d = renderSlotDelta('wgf_lb1', vip4, { ...vip4, backends: moved })!;
  assert.equal(d.slots, 4);
  assert.match(d.script, /delete element inet wgf_lb1 slots_198_18_0_1_51820 \{\n\t3, 4, 7, 10\n\}/);
  assert.match(d.script, /3 : 198\.18\.1\.9 \. 51820, 4 : 198\.18\.1\.9 \. 51820, 7 : 198\.18\.1\.9 \. 51820, 10 : 198\.18\.1\.9 \. 51820/);
  const none: NftVip = { ...vip4, backends: [], table: new Int32Array(13).fill(-1) };
  for (const [from, to, why] of [
    [vip4, none, 'to no backends'], [none, vip4, 'from no backends'], [vip4, { ...vip4, port: 51821 }, 'port'],
    [vip4, { ...vip4, vip: '198.18.0.9' }, 'vip'], [vip4, { ...vip4, affinity: 'src-ip' }, 'affinity'],
    [vip4, { ...vip4, backends: [backends[0]!], table: new Int32Array(17) }, 'table size'],
  ] as const) assert.equal(renderSlotDelta('wgf_lb1', from, to), undefined, why);
  assert.throws(() => renderSlotDelta('bad name', vip4, vip4), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
  assert.throws(() => renderSlotDelta('t', vip4, { ...vip4, table: Int32Array.from([7]) }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
});

test('FakeApplier applies a slot delta to the map as the kernel does, and refuses what nft refuses', async () => {
  const two = vipOf2();
  const other: NftVip = { ...vip4, vip: '198.18.0.2' };
  const applier = new FakeApplier();
  await applier.apply(renderRuleset({ table: 'wgf_lb1', vips: [vip4, other] }));
  await applier.apply(renderSlotDelta('wgf_lb1', vip4, two)!.script);
  assert.equal(applier.current, renderRuleset({ table: 'wgf_lb1', vips: [two, other] }), 'only the map of the delta changes');
  await applier.apply(renderSlotDelta('wgf_lb1', two, vip4)!.script);
  assert.equal(applier.current, renderRuleset({ table: 'wgf_lb1', vips: [vip4, other] }));

  const before = applier.current;
  const delta = renderSlotDelta('wgf_lb1', vip4, two)!.script;
  for (const [script, why] of [
    [renderSlotDelta('wgf_other', vip4, two)!.script, 'another table'],
    [delta.replace('slots_198_18_0_1_51820 {', 'slots_198_18_0_9_51820 {').replace('slots_198_18_0_1_51820 {', 'slots_198_18_0_9_51820 {'), 'another map'],
    [delta.replaceAll('\t0, ', '\t13, ').replace('\t0 : ', '\t13 : '), 'a slot the map does not hold'],
    [delta.replace('\t0, ', '\t'), 'an add without its delete'],
  ] as const) {
    await assert.rejects(applier.apply(script), (e: unknown) => isFabricError(e, 'WGF_ERR_NFT'), why);
    assert.equal(applier.current, before, `${why}: state unchanged`);
  }
});

/** vip4 without be-b: its slots 0, 8, 11, 12 move to be-a / be-c (see the golden delta). */
function vipOf2(): NftVip {
  return { ...vip4, backends: backends.filter((b) => b.name !== 'be-b'), table: Int32Array.from([0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1]) };
}
