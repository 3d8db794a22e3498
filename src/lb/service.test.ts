import { DEFAULT_ANYCAST_SETTINGS } from '../protocol/announce.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LbReportInput } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { LbReport, Node, NodeStatus, Peer, Pool } from '../protocol/types.js';
import { generateKeyPair, parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import type { ProbeReport } from './checker.js';
import { healthConfig } from './health.js';
import { buildMaglevTable } from './maglev.js';
import { lbSettingsOf } from '../protocol/lb-settings.js';
import { LbService, parseEndpoint, serverTunnelIp, targetsFromNodes, type LbApi } from './service.js';
import type { LogFn } from '../sys/log.js';
import { FakeApplier } from './testing/fake-applier.js';
import { FakeConntrack } from './testing/fake-conntrack.js';
import { until as waitUntil } from '../sys/testing/until.js';

const META = { revision: 1, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };
const POOL: Pool = {
  ...META, name: 'p', description: '', publicKey: toBase64(generateKeyPair().publicKey), listenPort: 51820, ipv4Prefix: '10.9.0.0/16', ipv6Prefix: null,
  endpoint: null, dns: [], mtu: null, persistentKeepalive: 0, labels: {}, lb: { affinity: 'src-ip-port', tableSize: 251 },
  anycast: DEFAULT_ANYCAST_SETTINGS,
};

function status(ready: boolean, reportedAt = new Date().toISOString()): NodeStatus {
  return { reportedAt, appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready, message: '' };
}

function node(name: string, endpoint: string | null, over: Partial<Node> = {}): Node {
  return { ...META, pool: 'p', name, endpoint, adminState: 'active', weight: 1, labels: {}, status: status(true), ...over };
}

/** An in-memory control plane: nodes, peers, LB reports, and a switch that makes it unreachable. */
class FakeApi implements LbApi {
  pool: Pool = POOL;
  nodes: Node[] = [];
  readonly peers = new Map<string, Peer>();
  /** Every report stored, in order. */
  readonly reports: (LbReportInput & { pool: string; instance: string })[] = [];
  down = false;
  /** Reports fail (the rest of the API works). */
  reportsFail = false;
  reportAttempts = 0;
  /** Most report PUTs in flight at once. */
  maxReportsInFlight = 0;
  private reportsInFlight = 0;
  private next = 2;

  private check(): void {
    if (this.down) throw new FabricError('WGF_ERR_UNAVAILABLE', 'control plane down');
  }
  getPool = async (): Promise<Pool> => (this.check(), this.pool);
  listNodes = async () => (this.check(), { items: this.nodes, next: null, revision: 1 });
  getPeer = async (_pool: string, name: string): Promise<Peer> => {
    this.check();
    const p = this.peers.get(name);
    if (!p) throw new FabricError('WGF_ERR_NOT_FOUND', 'no such peer');
    return p;
  };
  createPeer = async (pool: string, input: { name: string; publicKey: string; labels?: Record<string, string> }): Promise<Peer> => {
    this.check();
    const p: Peer = { ...META, pool, name: input.name, publicKey: input.publicKey, addresses: [`10.9.0.${this.next++}/32`], allowedIps: [], enabled: true, labels: input.labels ?? {}, expiresAt: null, hasPresharedKey: false };
    this.peers.set(p.name, p);
    return p;
  };
  deletePeer = async (_pool: string, name: string): Promise<void> => {
    this.check();
    this.peers.delete(name);
  };
  putLbStatus = async (pool: string, instance: string, input: LbReportInput): Promise<LbReport> => {
    this.reportAttempts++;
    this.maxReportsInFlight = Math.max(this.maxReportsInFlight, ++this.reportsInFlight);
    try {
      await sleep(2); // a real round trip: lets requests pile up behind this one
      this.check();
      if (this.reportsFail) throw new FabricError('WGF_ERR_UNAVAILABLE', 'reports refused');
      this.reports.push({ ...input, pool, instance });
      return { ...input, pool, instance, reportedAt: new Date().toISOString(), revision: this.reports.length };
    } finally {
      this.reportsInFlight--;
    }
  };
}

const until = (what: string, cond: () => boolean, limitMs = 10_000): Promise<void> => waitUntil(what, cond, limitMs);

describe('parseEndpoint', () => {
  const cases: [string, string | null, { address: string; port: number } | undefined][] = [
    ['IPv4', '198.18.0.10:51820', { address: '198.18.0.10', port: 51820 }],
    ['IPv6 in brackets', '[fd00::1]:51820', { address: 'fd00::1', port: 51820 }],
    ['host name (not balanceable)', 'vpn.example.com:51820', undefined],
    ['no port', '198.18.0.10', undefined],
    ['port 0', '198.18.0.10:0', undefined],
    ['null', null, undefined],
  ];
  for (const [name, input, want] of cases) test(name, () => assert.deepEqual(parseEndpoint(input), want));
});

describe('targetsFromNodes', () => {
  test('skips nodes without an IP endpoint of the VIP family; readiness needs a fresh ready report', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const nodes = [
      node('a', '198.18.0.10:51820', { status: status(true, '2026-01-01T00:00:58Z') }),
      node('b', '198.18.0.11:51820', { status: status(true, '2026-01-01T00:00:30Z'), adminState: 'draining' }),
      node('c', '198.18.0.12:51820', { status: status(false, '2026-01-01T00:00:59Z') }),
      node('d', null),
      node('e', '[fd00::1]:51820'),
      node('f', '198.18.0.13:51820', { status: null }),
    ];
    assert.deepEqual(targetsFromNodes(nodes, 4, now, 5000).map((t) => [t.name, t.address, t.adminState, t.ready]), [
      ['a', '198.18.0.10', 'active', true], ['b', '198.18.0.11', 'draining', false], ['c', '198.18.0.12', 'active', false], ['f', '198.18.0.13', 'active', false],
    ]);
  });
  test("carries each node's weight; a node from a server without weights counts 1", () => {
    const { weight: _, ...old } = node('old', '198.18.0.12:51820');
    const nodes = [node('a', '198.18.0.10:51820', { weight: 7 }), node('b', '198.18.0.11:51820'), old as Node];
    assert.deepEqual(targetsFromNodes(nodes, 4, Date.now(), 5000).map((t) => [t.name, t.weight]), [['a', 7], ['b', 1], ['old', 1]]);
  });
});

