import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsRegistry } from './metrics.js';

test('dns metrics: updates and failures as counters, records per name as a gauge', async () => {
  const s = { updates: 0, failures: 0, records: 2 };
  const r = dnsRegistry({ name: 'vpn.lab.test.', updates: () => s.updates, failures: () => s.failures, records: () => s.records });
  s.updates = 3;
  s.failures = 1;
  let text = await r.metrics();
  assert.match(text, /wgfabric_dns_updates_total\{name="vpn\.lab\.test\."\} 3/);
  assert.match(text, /wgfabric_dns_update_failures_total\{name="vpn\.lab\.test\."\} 1/);
  assert.match(text, /wgfabric_dns_records\{name="vpn\.lab\.test\."\} 2/);
  s.updates = 5;
  s.records = 1;
  text = await r.metrics();
  assert.match(text, /wgfabric_dns_updates_total\{name="vpn\.lab\.test\."\} 5/, 'a counter follows the source, never resets');
  assert.match(text, /wgfabric_dns_records\{name="vpn\.lab\.test\."\} 1/);
});
