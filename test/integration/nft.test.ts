/**
 * The LB ruleset against the real kernel, in throwaway network namespaces (needs root).
 * LB namespace: holds the rendered table; the backend addresses live on its loopback, so a
 * DNATed packet is delivered locally and counted per backend by a separate counting table.
 * Client namespace: joined by a veth, sends a few UDP datagrams to the VIP from chosen ports.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { isFabricError } from '../../src/protocol/errors.js';
import { buildMaglevTable, flowHash, lookup, sortByName } from '../../src/lb/maglev.js';
import { NFT_FAMILY, renderRuleset, renderSlotDelta, slotMapName, slotsFromNftJson, type NftBackend, type NftVip } from '../../src/lb/nft.js';
import { applyRuleset, listTableJson } from '../../src/lb/nft-apply.js';

const run = promisify(execFile);
const lbNs = `wgft${randomBytes(3).toString('hex')}`;
const clientNs = `wgft${randomBytes(3).toString('hex')}`;
const TABLE = 'wgf_lb_itest';
const VIP = '198.18.0.1';
const PORT = 51820;
const CLIENT = '198.18.0.2';
const ALL: NftBackend[] = [
  { name: 'be-a', address: '198.18.1.2', port: PORT },
  { name: 'be-b', address: '198.18.1.3', port: PORT },
  { name: 'be-c', address: '198.18.1.4', port: PORT },
  { name: 'be-d', address: '198.18.1.5', port: PORT },
];

function vipOf(backends: NftBackend[], size = 13): NftVip {
  return { vip: VIP, port: PORT, affinity: 'src-ip-port', backends, table: buildMaglevTable(backends.map((b) => ({ name: b.name, weight: 1 })), size) };
}

async function ns(name: string, ...argv: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', name, ...argv])).stdout;
}

async function appliedSlots(): Promise<ReturnType<typeof slotsFromNftJson>> {
  return slotsFromNftJson(await listTableJson(NFT_FAMILY, TABLE, { netns: lbNs }), slotMapName(VIP, PORT));
}

function expectedSlots(v: NftVip): { address: string; port: number }[] {
  const sorted = sortByName(v.backends);
  return Array.from(v.table, (i) => ({ address: sorted[i]!.address, port: sorted[i]!.port }));
}

/** Packets delivered to each backend address since the counting table was created. */
async function delivered(): Promise<Map<string, number>> {
  const json = JSON.parse(await ns(lbNs, 'nft', '-j', 'list', 'table', 'inet', 'wgft_count')) as { nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[] };
  const out = new Map<string, number>();
  for (const item of json.nftables) {
    const rule = item.rule;
    const counter = rule?.expr.find((e) => e.counter)?.counter;
    if (rule?.comment && counter) out.set(rule.comment, counter.packets);
  }
  return out;
}

/** Sends one datagram to VIP:PORT from each source port, from the client namespace. */
async function sendFrom(ports: number[]): Promise<void> {
  const script = `
    const dgram = require('node:dgram');
    (async () => {
      for (const p of ${JSON.stringify(ports)}) {
        const s = dgram.createSocket('udp4');
        await new Promise((r) => s.bind(p, ${JSON.stringify(CLIENT)}, r));
        await new Promise((r, j) => s.send('wgft', ${PORT}, ${JSON.stringify(VIP)}, (e) => (e ? j(e) : r())));
        s.close();
      }
    })().catch((e) => { console.error(e); process.exit(1); });`;
  await ns(clientNs, process.execPath, '-e', script);
}

function predicted(v: NftVip, ports: number[]): Map<string, number> {
  const sorted = sortByName(v.backends);
  const out = new Map<string, number>();
  for (const p of ports) {
    const b = sorted[lookup(v.table, flowHash(CLIENT, p))]!;
    out.set(b.address, (out.get(b.address) ?? 0) + 1);
  }
  return out;
}

