import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from '../client/api-client.js';
import { harness, type Harness } from '../server/testing/harness.js';
import { healthConfig } from './health.js';
import { LbService } from './service.js';
import { LbMetrics } from './service-http.js';
import { FakeApplier } from './testing/fake-applier.js';
import { FakeConntrack } from './testing/fake-conntrack.js';
import { until as waitUntil } from '../sys/testing/until.js';

const sys = { actor: 'test' };
const report = (ready: boolean) => ({ appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready, message: '' });

const until = (what: string, cond: () => boolean, limitMs = 20_000): Promise<void> => waitUntil(what, cond, limitMs);

describe('LbService following a real control plane (in-process server, fake prober and nft)', () => {
  let h: Harness;
  let base: string;
  /** "METHOD /path" of every request the LB's client made, in order. */
  const requests: string[] = [];
  let svc: LbService;
  const metrics = new LbMetrics({ instance: 'ls' });
  /** wgfabric_lb_control_plane_requests_total by method. */
  const counted = async () => Object.fromEntries((await metrics.registry.getSingleMetric('wgfabric_lb_control_plane_requests_total')!.get()).values.map((v) => [v.labels['method'], v.value]));

  before(async () => {
    h = await harness({ heartbeatMs: 200 });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    await h.cp.updateNode('p1', 'n1', { endpoint: '198.18.0.10:51820' }, sys);
    await h.cp.updateNode('p1', 'n2', { endpoint: '198.18.0.11:51820' }, sys);
    await h.cp.putNodeStatus('p1', 'n1', report(true), sys);
    await h.cp.putNodeStatus('p1', 'n2', report(true), sys);
    const counting: typeof fetch = (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname}`);
      return fetch(input, init);
    };
    const api = new ApiClient({ baseUrl: base, token: h.tokens.operator, fetch: metrics.countingFetch(counting) });
    svc = new LbService({
      api, pool: 'p1', vip: '198.18.1.2', port: 51820, instance: 'ls', health: healthConfig({ intervalMs: 20, timeoutMs: 50, fall: 2, rise: 2 }),
      applier: new FakeApplier(), conntrack: new FakeConntrack(), readyMaxAgeMs: 60_000, reportMs: 60_000, flowsMs: 0,
      prober: async () => ({ ok: true, rttMs: 1 }),
    });
    await svc.start();
  });
  after(async () => {
    await svc.stop();
    await h.close();
  });

  const backend = (name: string) => svc.status().backends.find((b) => b.name === name);

  test('drain, weight and readiness reach the table through the streams', async () => {
    await until('both backends in the table', () => backend('n1')?.inTable === true && backend('n2')?.inTable === true);
    await h.cp.updateNode('p1', 'n1', { adminState: 'draining' }, sys);
    await until('n1 drained out of the table', () => backend('n1')?.inTable === false);
    assert.equal(backend('n1')!.adminState, 'draining');
    await h.cp.updateNode('p1', 'n1', { adminState: 'active' }, sys);
    await until('n1 back', () => backend('n1')?.inTable === true);
    await h.cp.updateNode('p1', 'n2', { weight: 3 }, sys);
    await until('n2 holds about 3/4 of the slots', () => (backend('n2')?.slots ?? 0) > 2 * (backend('n1')?.slots ?? 0));
    await h.cp.putNodeStatus('p1', 'n2', report(false), sys);
    await until('n2 out: its agent is not in sync', () => backend('n2')?.inTable === false);
    assert.equal(backend('n2')!.agentReady, false);
    await h.cp.putNodeStatus('p1', 'n2', report(true), sys);
    await until('n2 back', () => backend('n2')?.inTable === true);
  });

  test('an idle LB makes no requests to the control plane (its two streams stay open)', async () => {
    await sleep(300); // let the last changes settle
    const from = requests.length;
    const metricFrom = await counted();
    await sleep(2000);
    const idle = requests.slice(from);
    assert.equal((await counted())['GET'], metricFrom['GET'], 'wgfabric_lb_control_plane_requests_total{method="GET"} did not move');
    assert.ok((metricFrom['GET'] ?? 0) >= 4, 'the metric counts the reads and streams of the start');
    console.log(`idle LB (stream): ${idle.length} requests in 2 s: ${JSON.stringify(idle)}`);
    assert.deepEqual(idle.filter((r) => r.startsWith('GET')), [], 'no reads while idle');
    const streams = requests.filter((r) => r.endsWith('/watch') || r.endsWith('/readiness'));
    assert.equal(streams.length, 2, `one change stream and one readiness stream opened, no reconnects: ${JSON.stringify(streams)}`);
  });
});