test("lbSettingsOf: the pool's settings; a pool from a server without them gets the defaults", () => {
  assert.deepEqual(lbSettingsOf({ ...POOL, lb: { affinity: 'src-ip', tableSize: 257 } }), { affinity: 'src-ip', tableSize: 257 });
  const { lb: _, ...old } = POOL;
  assert.deepEqual(lbSettingsOf(old as Pool), { affinity: 'src-ip-port', tableSize: 65537 });
});

/** Slots per backend address:port in a whole ruleset as rendered (renderRuleset). */
function slotsByTarget(ruleset: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of ruleset.matchAll(/(?<=[\t ])\d+ : ([0-9.]+) \. (\d+)/g)) out.set(`${m[1]}:${m[2]}`, (out.get(`${m[1]}:${m[2]}`) ?? 0) + 1);
  return out;
}

test('serverTunnelIp: the first usable address of the prefix', () => {
  assert.equal(serverTunnelIp({ ipv4Prefix: '10.77.0.0/16', ipv6Prefix: 'fd77::/64' }, 4), '10.77.0.1');
  assert.equal(serverTunnelIp({ ipv4Prefix: '10.77.0.0/16', ipv6Prefix: 'fd77::/64' }, 6), 'fd77::1');
  assert.equal(serverTunnelIp({ ipv4Prefix: null, ipv6Prefix: 'fd77::/64' }, 4), undefined);
});

