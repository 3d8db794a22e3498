import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { LbGroup, type LbMember } from './group.js';
import { lbHttpAnswer, LbMetrics, startLbHttp } from './service-http.js';
import type { LbServiceBackend, LbServiceStatus } from './service.js';

function backend(name: string, over: Partial<LbServiceBackend> = {}): LbServiceBackend {
  return {
    name, address: '198.18.0.10', port: 51820, state: 'up', reason: 'healthy', inTable: true, slots: 7, adminState: 'active', agentReady: true,
    probes: 3, consecutiveFailures: 0, lastRttMs: 0.4, lastDetectionMs: null, detectedAt: null, leftTableAt: null, ...over,
  };
}

function status(pool: string, vip: string, over: Partial<LbServiceStatus> = {}): LbServiceStatus {
  return {
    pool, instance: 't', vip, port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 4, probePeer: null, lastError: null, failOpen: false,
    backends: [backend('a', { slots: 251 }), backend('b', { state: 'down', reason: 'probe failed: refused', inTable: false, slots: 0 })], ...over,
  };
}

/** A service stand-in whose status a test sets, running once started. */
class Stub implements LbMember {
  running = false;
  constructor(public current: LbServiceStatus) {}
  async start(): Promise<void> {
    this.running = true;
  }
  async stop(): Promise<void> {
    this.running = false;
  }
  status(): LbServiceStatus {
    return this.current;
  }
}

/** The metrics and group of a process serving the given statuses (each status's pool and VIP). */
function serve(...statuses: LbServiceStatus[]) {
  const stubs = statuses.map((s) => new Stub(s));
  const metrics = new LbMetrics({ instance: 't' });
  for (const s of stubs) metrics.attach(s);
  return { stubs, metrics, group: new LbGroup(stubs) };
}

const lines = (text: string) => text.split('\n');

