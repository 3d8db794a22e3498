/**
 * One `lb run` process serving two pools' VIPs on one kernel (needs root): two LbServices in an
 * LbGroup, a fake control plane and prober, but the real nft applier and conntrack tool in a
 * throwaway network namespace, as `lb run --pool a --vip ... --pool b --vip ...` runs them.
 *
 * Pool a's backend a-2 and pool b's backend b-2 share one address:port, so a conntrack delete
 * filtered by backend alone would also cut VIP b's flow: the deletes must match the VIP too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProbeReport } from '../../src/lb/checker.js';
import { conntrackPort, parseFlows } from '../../src/lb/conntrack.js';
import { defaultNftTable } from '../../src/lb/controller.js';
import { LbGroup } from '../../src/lb/group.js';
import { healthConfig } from '../../src/lb/health.js';
import { buildMaglevTable, sortByName } from '../../src/lb/maglev.js';
import { NFT_FAMILY, slotMapName, slotsFromNftJson } from '../../src/lb/nft.js';
import { listTableJson, nftApplier } from '../../src/lb/nft-apply.js';
import { LbService } from '../../src/lb/service.js';
import { FakeLbApi, fakeNode, fakePool } from '../../src/lb/testing/fake-api.js';
import { run } from '../../src/sys/exec.js';
import { Sandbox } from '../../src/sys/netns.js';

const PORT = 51820;
const CLIENT = '198.18.0.2';
const VIPS = [{ pool: 'a', vip: '198.51.100.1', port: PORT }, { pool: 'b', vip: '198.51.100.2', port: PORT }] as const;
const BACKENDS = {
  a: [{ name: 'a-1', address: '198.18.1.10' }, { name: 'a-2', address: '198.18.9.10' }],
  b: [{ name: 'b-1', address: '198.18.2.10' }, { name: 'b-2', address: '198.18.9.10' }],
};
const TABLE_SIZE = 251;

const sb = new Sandbox('wgm');
let ns = '';
let group: LbGroup<LbService> | undefined;
const answers = new Map<string, ProbeReport>();

async function until(what: string, cond: () => boolean | Promise<boolean>, limitMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > limitMs) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The slot map of a VIP as the kernel holds it: backend address per slot. */
async function kernelSlots(vip: string, port: number): Promise<(string | undefined)[] | undefined> {
  const json = await listTableJson(NFT_FAMILY, defaultNftTable(vip, port), { netns: ns });
  return slotsFromNftJson(json, slotMapName(vip, port))?.map((t) => (t ? `${t.address}:${t.port}` : undefined));
}

/** The slot map Maglev builds for these backends (weight 1, the pool's table size). */
function maglevSlots(backends: readonly { name: string; address: string }[]): string[] {
  const sorted = sortByName(backends);
  return Array.from(buildMaglevTable(sorted.map((b) => ({ name: b.name, weight: 1 })), TABLE_SIZE), (i) => `${sorted[i]!.address}:${PORT}`);
}

/** Adds a UDP conntrack entry client:sport -> vip:PORT DNATed to backend:PORT. */
async function addFlow(vip: string, sport: number, backend: string): Promise<void> {
  await run('conntrack', [
    '-I', '-p', 'udp', '-s', CLIENT, '-d', vip, '--sport', String(sport), '--dport', String(PORT),
    '--reply-src', backend, '--reply-dst', CLIENT, '--reply-port-src', String(PORT), '--reply-port-dst', String(sport), '-t', '300', '-u', 'ASSURED',
  ], { netns: ns });
}

/** "vip -> backend" of every UDP conntrack entry of the namespace, by client source port. */
async function flows(): Promise<Map<number, string>> {
  const r = await run('conntrack', ['-L', '-p', 'udp'], { netns: ns, allowFailure: true });
  return new Map(parseFlows(r.stdout).flows.map((f) => [f.original.sport, `${f.original.dst} -> ${f.reply.src}`]));
}

before(async () => {
  ns = await sb.addNetns('l');
  const api = new FakeLbApi();
  VIPS.forEach((v, i) => {
    api.pools.set(v.pool, fakePool(v.pool, i + 1, { lb: { affinity: 'src-ip-port', tableSize: TABLE_SIZE } }));
    api.nodes.set(v.pool, BACKENDS[v.pool].map((b) => fakeNode(v.pool, b.name, `${b.address}:${PORT}`)));
  });
  const applier = nftApplier({ netns: ns });
  const conntrack = conntrackPort({ netns: ns });
  group = new LbGroup(VIPS.map((v) => new LbService({
    api, ...v, instance: 'itest', health: healthConfig({ intervalMs: 20, timeoutMs: 100, fall: 2, rise: 2 }), applier, conntrack,
    pollMs: 50, reportMs: 1000, readyMaxAgeMs: 60_000, prober: async (b) => answers.get(b.name) ?? { ok: true, rttMs: 1 },
  })));
});

after(async () => {
  await group?.stop();
  await sb.cleanup();
});

test('two VIPs in one namespace: two tables with their own Maglev maps; a failover in one leaves the other and its flows alone', async () => {
  await group!.start();
  await until('every backend of both VIPs in its table', () => group!.status().every((s) => s.backends.length === 2 && s.backends.every((b) => b.inTable)));

  const tables = (await run('nft', ['list', 'tables'], { netns: ns })).stdout.trim().split('\n').sort();
  assert.deepEqual(tables, VIPS.map((v) => `table inet ${defaultNftTable(v.vip, v.port)}`).sort(), 'one table per VIP:port, nothing else');
  assert.deepEqual(await kernelSlots(VIPS[0].vip, PORT), maglevSlots(BACKENDS.a), "VIP a's map: pool a's Maglev table");
  assert.deepEqual(await kernelSlots(VIPS[1].vip, PORT), maglevSlots(BACKENDS.b), "VIP b's map: pool b's Maglev table");

  // Established flows: VIP a to a-1 and to a-2, VIP b to b-2 (the same address:port as a-2).
  await addFlow(VIPS[0].vip, 40001, BACKENDS.a[0]!.address);
  await addFlow(VIPS[0].vip, 40002, BACKENDS.a[1]!.address);
  await addFlow(VIPS[1].vip, 40003, BACKENDS.b[1]!.address);
  assert.equal((await flows()).size, 3);
  const tableB = await listTableJson(NFT_FAMILY, defaultNftTable(VIPS[1].vip, PORT), { netns: ns });
  const genB = group!.status()[1]!.generation;

  answers.set('a-2', { ok: false, reason: 'test: down' });
  await until('a-2 out of table a', () => !group!.status()[0]!.backends.find((b) => b.name === 'a-2')!.inTable);
  await until("a-2's flow of VIP a cut", async () => !(await flows()).has(40002));

  assert.deepEqual(await kernelSlots(VIPS[0].vip, PORT), maglevSlots(BACKENDS.a.slice(0, 1)), 'VIP a: every slot to a-1');
  assert.deepEqual(await listTableJson(NFT_FAMILY, defaultNftTable(VIPS[1].vip, PORT), { netns: ns }), tableB, 'table b not touched');
  assert.deepEqual([...(await flows())].sort(), [
    [40001, `${VIPS[0].vip} -> ${BACKENDS.a[0]!.address}`],
    [40003, `${VIPS[1].vip} -> ${BACKENDS.b[1]!.address}`],
  ], "only VIP a's flow to the dead backend is cut; VIP b's flow to the same address:port stays");
  assert.equal(group!.status()[1]!.generation, genB, 'no apply for VIP b');
  assert.equal(group!.healthy, true);
});
