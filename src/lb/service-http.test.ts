import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LbMetrics } from './service-http.js';
import type { LbServiceBackend, LbServiceStatus } from './service.js';

function backend(name: string, over: Partial<LbServiceBackend> = {}): LbServiceBackend {
  return {
    name, address: '198.18.0.10', port: 51820, state: 'up', reason: 'healthy', inTable: true, slots: 7, adminState: 'active', agentReady: true,
    probes: 3, consecutiveFailures: 0, lastRttMs: 0.4, lastDetectionMs: null, detectedAt: null, leftTableAt: null, ...over,
  };
}

test('metrics: gauges read the status at scrape time, fail-open included', async () => {
  let status: LbServiceStatus = {
    pool: 'p', instance: 't', vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 4, probePeer: null, lastError: null, failOpen: false,
    backends: [backend('a', { slots: 251 }), backend('b', { state: 'down', reason: 'probe failed: refused', inTable: false, slots: 0 })],
  };
  const m = new LbMetrics({ pool: 'p', vip: '198.18.1.2:51820', instance: 't' });
  m.attach({ status: () => status });
  const labels = 'pool="p",vip="198.18.1.2:51820",instance="t"';
  const text = await m.registry.metrics();
  const cases: [string, string][] = [
    ['fail-open off', `wgfabric_lb_fail_open{${labels}} 0`],
    ['generation', `wgfabric_lb_table_generation{${labels}} 4`],
    ['up backend', `wgfabric_lb_backend_up{backend="a",${labels}} 1`],
    ['down backend', `wgfabric_lb_backend_up{backend="b",${labels}} 0`],
    ['in table', `wgfabric_lb_backend_in_table{backend="b",${labels}} 0`],
    ['slots', `wgfabric_lb_backend_slots{backend="a",${labels}} 251`],
  ];
  for (const [name, line] of cases) assert.ok(text.split('\n').includes(line), `${name}: ${line}\n${text}`);
  status = { ...status, failOpen: true };
  assert.ok((await m.registry.metrics()).split('\n').includes(`wgfabric_lb_fail_open{${labels}} 1`), 'fail-open on');
});
