import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness } from '../server/testing/harness.js';
import { rejectsWith } from './testing/fixtures.js';

const report = (rttMs?: unknown) => ({
  vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip-port' as const, generation: 1, lastError: null, failOpen: false,
  backends: [{ name: 'n1', state: 'up' as const, reason: 'healthy', inTable: true, slots: 251, ...(rttMs === undefined ? {} : { rttMs }) }],
});

test('LB reports carry each backend\'s probe RTT (ms, or null before a probe answered); older LBs send none', async () => {
  const h = await harness();
  try {
    const sys = { actor: 'fixture' };
    assert.equal((await h.cp.putLbStatus('p1', 'lb1', report(0.42) as never, sys)).backends[0]!.rttMs, 0.42);
    assert.equal((await h.cp.getLbStatus('p1', 'lb1')).backends[0]!.rttMs, 0.42, 'stored and read back');
    assert.equal((await h.cp.putLbStatus('p1', 'lb1', report(null) as never, sys)).backends[0]!.rttMs, null);
    assert.ok(!('rttMs' in (await h.cp.putLbStatus('p1', 'lb1', report() as never, sys)).backends[0]!), 'absent stays absent');
    for (const bad of [-1, 60_001]) await rejectsWith(h.cp.putLbStatus('p1', 'lb1', report(bad) as never, sys), 'WGF_ERR_VALIDATION', String(bad));
    // Over HTTP: the schema refuses a string, the API lists the figure.
    const put = (body: unknown) => h.app.inject({ method: 'PUT', url: '/v1/pools/p1/lbs/lb2/status', headers: h.bearer(h.tokens.operator), payload: body as object });
    assert.equal((await put(report('1.5'))).statusCode, 400);
    assert.equal((await put(report(1.5))).statusCode, 200);
    const listed = (await h.app.inject({ method: 'GET', url: '/v1/pools/p1/lbs/lb2', headers: h.bearer(h.tokens.readOnly) })).json();
    assert.equal(listed.backends[0].rttMs, 1.5);
  } finally {
    await h.close();
  }
});
