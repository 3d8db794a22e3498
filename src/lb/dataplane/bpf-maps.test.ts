import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMaglevTable } from '../maglev.js';
import { renderSlotDelta, type NftVip } from '../nft.js';
import { configBytes, decodeFlows, parseDump, readCounters, slotChanges, slotLines, targetBytes, COUNTERS } from './bpf-maps.js';

const B = [
  { name: 'a', address: '198.18.1.10', port: 51820 },
  { name: 'b', address: '198.18.1.11', port: 51820 },
  { name: 'c', address: '198.18.1.12', port: 51821 },
];
const vipOf = (backends: typeof B, size = 251): NftVip => ({
  vip: '198.18.0.1', port: 51820, affinity: 'src-ip-port', backends, table: buildMaglevTable(backends.map((b) => ({ name: b.name, weight: 1 })), size),
});

test('configBytes lays out struct wglb_cfg: network-order VIP and port, LE size and seed, ns costs', () => {
  const b = configBytes({ vip: '198.18.0.1', port: 51820, affinity: 'src-ip', snat: true, size: 251, seed: 0x5747464c, guard: { perSourceRate: 20, perSourceBurst: 5, globalRate: 1000, globalBurst: 200 }, indexTtlMs: 200_000, flowTtlMs: 1000 });
  assert.equal(b.length, 72);
  assert.deepEqual([...b.subarray(0, 8)], [198, 18, 0, 1, 0xca, 0x6c, 1, 1]);
  assert.equal(b.readUInt32LE(8), 251);
  assert.equal(b.readUInt32LE(12), 0x5747464c);
  assert.equal(b.readUInt32LE(16), 1);
  assert.equal(b.readBigUInt64LE(24), 50_000_000n);
  assert.equal(b.readBigUInt64LE(32), 250_000_000n);
  assert.equal(b.readBigUInt64LE(40), 1_000_000n);
  assert.equal(b.readBigUInt64LE(56), 200_000_000_000n);
  assert.equal(b.readBigUInt64LE(64), 1_000_000_000n);
  assert.equal(configBytes({ vip: '198.18.0.1', port: 1, affinity: 'src-ip-port', snat: false, size: 0, seed: 1 }).readUInt32LE(16), 0, 'no guard');
});

test('IPv6 is refused with a clear error', () => {
  assert.throws(() => targetBytes('2001:db8::1', 1), /IPv4 VIPs only/);
});

test('slotChanges is the nft slot delta: the same slots as renderSlotDelta, all slots when the state is unknown', () => {
  const full = vipOf(B);
  const two = vipOf(B.slice(0, 2));
  assert.equal(slotChanges(undefined, full).length, 251);
  const d = slotChanges(full, two);
  assert.equal(d.length, renderSlotDelta('t', full, two)!.slots);
  assert.ok(d.every(([, address]) => address !== '198.18.1.12' || false));
  assert.deepEqual(slotChanges(full, full), []);
  assert.equal(slotChanges(vipOf(B, 251), vipOf(B, 257)).length, 257, 'a size change writes every slot');
  assert.equal(slotChanges(full, { ...full, backends: [], table: new Int32Array(251).fill(-1) }).length, 0);
  assert.match(slotLines(7, d.slice(0, 1))[0]!, /^map update id 7 key hex [0-9a-f ]{11} value hex c6 12 01 0[ab] ca 6c 00 00$/);
});

test('dump readers: flows, counters (summed over CPUs), junk output refused', () => {
  const flows = parseDump(JSON.stringify([{ key: ['0xc6', '0x12', '0x00', '0x05', '0x75', '0x30', '0x00', '0x00'], value: [...'c6 12 01 0a ca 6c 00 00 00 00 00 00 00 00 00 00 2a 00 00 00 00 00 00 00'.split(' ').map((h) => `0x${h}`)] }]));
  assert.deepEqual(decodeFlows(flows).map((f) => [f.client, f.target, f.seenNs]), [[{ address: '198.18.0.5', port: 30000 }, { address: '198.18.1.10', port: 51820 }, 42n]]);
  const cached = parseDump(JSON.stringify([{ key: ['0xc6', '0x12', '0x00', '0x05', '0x75', '0x30', '0x00', '0x00'], value: [...'c6 12 01 0a ca 6c 00 00 00 00 00 00 00 00 00 00 2a 00 00 00 00 00 00 00 03 00 00 00 c6 12 01 0a c6 12 00 01 5c 00 00 00'.split(' ').map((h) => `0x${h}`)] }]));
  assert.deepEqual(decodeFlows(cached).map((f) => [f.target, f.seenNs]), [[{ address: '198.18.1.10', port: 51820 }, 42n]], 'an entry with its route cached (40 bytes)');
  const cnt = readCounters(JSON.stringify([{ key: ['0x06', '0x00', '0x00', '0x00'], values: [{ cpu: 0, value: ['0x02', '0', '0', '0', '0', '0', '0', '0'] }, { cpu: 1, value: ['0x03', '0', '0', '0', '0', '0', '0', '0'] }] }]));
  assert.equal(cnt.drop_type, 5);
  assert.equal(Object.keys(cnt).length, COUNTERS.length);
  assert.throws(() => parseDump('Error: nope'), (e: Error & { code?: string }) => e.code === 'WGF_ERR_BPF');
});

test('mac1KeyBytes lays out struct mac1_key: on, then the BLAKE2s-128 state after the mac1 key block; none = all zero (off)', async () => {
  const { mac1KeyBytes, mac1Line } = await import('./bpf-maps.js');
  const { keyBlockState } = await import('../../wg/blake2s.js');
  const { mac1Key } = await import('../../wg/macs.js');
  const pub = new Uint8Array(32).fill(7);
  const b = mac1KeyBytes(pub);
  assert.equal(b.length, 36);
  assert.equal(b.readUInt32LE(0), 1);
  const h = keyBlockState(mac1Key(pub), 16);
  for (let i = 0; i < 8; i++) assert.equal(b.readUInt32LE(4 + 4 * i), h[i]);
  assert.ok(mac1KeyBytes(undefined).equals(Buffer.alloc(36)));
  assert.match(mac1Line(9, pub), /^map update id 9 key hex 00 00 00 00 value hex 01 00 00 00 /);
  assert.throws(() => mac1KeyBytes(new Uint8Array(31)), RangeError);
  assert.ok(COUNTERS.includes('drop_mac1'));
});
