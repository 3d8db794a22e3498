import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFabricError, type ErrorCode } from '../protocol/errors.js';
import { parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import type { ProbeReport } from './checker.js';
import { defaultNftTable } from './controller.js';
import { LbGroup } from './group.js';
import { healthConfig } from './health.js';
import { slotMapName } from './nft.js';
import { LbService } from './service.js';
import { FakeLbApi, fakeNode, fakePool } from './testing/fake-api.js';
import { FakeApplier } from './testing/fake-applier.js';
import { FakeConntrack } from './testing/fake-conntrack.js';
import { until as waitUntil } from '../sys/testing/until.js';

const health = healthConfig({ intervalMs: 5, timeoutMs: 50, fall: 2, rise: 2 });
const VIP_A = { pool: 'a', vip: '198.51.100.1', port: 51820 };
const VIP_B = { pool: 'b', vip: '198.51.100.2', port: 51820 };

const until = (what: string, cond: () => boolean, limitMs = 10_000): Promise<void> => waitUntil(what, cond, limitMs);

/** Pools a (10.1/16) and b (10.2/16), two backends each. */
function twoPools(): FakeLbApi {
  const api = new FakeLbApi();
  api.pools.set('a', fakePool('a', 1));
  api.pools.set('b', fakePool('b', 2));
  api.nodes.set('a', [fakeNode('a', 'a-1', '198.18.1.10:51820'), fakeNode('a', 'a-2', '198.18.1.11:51820')]);
  api.nodes.set('b', [fakeNode('b', 'b-1', '198.18.2.10:51820'), fakeNode('b', 'b-2', '198.18.2.11:51820')]);
  return api;
}

/**
 * One process's services on one kernel: a shared applier and conntrack, as `lb run` shares
 * the namespace's nft and conntrack. `answers` are probe results by backend name (default up).
 */
function oneProcess(api: FakeLbApi, answers = new Map<string, ProbeReport>(), keyFile?: string) {
  const applier = new FakeApplier();
  const conntrack = new FakeConntrack();
  const probes = { n: 0 };
  const services = [VIP_A, VIP_B].map((v) => new LbService({
    api, ...v, instance: 'lb1', health, applier, conntrack, pollMs: 10, reportMs: 20, readyMaxAgeMs: 60_000,
    prober: async (b) => (probes.n++, answers.get(b.name) ?? { ok: true, rttMs: 1 }), ...(keyFile ? { keyFile } : {}),
  }));
  return { group: new LbGroup(services), services, applier, conntrack, probes };
}

describe('LbGroup: the services of one lb run process', () => {
  test('two VIPs on one kernel: two tables, each with its own map; a change in one leaves the other alone', async () => {
    const api = twoPools();
    const answers = new Map<string, ProbeReport>();
    const { group, services, applier, conntrack } = oneProcess(api, answers);
    await group.start();
    try {
      await until('every backend of both VIPs in a table', () => group.status().every((s) => s.backends.length === 2 && s.backends.every((b) => b.inTable)));
      const [ta, tb] = [defaultNftTable(VIP_A.vip, VIP_A.port), defaultNftTable(VIP_B.vip, VIP_B.port)];
      assert.deepEqual([...applier.tables.keys()].sort(), [ta, tb], 'one table per VIP:port');
      assert.match(applier.tables.get(ta)!, new RegExp(`map ${slotMapName(VIP_A.vip, VIP_A.port)} `));
      assert.match(applier.tables.get(ta)!, /198\.18\.1\.10 \. 51820/);
      assert.doesNotMatch(applier.tables.get(ta)!, /198\.18\.2\./, "table a holds none of pool b's backends");
      assert.match(applier.tables.get(tb)!, new RegExp(`map ${slotMapName(VIP_B.vip, VIP_B.port)} `));
      assert.doesNotMatch(applier.tables.get(tb)!, /198\.18\.1\./);
      assert.deepEqual([...new Set(conntrack.lists)].sort(), ['198.51.100.1:51820', '198.51.100.2:51820'], 'each restart sweep (and flow count) lists its own VIP only');

      const tableB = applier.tables.get(tb);
      const genB = services[1]!.status().generation;
      answers.set('a-2', { ok: false, reason: 'refused' });
      await until('a-2 out of table a', () => !services[0]!.status().backends.find((b) => b.name === 'a-2')!.inTable);
      await until('its flows cut', () => conntrack.calls.length > 0);
      assert.doesNotMatch(applier.tables.get(ta)!, /198\.18\.1\.11/);
      assert.equal(applier.tables.get(tb), tableB, 'table b untouched');
      assert.equal(services[1]!.status().generation, genB, 'no apply for VIP b');
      assert.ok(applier.calls.every((c) => !c.includes(`inet ${ta}`) || !c.includes(`inet ${tb}`)), 'no transaction touches both tables');
      assert.deepEqual(conntrack.calls.map((c) => `${c.vip}:${c.port} -> ${c.address}:${c.backendPort}`), ['198.51.100.1:51820 -> 198.18.1.11:51820'],
        'the delete is scoped to VIP a and its backend');

      // Each pool hears of its own VIP under its own report key.
      await until('reports of both pools', () => ['a', 'b'].every((p) => api.reports.some((r) => r.pool === p)));
      for (const r of api.reports) assert.equal(r.instance, 'lb1');
      assert.ok(api.reports.filter((r) => r.pool === 'a').every((r) => r.vip === VIP_A.vip));
      assert.ok(api.reports.filter((r) => r.pool === 'b').every((r) => r.vip === VIP_B.vip));
      assert.equal(group.healthy, true);
    } finally {
      await group.stop();
    }
    assert.equal(group.healthy, false, 'stopped: /healthz fails');
  });

  test('one probe key file for every pool: lbprobe-<instance> in each pool with the same public key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgf-lbgroup-'));
    try {
      const keyFile = join(dir, 'probe.key');
      const api = twoPools();
      const first = oneProcess(api, new Map(), keyFile);
      await first.group.start();
      await first.group.stop();
      const pub = toBase64(publicKeyOf(parseKey(readFileSync(keyFile, 'utf8').trim())));
      const [pa, pb] = [api.peers.get('a/lbprobe-lb1'), api.peers.get('b/lbprobe-lb1')];
      assert.equal(pa?.publicKey, pub);
      assert.equal(pb?.publicKey, pub, 'the control plane claims a key per pool: the same key in two pools is valid');
      assert.deepEqual([pa!.addresses[0]!.startsWith('10.1.'), pb!.addresses[0]!.startsWith('10.2.')], [true, true], "each pool's own tunnel address");

      const again = oneProcess(api, new Map(), keyFile);
      await again.group.start();
      await again.group.stop();
      assert.equal(api.peers.get('a/lbprobe-lb1'), pa, 'a restart re-uses the peers');
      assert.equal(api.peers.get('b/lbprobe-lb1'), pb);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const failures: [string, (api: FakeLbApi) => void, ErrorCode, RegExp][] = [
    ['the control plane fails reading pool b', (api) => api.failing.add('b'), 'WGF_ERR_UNAVAILABLE', /^pool b, VIP 198\.51\.100\.2:51820: reading pool b fails/],
    ['pool b has no prefix of the VIP family', (api) => api.pools.set('b', fakePool('b', 2, { ipv4Prefix: null, ipv6Prefix: 'fd02::/64' })), 'WGF_ERR_VALIDATION',
      /^pool b, VIP 198\.51\.100\.2:51820: pool b has no IPv4 prefix/],
    ['pool b does not exist', (api) => api.pools.delete('b'), 'WGF_ERR_NOT_FOUND', /^pool b, VIP 198\.51\.100\.2:51820: no pool b/],
  ];
  for (const [label, breakIt, code, message] of failures) {
    test(`one service fails to start (${label}): the others are stopped, the error names the pool and VIP`, async () => {
      const api = twoPools();
      breakIt(api);
      const { group, services, probes } = oneProcess(api);
      await assert.rejects(group.start(), (e: unknown) => {
        assert.ok(isFabricError(e, code), String(e));
        assert.match(e.message, message);
        assert.deepEqual([e.details?.['pool'], e.details?.['vip']], ['b', '198.51.100.2:51820']);
        return true;
      });
      assert.deepEqual(services.map((s) => s.running), [false, false], 'nothing runs');
      assert.equal(group.healthy, false);
      const [n, reports] = [probes.n, api.reports.length];
      await sleep(60); // a dozen probe intervals and three report heartbeats
      assert.equal(probes.n, n, 'no probes after the failed start');
      assert.equal(api.reports.length, reports, 'no reports either');
    });
  }

  test('a service stopped while it starts starts nothing (no probes, not running)', async () => {
    const api = twoPools();
    const { services, probes } = oneProcess(api);
    const starting = services[0]!.start();
    await services[0]!.stop();
    await starting;
    await sleep(40);
    assert.equal(services[0]!.running, false);
    assert.equal(probes.n, 0, 'the checker never started');
    assert.equal(api.reports.length, 0, 'nor the reporter');
  });

  test('a group refuses no service, a VIP:port twice and a pool twice', () => {
    const api = twoPools();
    const svc = (pool: string, vip: string, port = 51820) => new LbService({ api, pool, vip, port, instance: 'lb1', health, applier: new FakeApplier(), conntrack: new FakeConntrack() });
    const cases: [string, () => unknown, RegExp][] = [
      ['empty', () => new LbGroup([]), /at least one VIP/],
      ['same VIP:port', () => new LbGroup([svc('a', '198.51.100.1'), svc('b', '198.51.100.1')]), /VIP 198\.51\.100\.1:51820 is served twice/],
      ['same pool', () => new LbGroup([svc('a', '198.51.100.1'), svc('a', '198.51.100.2')]), /pool a is served twice/],
    ];
    for (const [label, make, message] of cases) {
      assert.throws(make, (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION') && message.test(e.message), label);
    }
    assert.equal(new LbGroup([svc('a', '198.51.100.1'), svc('b', '198.51.100.1', 51821)]).members.length, 2, 'same address, other port: two VIPs');
  });
});