/** The value of the series `name` whose labels are exactly `labels` (any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const l of lines(text)) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(l);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.keys(got).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('LB metrics', () => {
  test('one VIP: gauges read the status at scrape time, fail-open included, labelled by pool and vip', async () => {
    const { stubs, metrics } = serve(status('p', '198.18.1.2'));
    const labels = 'pool="p",vip="198.18.1.2:51820",lb_instance="t"';
    const text = await metrics.registry.metrics();
    const cases: [string, string][] = [
      ['fail-open off', `wgfabric_lb_fail_open{${labels}} 0`],
      ['generation', `wgfabric_lb_table_generation{${labels}} 4`],
      ['up backend', `wgfabric_lb_backend_up{backend="a",${labels}} 1`],
      ['down backend', `wgfabric_lb_backend_up{backend="b",${labels}} 0`],
      ['in table', `wgfabric_lb_backend_in_table{backend="b",${labels}} 0`],
      ['slots', `wgfabric_lb_backend_slots{backend="a",${labels}} 251`],
    ];
    for (const [name, line] of cases) assert.ok(lines(text).includes(line), `${name}: ${line}\n${text}`);
    stubs[0]!.current = { ...stubs[0]!.current, failOpen: true };
    assert.ok(lines(await metrics.registry.metrics()).includes(`wgfabric_lb_fail_open{${labels}} 1`), 'fail-open on');
  });

  test('bpf: wgfabric_lb_bpf_mac1_check is 1 while the program checks mac1, 0 while not; drop_mac1 among the packet reasons; absent on nft', async () => {
    const { metrics } = serve(
      status('a', '198.51.100.1', { dataplane: 'bpf', attach: 'tc', mac1: { verify: true } }),
      status('b', '198.51.100.2', { dataplane: 'bpf', attach: 'tc', mac1: { verify: false, reason: 'turned off (--no-verify-mac1)' } }),
      status('c', '198.51.100.3'),
    );
    metrics.attachDataPathCounters('a', '198.51.100.1', 51820, async () => ({ drop_mac1: 10000, fwd_maglev: 3 }));
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'wgfabric_lb_bpf_mac1_check', { pool: 'a', vip: '198.51.100.1:51820', lb_instance: 't' }), 1);
    assert.equal(sample(text, 'wgfabric_lb_bpf_mac1_check', { pool: 'b', vip: '198.51.100.2:51820', lb_instance: 't' }), 0);
    assert.equal(sample(text, 'wgfabric_lb_bpf_mac1_check', { pool: 'c', vip: '198.51.100.3:51820', lb_instance: 't' }), undefined);
    assert.equal(sample(text, 'wgfabric_lb_bpf_packets_total', { pool: 'a', vip: '198.51.100.1:51820', reason: 'drop_mac1', lb_instance: 't' }), 10000);
  });

  test('two VIPs: one exposition, every series labelled by its pool and vip, each HELP and TYPE once', async () => {
    const { metrics } = serve(status('a', '198.51.100.1', { generation: 3 }), status('b', '2001:db8::2', { generation: 9, failOpen: true }));
    const ha = metrics.hooksFor('a', '198.51.100.1', 51820);
    const hb = metrics.hooksFor('b', '2001:db8::2', 51820);
    ha.onProbe!('a', { ok: true, rttMs: 2 }, 2);
    hb.onProbe!('a', { ok: false, reason: 'refused' }, 300);
    hb.onDetection!('a', 600);
    const text = await metrics.registry.metrics();
    const a = { pool: 'a', vip: '198.51.100.1:51820', lb_instance: 't' };
    const b = { pool: 'b', vip: '[2001:db8::2]:51820', lb_instance: 't' };
    const want: [string, Record<string, string>, number][] = [
      ['wgfabric_lb_table_generation', a, 3], ['wgfabric_lb_table_generation', b, 9],
      ['wgfabric_lb_fail_open', a, 0], ['wgfabric_lb_fail_open', b, 1],
      ['wgfabric_lb_backend_slots', { backend: 'a', ...a }, 251], ['wgfabric_lb_backend_slots', { backend: 'a', ...b }, 251],
      ['wgfabric_lb_backend_up', { backend: 'b', ...a }, 0], ['wgfabric_lb_backend_up', { backend: 'b', ...b }, 0],
      ['wgfabric_lb_probes_total', { backend: 'a', result: 'ok', ...a }, 1], ['wgfabric_lb_probes_total', { backend: 'a', result: 'fail', ...b }, 1],
      ['wgfabric_lb_probe_rtt_seconds_count', { backend: 'a', ...a }, 1], ['wgfabric_lb_detection_seconds_count', { backend: 'a', ...b }, 1],
    ];
    for (const [name, labels, value] of want) assert.equal(sample(text, name, labels), value, `${name} ${JSON.stringify(labels)}\n${text}`);
    assert.equal(sample(text, 'wgfabric_lb_probes_total', { backend: 'a', result: 'ok', ...b }), undefined, "pool a's probe is not counted for pool b");
    const meta = lines(text).filter((l) => l.startsWith('# HELP ') || l.startsWith('# TYPE '));
    assert.equal(new Set(meta).size, meta.length, `no HELP or TYPE line twice:\n${meta.join('\n')}`);
    for (const name of ['wgfabric_lb_backend_up', 'wgfabric_lb_table_generation', 'wgfabric_lb_probes_total']) {
      assert.equal(meta.filter((l) => l.startsWith(`# HELP ${name} `)).length, 1, name);
    }
    for (const l of lines(text)) {
      if (l.startsWith('wgfabric_lb_')) assert.match(l, /pool="[ab]".*vip="[^"]+"|vip="[^"]+".*pool="[ab]"/, `every series names its pool and VIP: ${l}`);
    }
  });
});

describe('LB HTTP', () => {
  const get = (s: ReturnType<typeof serve>, url: string) => lbHttpAnswer(s.group, s.metrics, 'GET', url);
  const json = (a: { body: string }) => JSON.parse(a.body) as unknown;

  test('one VIP: /status is its status object, as before; /status/all the array of it', async () => {
    const s = serve(status('p', '198.18.1.2'));
    const one = await get(s, '/status');
    assert.equal(one.code, 200);
    assert.deepEqual(json(one), status('p', '198.18.1.2'));
    assert.deepEqual(json(await get(s, '/status?vip=198.18.1.2:51820')), status('p', '198.18.1.2'));
    assert.deepEqual(json(await get(s, '/status/all')), [status('p', '198.18.1.2')]);
  });

  test('two VIPs: /status?vip= picks one, /status/all lists both in order, plain /status asks which', async () => {
    const [a, b] = [status('a', '198.51.100.1'), status('b', '2001:db8::2')];
    const s = serve(a, b);
    assert.deepEqual(json(await get(s, '/status/all')), [a, b]);
    assert.deepEqual(json(await get(s, '/status?vip=198.51.100.1:51820')), a);
    assert.deepEqual(json(await get(s, `/status?vip=${encodeURIComponent('[2001:DB8:0::2]:51820')}`)), b, 'any spelling of the address');
    const cases: [string, number, string, RegExp][] = [
      ['/status', 400, 'WGF_ERR_VALIDATION', /serves 2 VIPs \(198\.51\.100\.1:51820, \[2001:db8::2\]:51820\).*\/status\?vip=IP:PORT.*\/status\/all/],
      ['/status?vip=198.51.100.9:51820', 404, 'WGF_ERR_NOT_FOUND', /does not serve VIP 198\.51\.100\.9:51820; it serves 198\.51\.100\.1:51820, \[2001:db8::2\]:51820/],
      ['/status?vip=198.51.100.1', 400, 'WGF_ERR_VALIDATION', /vip must be IPv4:PORT or \[IPv6\]:PORT/],
    ];
    for (const [url, code, errCode, message] of cases) {
      const r = await get(s, url);
      assert.equal(r.code, code, url);
      const body = json(r) as { error: { code: string; message: string } };
      assert.equal(body.error.code, errCode, url);
      assert.match(body.error.message, message, url);
    }
  });

  test('/healthz: 200 only while every VIP runs', async () => {
    const s = serve(status('a', '198.51.100.1'), status('b', '198.51.100.2'));
    const health = async () => {
      const r = await get(s, '/healthz');
      return [r.code, json(r)];
    };
    assert.deepEqual(await health(), [503, { status: 'unavailable', notRunning: ['198.51.100.1:51820', '198.51.100.2:51820'] }], 'before start');
    await s.group.start();
    assert.deepEqual(await health(), [200, { status: 'ok' }]);
    await s.stubs[1]!.stop();
    assert.deepEqual(await health(), [503, { status: 'unavailable', notRunning: ['198.51.100.2:51820'] }], 'one VIP down is enough to give the VIPs up');
  });

  test('over a socket: routes, 404 and 405', async () => {
    const s = serve(status('a', '198.51.100.1'), status('b', '198.51.100.2'));
    const server = await startLbHttp(s.group, s.metrics, '127.0.0.1', 0);
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const all = await fetch(`${base}/status/all`);
      assert.equal(all.status, 200);
      assert.deepEqual((await all.json() as LbServiceStatus[]).map((x) => x.pool), ['a', 'b']);
      const metrics = await fetch(`${base}/metrics`);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await metrics.text(), /wgfabric_lb_table_generation\{pool="b",vip="198\.51\.100\.2:51820",lb_instance="t"\} 4/);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal((await fetch(`${base}/status`, { method: 'POST' })).status, 405);
    } finally {
      server.close();
    }
  });
});

test('lbHttpAnswer: /announce routes drain and undrain the instance; 404 without --announce', async () => {
  const calls: boolean[] = [];
  const announce = { report: () => ({ kind: 'bgp', state: 'announced' as const, reason: 'healthy', addresses: ['198.18.7.2'], since: new Date(0).toISOString() }), drain: (on: boolean) => void calls.push(on) };
  const group = { status: () => [], healthy: true, notRunning: () => [] };
  const metrics = new LbMetrics({ instance: 'i' });
  assert.equal((await lbHttpAnswer(group, metrics, 'GET', '/announce', announce)).code, 200);
  assert.equal((await lbHttpAnswer(group, metrics, 'POST', '/announce/drain', announce)).code, 200);
  assert.equal((await lbHttpAnswer(group, metrics, 'POST', '/announce/undrain', announce)).code, 200);
  assert.deepEqual(calls, [true, false]);
  assert.equal((await lbHttpAnswer(group, metrics, 'GET', '/announce/drain', announce)).code, 405);
  const none = await lbHttpAnswer(group, metrics, 'POST', '/announce/drain');
  assert.equal(none.code, 404);
  assert.equal(JSON.parse(none.body).error.code, 'WGF_ERR_NOT_FOUND');
  assert.equal((await lbHttpAnswer(group, metrics, 'POST', '/status')).code, 405);
});