describe('LbService (fake control plane, prober, nft and conntrack)', () => {
  const health = healthConfig({ intervalMs: 5, timeoutMs: 50, fall: 2, rise: 2 });

  function make(api: FakeApi, answers: Map<string, ProbeReport>, keyFile?: string, extra: { reportMs?: number; log?: LogFn } = {}) {
    const applier = new FakeApplier();
    const conntrack = new FakeConntrack();
    const svc = new LbService({
      api, pool: 'p', vip: '198.18.1.2', port: 51820, instance: 't', health, applier, conntrack,
      pollMs: 10, readyMaxAgeMs: 60_000, prober: async (b) => answers.get(b.name) ?? { ok: true, rttMs: 1 }, ...(keyFile ? { keyFile } : {}), ...extra,
    });
    return { svc, applier, conntrack };
  }

  test('registers its probe peer, balances healthy backends, drains and removes by decision', async () => {
    const api = new FakeApi();
    api.nodes = [node('backend-1', '198.18.0.10:51820'), node('backend-2', '198.18.0.11:51820')];
    const answers = new Map<string, ProbeReport>();
    const { svc, applier, conntrack } = make(api, answers);
    await svc.start();
    try {
      const probe = api.peers.get('lbprobe-t');
      assert.ok(probe, 'probe peer registered');
      assert.deepEqual(probe.labels, { role: 'lb-probe' });
      await until('both backends in the table', () => svc.status().backends.every((b) => b.inTable));
      assert.match(applier.current!, /198\.18\.0\.10/);
      assert.equal(svc.status().backends.reduce((n, b) => n + b.slots, 0), 251);

      api.nodes = [node('backend-1', '198.18.0.10:51820', { adminState: 'draining' }), node('backend-2', '198.18.0.11:51820')];
      await until('backend-1 drained', () => !svc.status().backends.find((b) => b.name === 'backend-1')!.inTable);
      const drained = svc.status().backends.find((b) => b.name === 'backend-1')!;
      assert.match(drained.reason, /draining/);
      assert.equal(drained.adminState, 'draining');
      assert.ok(drained.leftTableAt, 'leaving time stamped');
      assert.equal(conntrack.calls.length, 0, 'draining keeps flows');

      answers.set('backend-2', { ok: false, reason: 'refused' });
      await until('backend-2 down', () => svc.status().backends.find((b) => b.name === 'backend-2')!.state === 'down');
      await until('its flows deleted', () => conntrack.targets().includes('198.18.0.11:51820'));
      const down = svc.status().backends.find((b) => b.name === 'backend-2')!;
      assert.equal(down.inTable, false);
      assert.match(down.reason, /probe failed: refused/);
      assert.notEqual(down.lastDetectionMs, null);

      // The control plane goes away: the last known nodes stay (no mass removal).
      api.down = true;
      answers.delete('backend-2');
      api.nodes = [];
      await until('backend-2 back', () => svc.status().backends.find((b) => b.name === 'backend-2')!.inTable, 10_000);
      assert.equal(svc.status().backends.length, 2);
    } finally {
      await svc.stop();
    }
  });

  test('keeps the probe key in a 0600 file and re-uses the registered peer; replaces a peer with another key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgf-lbsvc-'));
    try {
      const keyFile = join(dir, 'probe.key');
      const api = new FakeApi();
      const first = make(api, new Map(), keyFile);
      await first.svc.start();
      await first.svc.stop();
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      const pub = toBase64(publicKeyOf(parseKey(readFileSync(keyFile, 'utf8').trim())));
      const peer = api.peers.get('lbprobe-t')!;
      assert.equal(peer.publicKey, pub);

      const again = make(api, new Map(), keyFile);
      await again.svc.start();
      await again.svc.stop();
      assert.equal(api.peers.get('lbprobe-t'), peer, 'same peer object: not re-created');

      const memory = make(api, new Map());
      await memory.svc.start();
      await memory.svc.stop();
      assert.notEqual(api.peers.get('lbprobe-t')!.publicKey, pub, 'a key held only in memory cannot match: the peer is replaced');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('reports to the control plane after an apply (the backend taken out, with its reason) and as a heartbeat', async () => {
    const api = new FakeApi();
    api.nodes = [node('backend-1', '198.18.0.10:51820'), node('backend-2', '198.18.0.11:51820')];
    const answers = new Map<string, ProbeReport>();
    const { svc } = make(api, answers, undefined, { reportMs: 20 });
    await svc.start();
    try {
      await until('a report with both backends in the table', () => api.reports.some((r) => r.backends.length === 2 && r.backends.every((b) => b.inTable)));
      const first = api.reports.find((r) => r.backends.every((b) => b.inTable))!;
      assert.deepEqual([first.pool, first.instance, first.vip, first.port, first.tableSize, first.affinity, first.failOpen], ['p', 't', '198.18.1.2', 51820, 251, 'src-ip-port', false]);
      assert.equal(first.backends.reduce((n, b) => n + b.slots, 0), 251);

      answers.set('backend-2', { ok: false, reason: 'refused' });
      await until('backend-2 out of the table', () => !svc.status().backends.find((b) => b.name === 'backend-2')!.inTable);
      const gen = svc.status().generation;
      await until('a report of that apply', () => api.reports.some((r) => r.generation >= gen));
      const out = api.reports.find((r) => r.generation >= gen)!.backends.find((b) => b.name === 'backend-2')!;
      assert.deepEqual([out.inTable, out.slots, out.state], [false, 0, 'down']);
      assert.equal(out.reason, 'probe failed: refused');
      assert.equal(out.reason, svc.status().backends.find((b) => b.name === 'backend-2')!.reason, 'the reason /status shows');

      // Heartbeat: reports keep coming while nothing changes.
      const seen = api.reports.length;
      await until('two heartbeats', () => api.reports.slice(seen).filter((r) => r.generation === svc.status().generation).length >= 2);
      assert.equal(api.maxReportsInFlight, 1, 'never two report PUTs in flight');
    } finally {
      await svc.stop();
    }
  });

  test('a failing control plane: reports fail with a warning, the service goes on and recovers', async () => {
    const api = new FakeApi();
    api.nodes = [node('backend-1', '198.18.0.10:51820'), node('backend-2', '198.18.0.11:51820')];
    api.reportsFail = true;
    const logs: { level: string; msg: string }[] = [];
    const answers = new Map<string, ProbeReport>();
    const { svc } = make(api, answers, undefined, { reportMs: 5, log: (level, msg) => logs.push({ level, msg }) });
    await svc.start();
    try {
      await until('both backends in the table', () => svc.status().backends.length === 2 && svc.status().backends.every((b) => b.inTable));
      answers.set('backend-2', { ok: false, reason: 'refused' });
      await until('backend-2 out of the table', () => !svc.status().backends.find((b) => b.name === 'backend-2')!.inTable);
      await until('several failed reports', () => api.reportAttempts >= 5);
      const warns = logs.filter((l) => l.level === 'warn' && l.msg.startsWith('reporting to the control plane failed'));
      assert.ok(warns.length >= 1, 'the failure is logged');
      assert.ok(warns.length < api.reportAttempts, `throttled: ${warns.length} warnings for ${api.reportAttempts} failures`);
      assert.equal(api.reports.length, 0);

      api.reportsFail = false;
      await until('a report gets through', () => api.reports.length > 0);
      assert.equal(api.reports.at(-1)!.backends.find((b) => b.name === 'backend-2')!.inTable, false);
      await until('the recovery is logged', () => logs.some((l) => l.msg === 'reporting to the control plane again'));
    } finally {
      await svc.stop();
    }
  });

  test('fail-open on readiness shows in status() and in the report', async () => {
    const api = new FakeApi();
    const unready = () => [node('backend-1', '198.18.0.10:51820', { status: status(false) }), node('backend-2', '198.18.0.11:51820', { status: status(false) })];
    api.nodes = unready();
    const { svc } = make(api, new Map(), undefined, { reportMs: 20 });
    await svc.start();
    try {
      await until('both backends kept in by fail-open', () => svc.status().backends.length === 2 && svc.status().backends.every((b) => b.inTable));
      assert.equal(svc.status().failOpen, true);
      await until('a report saying so', () => api.reports.some((r) => r.failOpen && r.backends.every((b) => b.inTable)));
      api.nodes = [node('backend-1', '198.18.0.10:51820'), unready()[1]!];
      await until('backend-2 out again: backend-1 is in sync', () => !svc.status().backends.find((b) => b.name === 'backend-2')!.inTable);
      assert.equal(svc.status().failOpen, false);
      await until('a report without fail-open', () => api.reports.at(-1)?.failOpen === false);
    } finally {
      await svc.stop();
    }
  });

  test("weights: the table is built with the nodes' weights, and rebuilt when one changes", async () => {
    const api = new FakeApi();
    api.nodes = [node('backend-1', '198.18.0.10:51820', { weight: 2 }), node('backend-2', '198.18.0.11:51820')];
    const { svc, applier } = make(api, new Map());
    await svc.start();
    try {
      await until('both backends in the table', () => svc.status().backends.length === 2 && svc.status().backends.every((b) => b.inTable));
      const expected = (w1: number) => {
        const t = buildMaglevTable([{ name: 'backend-1', weight: w1 }, { name: 'backend-2', weight: 1 }], 251);
        const count = (i: number) => t.filter((x) => x === i).length;
        return new Map([['198.18.0.10:51820', count(0)], ['198.18.0.11:51820', count(1)]]);
      };
      const kernel = slotsByTarget(applier.current!);
      assert.deepEqual(kernel, expected(2), 'the applied table is Maglev with weights 2 and 1');
      const ratio = kernel.get('198.18.0.10:51820')! / kernel.get('198.18.0.11:51820')!;
      assert.ok(ratio > 1.8 && ratio < 2.2, `weight 2 gets about twice the slots of weight 1 (${ratio.toFixed(2)})`);
      assert.deepEqual(svc.status().backends.map((b) => b.slots), [...expected(2).values()], '/status shows the same slots');

      api.nodes = [node('backend-1', '198.18.0.10:51820', { weight: 1 }), node('backend-2', '198.18.0.11:51820')];
      await until('the table rebuilt with equal weights', () => svc.status().backends[0]!.slots === expected(1).get('198.18.0.10:51820'));
      assert.deepEqual(slotsByTarget(applier.current!), expected(1));
      const [a, b] = [...expected(1).values()];
      assert.ok(Math.abs(a! - b!) <= 1, 'equal weights: slot counts differ by at most one');
    } finally {
      await svc.stop();
    }
  });

  test("pool LB settings: applied at start; a change rewrites the whole table with the new affinity and size, logged once, no flow cut", async () => {
    const api = new FakeApi();
    api.pool = { ...POOL, lb: { affinity: 'src-ip-port', tableSize: 251 } };
    api.nodes = [node('backend-1', '198.18.0.10:51820'), node('backend-2', '198.18.0.11:51820')];
    const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
    const { svc, applier, conntrack } = make(api, new Map(), undefined, { reportMs: 20, log: (_l, msg, fields) => logs.push({ msg, ...(fields ? { fields } : {}) }) });
    await svc.start();
    try {
      await until('both backends in the table', () => svc.status().backends.length === 2 && svc.status().backends.every((b) => b.inTable));
      assert.match(applier.current!, /jhash ip saddr \. udp sport mod 251 /);
      assert.deepEqual([svc.status().tableSize, svc.status().affinity], [251, 'src-ip-port']);
      const calls = applier.calls.length;
      const gen = svc.status().generation;

      api.pool = { ...POOL, lb: { affinity: 'src-ip', tableSize: 257 } };
      await until('the new settings in the kernel', () => svc.status().tableSize === 257);
      const s = svc.status();
      assert.equal(s.affinity, 'src-ip');
      assert.equal(s.generation, gen + 1, 'one apply');
      assert.equal(s.backends.reduce((n, b) => n + b.slots, 0), 257);
      const writes = applier.calls.slice(calls);
      assert.equal(writes.length, 1, 'one nft transaction');
      assert.match(writes[0]!, /^delete table inet /m, 'the whole table is replaced, not a slot delta');
      assert.doesNotMatch(writes[0]!, /^delete element /m);
      assert.match(writes[0]!, /jhash ip saddr mod 257 seed /, 'the rule hashes the source address only, mod the new size');
      assert.match(writes[0]!, /typeof numgen random mod 257 /);
      assert.deepEqual(slotsByTarget(applier.current!), new Map([
        ['198.18.0.10:51820', s.backends[0]!.slots], ['198.18.0.11:51820', s.backends[1]!.slots],
      ]));
      assert.equal(conntrack.calls.length, 0, 'established flows are left to conntrack');
      await until('a report with the new settings', () => api.reports.some((r) => r.tableSize === 257 && r.affinity === 'src-ip'));

      await sleep(50); // several more polls of the same settings
      const changed = logs.filter((l) => l.msg === 'lb settings changed');
      assert.equal(changed.length, 1, 'logged once');
      assert.deepEqual(changed[0]!.fields?.['old'], { affinity: 'src-ip-port', tableSize: 251 });
      assert.deepEqual(changed[0]!.fields?.['new'], { affinity: 'src-ip', tableSize: 257 });
      assert.equal(applier.calls.length, calls + 1, 'unchanged settings write nothing more');
    } finally {
      await svc.stop();
    }
  });

  test('bpf: the pool\'s public key goes to the writer\'s mac1 check at start and when it rotates; status() shows the check', async () => {
    const api = new FakeApi();
    api.nodes = [node('backend-1', '198.18.0.10:51820')];
    const keys: (string | undefined)[] = [];
    const writer = {
      write: async () => ({ mode: 'full' as const, slots: 251 }),
      setPoolKey: async (k: string | undefined) => { keys.push(k); },
      mac1: () => (keys.length > 0 ? { verify: true } : { verify: false, reason: 'the pool public key is not known yet' }),
    };
    const svc = new LbService({
      api, pool: 'p', vip: '198.18.1.2', port: 51820, instance: 't', health, applier: new FakeApplier(), conntrack: new FakeConntrack(), writer, dataplane: 'bpf',
      pollMs: 10, readyMaxAgeMs: 60_000, prober: async () => ({ ok: true, rttMs: 1 }),
    });
    await svc.start();
    try {
      assert.ok(keys.length >= 1 && keys.every((k) => k === POOL.publicKey), 'the pool key, before any other (each pool read hands it again; the data path skips unchanged keys)');
      assert.deepEqual(svc.status().mac1, { verify: true });
      const rotated = toBase64(generateKeyPair().publicKey);
      api.pool = { ...POOL, publicKey: rotated, revision: 2 };
      await until('the rotated key reaches the writer', () => keys.at(-1) === rotated);
    } finally {
      await svc.stop();
    }
  });
});