function diff(after: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

/**
 * The per-backend deliveries since `before`, once `n` packets have arrived (or after 5 s): a
 * sender that has exited may still have datagrams in the ARP queue or a veth backlog.
 */
async function deliveredSince(before: Map<string, number>, n: number): Promise<Map<string, number>> {
  let d = diff(await delivered(), before);
  for (let waited = 0; [...d.values()].reduce((a, b) => a + b, 0) < n && waited < 5000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
    d = diff(await delivered(), before);
  }
  return d;
}

before(async () => {
  await run('ip', ['netns', 'add', lbNs]);
  await run('ip', ['netns', 'add', clientNs]);
  await run('ip', ['-n', lbNs, 'link', 'add', 'veth-lb', 'type', 'veth', 'peer', 'name', 'veth-cl', 'netns', clientNs]);
  await run('ip', ['-n', lbNs, 'addr', 'add', `${VIP}/24`, 'dev', 'veth-lb']);
  await run('ip', ['-n', clientNs, 'addr', 'add', `${CLIENT}/24`, 'dev', 'veth-cl']);
  for (const [n, dev] of [[lbNs, 'veth-lb'], [clientNs, 'veth-cl'], [lbNs, 'lo'], [clientNs, 'lo']] as const) {
    await run('ip', ['-n', n, 'link', 'set', dev, 'up']);
  }
  for (const b of ALL) await run('ip', ['-n', lbNs, 'addr', 'add', `${b.address}/32`, 'dev', 'lo']);
  const counting = ['table inet wgft_count {', '\tchain input {', '\t\ttype filter hook input priority 0; policy accept;',
    ...ALL.map((b) => `\t\tip daddr ${b.address} udp dport ${b.port} counter comment "${b.address}"`), '\t}', '}', ''].join('\n');
  await applyRuleset(counting, { netns: lbNs });
});

after(async () => {
  for (const name of [lbNs, clientNs]) await run('ip', ['netns', 'del', name]).catch(() => {});
});

const three = ALL.slice(0, 3);
const first = vipOf(three);

test('a rendered ruleset for M = 13 and 3 backends applies, and its map reads back as the table', async () => {
  await applyRuleset(renderRuleset({ table: TABLE, vips: [first] }), { netns: lbNs });
  const slots = await appliedSlots();
  assert.ok(slots, 'the slot map exists');
  assert.equal(slots.length, 13);
  assert.deepEqual(slots, expectedSlots(first));
});

test('applying the same state again is accepted and changes nothing', async () => {
  await applyRuleset(renderRuleset({ table: TABLE, vips: [first] }), { netns: lbNs });
  assert.deepEqual(await appliedSlots(), expectedSlots(first));
});

const ports = Array.from({ length: 24 }, (_, i) => 40001 + i);

test('the kernel sends each flow to the backend lookup(table, flowHash(src, sport)) predicts', async () => {
  const want = predicted(first, ports);
  assert.ok(want.size >= 2, 'the probe ports spread over several backends, so the check can fail');
  const before = await delivered();
  await sendFrom(ports);
  assert.deepEqual(await deliveredSince(before, ports.length), want);
});

const changed = vipOf([ALL[0]!, ALL[1]!, ALL[3]!]); // be-c replaced by be-d

test('re-applying a changed table replaces it whole: the removed backend is gone', async () => {
  await applyRuleset(renderRuleset({ table: TABLE, vips: [changed] }), { netns: lbNs });
  const slots = await appliedSlots();
  assert.deepEqual(slots, expectedSlots(changed));
  assert.ok(!slots!.some((s) => s?.address === ALL[2]!.address), 'be-c is in no slot');
  const json = await listTableJson(NFT_FAMILY, TABLE, { netns: lbNs }) as { nftables: { rule?: unknown; map?: unknown }[] };
  assert.equal(json.nftables.filter((i) => i.rule).length, 1, 'one DNAT rule, not an accumulation');
  assert.equal(json.nftables.filter((i) => i.map).length, 1, 'one map');
});

test('established flows keep their backend (conntrack); new flows use the new table', async () => {
  const before = await delivered();
  await sendFrom(ports);
  assert.deepEqual(await deliveredSince(before, ports.length), predicted(first, ports), 'old flows still follow the first table');
  const fresh = ports.map((p) => p + 1000);
  const mid = await delivered();
  await sendFrom(fresh);
  assert.deepEqual(await deliveredSince(mid, fresh.length), predicted(changed, fresh));
});

test('a script that fails leaves the previous ruleset in place', async () => {
  const good = renderRuleset({ table: TABLE, vips: [first] });
  // Fails in the kernel after the delete and re-create of the same transaction.
  const kernelFailure = `${good}add rule inet ${TABLE} prerouting jump no_such_chain\n`;
  const syntaxError = good.replace('dnat ip to', 'dnat ip too');
  for (const [name, script] of [['kernel failure', kernelFailure], ['syntax error', syntaxError]] as const) {
    await assert.rejects(applyRuleset(script, { netns: lbNs }), (e: unknown) => {
      assert.ok(isFabricError(e, 'WGF_ERR_NFT'), name);
      assert.ok(String(e.details?.['stderr']).length > 0, `${name}: nft's stderr is kept`);
      return true;
    });
    assert.deepEqual(await appliedSlots(), expectedSlots(changed), `${name}: the previous table is intact`);
  }
});

test('a 65537-slot table applies and reads back whole', async () => {
  const big = vipOf(ALL, 65537);
  await applyRuleset(renderRuleset({ table: TABLE, vips: [big] }), { netns: lbNs });
  const slots = await appliedSlots();
  assert.equal(slots?.length, 65537);
  assert.deepEqual(slots, expectedSlots(big));
});

test('a slot delta (one backend of four leaves, M = 65537) rewrites about a quarter of the slots and leaves exactly the new table', async () => {
  const from = vipOf(ALL, 65537);
  const to = vipOf(ALL.filter((b) => b.name !== 'be-b'), 65537);
  await applyRuleset(renderRuleset({ table: TABLE, vips: [from] }), { netns: lbNs });
  const { script: delta, slots: rewritten } = renderSlotDelta(TABLE, from, to)!;
  assert.ok(rewritten >= 65537 / 4 && rewritten < 65537 / 2, `rewrites ${rewritten} slots, not all`);
  const was = expectedSlots(from);
  const moved = expectedSlots(to).filter((t, s) => t.address !== was[s]!.address || t.port !== was[s]!.port).length;
  assert.equal(rewritten, moved, 'the count is the number of slots whose backend changes');
  await applyRuleset(delta, { netns: lbNs });
  assert.deepEqual(await appliedSlots(), expectedSlots(to), 'the map equals a full render of the new state');
  // And back: the slots return to be-b.
  await applyRuleset(renderSlotDelta(TABLE, to, from)!.script, { netns: lbNs });
  assert.deepEqual(await appliedSlots(), expectedSlots(from));
  console.log(`# delta of one backend leaving 4 at M = 65537: ${rewritten} slots rewritten, ${(Buffer.byteLength(delta) / 1024).toFixed(0)} KiB `
    + `vs ${(Buffer.byteLength(renderRuleset({ table: TABLE, vips: [to] })) / 1024).toFixed(0)} KiB for the whole table`);
});

test('a slot delta against a kernel that does not hold the expected table fails and changes nothing', async () => {
  const from = vipOf(ALL, 13);
  const to = vipOf(three, 13);
  await applyRuleset(renderRuleset({ table: TABLE, vips: [to] }), { netns: lbNs });
  // A delta for a map that does not exist: refused whole.
  await assert.rejects(applyRuleset(renderSlotDelta('wgf_no_such_table', from, to)!.script, { netns: lbNs }), (e: unknown) => isFabricError(e, 'WGF_ERR_NFT'));
  // A valid delta followed by a command the kernel refuses (slot 0 exists): the whole batch is rolled back.
  const clash = `${renderSlotDelta(TABLE, to, from)!.script}create element inet ${TABLE} ${slotMapName(VIP, PORT)} { 0 : 198.18.1.2 . 51820 }\n`;
  await assert.rejects(applyRuleset(clash, { netns: lbNs }), (e: unknown) => isFabricError(e, 'WGF_ERR_NFT'));
  assert.deepEqual(await appliedSlots(), expectedSlots(to), 'the table is as it was');
});

test('nft failures outside the ruleset surface as WGF_ERR_NFT', async () => {
  await assert.rejects(applyRuleset('', { netns: `${lbNs}-missing` }), (e: unknown) => isFabricError(e, 'WGF_ERR_NFT'));
  await assert.rejects(listTableJson(NFT_FAMILY, 'wgf_no_such_table', { netns: lbNs }), (e: unknown) => isFabricError(e, 'WGF_ERR_NFT'));
});
