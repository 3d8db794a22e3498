import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Value } from '@sinclair/typebox/value';
import { ErrorBodySchema, PageSchema, PeerSchema, PoolSchema, NodeSchema, AuditEntrySchema, TokenCreatedSchema, LbReportSchema, MAX_LB_BACKENDS } from '../protocol/api.js';
import { pubkey, WEAK_KEYS } from '../control/testing/fixtures.js';
import { harness, type Harness } from './testing/harness.js';

const json = { 'content-type': 'application/json' };
const LB = {
  vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 2, lastError: null, failOpen: false,
  backends: [{ name: 'n1', state: 'up', reason: 'healthy', inTable: true, slots: 126 }, { name: 'n2', state: 'down', reason: 'probe failed: timeout after 300 ms', inTable: false, slots: 0 }],
};
const lbWith = (over: Record<string, unknown>, backend: Record<string, unknown> = {}) => ({ ...LB, ...over, backends: [{ ...LB.backends[0], ...backend }] });

describe('API via inject', () => {
  let h: Harness;
  let auth: { authorization: string };
  before(async () => {
    h = await harness();
    auth = h.bearer(h.tokens.admin);
  });
  after(() => h.close());

  const req = (method: string, url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    h.app.inject({ method: method as 'GET', url, headers: { ...auth, ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });

  test('validation: every malformed input gets its precise code and an error body', async () => {
    const big = { name: 'big', publicKey: pubkey(), labels: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}`, 'v'.repeat(20)])) };
    const cases: [string, string, string, unknown, number, string, Record<string, string>?][] = [
      ['bad key', 'POST', '/v1/pools/p1/peers', { name: 'a', publicKey: '!'.repeat(44) }, 400, 'WGF_ERR_INVALID_KEY'],
      ['short key', 'POST', '/v1/pools/p1/peers', { name: 'a', publicKey: 'abc' }, 400, 'WGF_ERR_VALIDATION'],
      ['low-order key', 'POST', '/v1/pools/p1/peers', { name: 'a', publicKey: WEAK_KEYS[2] }, 400, 'WGF_ERR_WEAK_KEY'],
      ['zero key', 'POST', '/v1/pools/p1/peers', { name: 'a', publicKey: WEAK_KEYS[0] }, 400, 'WGF_ERR_WEAK_KEY'],
      ['cidr host bits', 'POST', '/v1/pools/p1/peers', { name: 'a', publicKey: pubkey(), allowedIps: ['192.168.1.7/24'] }, 400, 'WGF_ERR_INVALID_CIDR'],
      ['cidr garbage', 'POST', '/v1/pools', { name: 'zz', ipv4Prefix: '10.0.0.0/99' }, 400, 'WGF_ERR_INVALID_CIDR'],
      ['address outside', 'POST', '/v1/pools/p1/peers', { name: 'a', publicKey: pubkey(), addresses: ['10.9.0.1'] }, 400, 'WGF_ERR_ADDRESS_OUTSIDE_POOL'],
      ['unknown field', 'POST', '/v1/pools/p1/peers', { name: 'a', publicKey: pubkey(), color: 'red' }, 400, 'WGF_ERR_VALIDATION'],
      ['bad label key', 'POST', '/v1/pools/p1/nodes', { name: 'zz', labels: { 'Bad Key': 'x' } }, 400, 'WGF_ERR_VALIDATION'],
      ['status extra field', 'PUT', '/v1/pools/p1/nodes/n1/status', { appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready: true, message: '', reportedAt: 'x' }, 400, 'WGF_ERR_VALIDATION'],
      ['wrong type', 'POST', '/v1/pools', { name: 'zz', ipv4Prefix: '10.0.0.0/24', mtu: '1400' }, 400, 'WGF_ERR_VALIDATION'],
      ['no coercion of booleans', 'PATCH', '/v1/pools/p1/nodes/n1', { adminState: 1 }, 400, 'WGF_ERR_VALIDATION'],
      ['mtu range', 'POST', '/v1/pools', { name: 'zz', ipv4Prefix: '10.0.0.0/24', mtu: 100 }, 400, 'WGF_ERR_VALIDATION'],
      ['missing field', 'POST', '/v1/pools/p1/peers', { name: 'a' }, 400, 'WGF_ERR_VALIDATION'],
      ['array body', 'POST', '/v1/pools', [1, 2], 400, 'WGF_ERR_VALIDATION'],
      ['huge body', 'POST', '/v1/pools/p1/peers', big, 413, 'WGF_ERR_PAYLOAD_TOO_LARGE'],
      ['text body', 'POST', '/v1/pools', 'name=x', 415, 'WGF_ERR_UNSUPPORTED_MEDIA', { 'content-type': 'text/plain' }],
      ['form body', 'POST', '/v1/pools', 'name=x', 415, 'WGF_ERR_UNSUPPORTED_MEDIA', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['broken json', 'POST', '/v1/pools', '{"name":', 400, 'WGF_ERR_VALIDATION', json],
      ['proto pollution', 'POST', '/v1/pools', '{"name":"zz","ipv4Prefix":"10.0.0.0/24","__proto__":{"admin":true}}', 400, 'WGF_ERR_VALIDATION', json],
      ['bad name in path', 'GET', '/v1/pools/UPPER', undefined, 400, 'WGF_ERR_VALIDATION'],
      ['dotdot in path', 'GET', '/v1/pools/%2e%2e/peers', undefined, 404, 'WGF_ERR_NOT_FOUND'],
      ['encoded slash in name', 'GET', '/v1/pools/..%2f..%2fetc/peers', undefined, 400, 'WGF_ERR_VALIDATION'],
      ['nul in path', 'GET', '/v1/pools/p1%00/peers', undefined, 400, 'WGF_ERR_VALIDATION'],
      ['limit too big', 'GET', '/v1/pools?limit=1001', undefined, 400, 'WGF_ERR_VALIDATION'],
      ['unknown query', 'GET', '/v1/pools?color=red', undefined, 400, 'WGF_ERR_VALIDATION'],
      ['query where none is taken', 'GET', '/v1/pools/p1?x=1', undefined, 400, 'WGF_ERR_VALIDATION'],
      ['repeated query', 'GET', '/v1/pools?limit=1&limit=2', undefined, 400, 'WGF_ERR_VALIDATION'],
      ['foreign cursor', 'GET', `/v1/pools/p1/peers?cursor=${Buffer.from('tokens/x').toString('base64url')}`, undefined, 400, 'WGF_ERR_VALIDATION'],
      ['bad If-Match', 'PATCH', '/v1/pools/p1', { description: 'x' }, 400, 'WGF_ERR_VALIDATION', { 'if-match': 'yesterday' }],
      ['unknown route', 'GET', '/v1/nothing-here', undefined, 404, 'WGF_ERR_NOT_FOUND'],
      ['missing object', 'GET', '/v1/pools/p1/peers/ghost', undefined, 404, 'WGF_ERR_NOT_FOUND'],
      ['wrong method', 'PUT', '/v1/pools', { name: 'x' }, 404, 'WGF_ERR_NOT_FOUND'],
      ['lb report extra field', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({ reportedAt: '2030-01-01T00:00:00Z' }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report extra backend field', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({}, { weight: 1 }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report bad state', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({}, { state: 'healthy' }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report bad vip', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({ vip: 'vip.example.com' }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report vip with prefix', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({ vip: '198.18.1.2/32' }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report bad backend name', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({}, { name: 'Bad Name' }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report control chars', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({}, { reason: 'a\nb' }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report long reason', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({}, { reason: 'x'.repeat(513) }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report slots beyond the table', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({}, { slots: 252 }), 400, 'WGF_ERR_VALIDATION'],
      ['lb report repeated backend', 'PUT', '/v1/pools/p1/lbs/lb1/status', { ...LB, backends: [LB.backends[0], LB.backends[0]] }, 400, 'WGF_ERR_VALIDATION'],
      ['lb report missing pool', 'PUT', '/v1/pools/nope/lbs/lb1/status', LB, 404, 'WGF_ERR_NOT_FOUND'],
      ['lb list missing pool', 'GET', '/v1/pools/nope/lbs', undefined, 404, 'WGF_ERR_NOT_FOUND'],
      ['missing lb report', 'GET', '/v1/pools/p1/lbs/ghost', undefined, 404, 'WGF_ERR_NOT_FOUND'],
      ['forget a missing lb report', 'DELETE', '/v1/pools/p1/lbs/ghost', undefined, 404, 'WGF_ERR_NOT_FOUND'],
      ['node weight 0', 'PATCH', '/v1/pools/p1/nodes/n1', { weight: 0 }, 400, 'WGF_ERR_VALIDATION'],
      ['node weight 1001', 'PATCH', '/v1/pools/p1/nodes/n1', { weight: 1001 }, 400, 'WGF_ERR_VALIDATION'],
      ['node weight fraction', 'POST', '/v1/pools/p1/nodes', { name: 'zz', weight: 1.5 }, 400, 'WGF_ERR_VALIDATION'],
      ['node weight as a string', 'POST', '/v1/pools/p1/nodes', { name: 'zz', weight: '2' }, 400, 'WGF_ERR_VALIDATION'],
      ['node weight 0 on create', 'POST', '/v1/pools/p1/nodes', { name: 'zz', weight: 0 }, 400, 'WGF_ERR_VALIDATION'],
      ['lb table size not a prime', 'PATCH', '/v1/pools/p1', { lb: { tableSize: 65536 } }, 400, 'WGF_ERR_VALIDATION'],
      ['lb table size 2', 'PATCH', '/v1/pools/p1', { lb: { tableSize: 2 } }, 400, 'WGF_ERR_VALIDATION'],
      ['lb table size too big', 'PATCH', '/v1/pools/p1', { lb: { tableSize: 16777259 } }, 400, 'WGF_ERR_VALIDATION'],
      ['lb table size not a prime on create', 'POST', '/v1/pools', { name: 'zz', ipv4Prefix: '10.0.0.0/24', lb: { tableSize: 1000 } }, 400, 'WGF_ERR_VALIDATION'],
      ['lb unknown affinity', 'PATCH', '/v1/pools/p1', { lb: { affinity: 'dst-ip' } }, 400, 'WGF_ERR_VALIDATION'],
      ['lb unknown field', 'PATCH', '/v1/pools/p1', { lb: { seed: 1 } }, 400, 'WGF_ERR_VALIDATION'],
      ['lb report without affinity', 'PUT', '/v1/pools/p1/lbs/lb1/status', { ...LB, affinity: undefined }, 400, 'WGF_ERR_VALIDATION'],
      ['lb report unknown affinity', 'PUT', '/v1/pools/p1/lbs/lb1/status', lbWith({ affinity: 'dst-ip' }), 400, 'WGF_ERR_VALIDATION'],
    ];
    const rev = await h.cp.currentRevision();
    for (const [label, method, url, body, status, code, headers] of cases) {
      const payload = typeof body === 'string' || body === undefined ? body : JSON.stringify(body);
      const res = await req(method, url, payload, { ...(typeof body === 'object' ? json : {}), ...(headers ?? {}) });
      assert.equal(res.statusCode, status, `${label}: ${res.body}`);
      const b = res.json();
      assert.ok(Value.Check(ErrorBodySchema, b), `${label}: error body shape`);
      assert.equal(b.error.code, code, `${label}: ${b.error.message}`);
      assert.doesNotMatch(res.body, /\/work\/|node_modules|at .*\.ts:\d+/, `${label}: no paths or stacks`);
    }
    assert.equal(await h.cp.currentRevision(), rev, 'no rejected request wrote anything');
  });

  test('CRUD flow with ETag and If-Match; responses match their schemas', async () => {
    const created = await req('POST', '/v1/pools/p1/peers', { name: 'alice', publicKey: pubkey(), labels: { team: 'a' } });
    assert.equal(created.statusCode, 201, created.body);
    const peer = created.json();
    assert.ok(Value.Check(PeerSchema, peer));
    assert.equal(created.headers.etag, `"${peer.revision}"`);
    const got = await req('GET', '/v1/pools/p1/peers/alice');
    assert.equal(got.headers.etag, `"${peer.revision}"`);
    const stale = await req('PATCH', '/v1/pools/p1/peers/alice', { enabled: false }, { 'if-match': `"${peer.revision - 1}"` });
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.json().error.code, 'WGF_ERR_CONFLICT');
    const ok = await req('PATCH', '/v1/pools/p1/peers/alice', { enabled: false }, { 'if-match': `"${peer.revision}"` });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().enabled, false);
    const staleDelete = await req('DELETE', '/v1/pools/p1/peers/alice', undefined, { 'if-match': `"${peer.revision}"` });
    assert.equal(staleDelete.statusCode, 409);
    const list = await req('GET', '/v1/pools/p1/peers?enabled=false&label=team%3Da&limit=10');
    assert.ok(Value.Check(PageSchema(PeerSchema), list.json()), list.body);
    assert.deepEqual(list.json().items.map((p: { name: string }) => p.name), ['alice']);
    assert.ok(Value.Check(PageSchema(PoolSchema), (await req('GET', '/v1/pools')).json()));
    assert.ok(Value.Check(NodeSchema, (await req('GET', '/v1/pools/p1/nodes/n1')).json()));
    assert.ok(Value.Check(PageSchema(AuditEntrySchema), (await req('GET', '/v1/audit?kind=peer')).json()));
    const tok = await req('POST', '/v1/tokens', { name: 'ci', role: 'operator' });
    assert.equal(tok.statusCode, 201);
    assert.ok(Value.Check(TokenCreatedSchema, tok.json()));
    assert.equal((await req('DELETE', '/v1/pools/p1/peers/alice', undefined, { 'if-match': ok.headers.etag as string })).statusCode, 204);
    const inUse = await req('DELETE', '/v1/pools/p1');
    assert.equal(inUse.statusCode, 409);
    assert.equal(inUse.json().error.code, 'WGF_ERR_IN_USE');
    const pool = (await req('POST', '/v1/pools', { name: 'gone', ipv4Prefix: '10.50.0.0/24' })).json();
    assert.equal((await req('DELETE', `/v1/pools/gone?force=true`, undefined, { 'if-match': `"${pool.revision}"` })).statusCode, 204);
  });

  test('node weight and pool LB settings: POST and PATCH round trips; errors name the field', async () => {
    const node = await req('POST', '/v1/pools/p2/nodes', { name: 'w1', weight: 7 });
    assert.equal(node.statusCode, 201, node.body);
    assert.ok(Value.Check(NodeSchema, node.json()));
    assert.equal(node.json().weight, 7);
    assert.equal((await req('POST', '/v1/pools/p2/nodes', { name: 'w2' })).json().weight, 1, 'default 1');
    const patched = await req('PATCH', '/v1/pools/p2/nodes/w1', { weight: 1000 }, { 'if-match': node.headers.etag as string });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal(patched.json().weight, 1000);
    assert.equal((await req('GET', '/v1/pools/p2/nodes/w1')).json().weight, 1000);
    const changes = (await req('GET', `/v1/pools/p2/changes?since=${node.json().revision}`)).json().changes;
    assert.deepEqual(changes.map((c: { type: string; node?: { weight: number } }) => [c.type, c.node?.weight]), [['node.put', 1], ['node.put', 1000]]);
    assert.equal((await req('GET', '/v1/audit?object=pools/p2/nodes/w1')).json().items.at(-1).action, 'update', 'audited like any node update');

    const pool = await req('POST', '/v1/pools', { name: 'lbp', ipv4Prefix: '10.60.0.0/24', lb: { affinity: 'src-ip' } });
    assert.equal(pool.statusCode, 201, pool.body);
    assert.ok(Value.Check(PoolSchema, pool.json()));
    assert.deepEqual(pool.json().lb, { affinity: 'src-ip', tableSize: 65537 });
    const up = await req('PATCH', '/v1/pools/lbp', { lb: { tableSize: 16381 } });
    assert.equal(up.statusCode, 200, up.body);
    assert.deepEqual(up.json().lb, { affinity: 'src-ip', tableSize: 16381 });
    assert.deepEqual((await req('GET', '/v1/pools/lbp')).json().lb, { affinity: 'src-ip', tableSize: 16381 });
    assert.deepEqual((await req('GET', '/v1/pools/lbp/snapshot')).json().pool.lb, { affinity: 'src-ip', tableSize: 16381 });

    const fields: [string, string, unknown, string][] = [
      ['PATCH', '/v1/pools/lbp', { lb: { tableSize: 65536 } }, 'lb.tableSize'],
      ['PATCH', '/v1/pools/lbp', { lb: { affinity: 'dst-ip' } }, 'body.lb.affinity'],
      ['PATCH', '/v1/pools/p2/nodes/w1', { weight: 0 }, 'body.weight'],
      ['PATCH', '/v1/pools/p2/nodes/w1', { weight: 1001 }, 'body.weight'],
    ];
    for (const [method, url, body, field] of fields) {
      const res = await req(method, url, body);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error.code, 'WGF_ERR_VALIDATION');
      assert.equal(res.json().error.details?.field, field, `${url} ${JSON.stringify(body)}: ${res.body}`);
    }
    assert.deepEqual((await req('GET', '/v1/pools/lbp')).json().lb, { affinity: 'src-ip', tableSize: 16381 }, 'unchanged');
  });

  test('LB reports: put, get, list, forget; stamped by the server, not audited, up to MAX_LB_BACKENDS backends', async () => {
    const audit = (await req('GET', '/v1/audit?limit=1000')).json().items.length;
    const put = await req('PUT', '/v1/pools/p1/lbs/lb1/status', LB);
    assert.equal(put.statusCode, 200, put.body);
    const rep = put.json();
    assert.ok(Value.Check(LbReportSchema, rep), put.body);
    assert.deepEqual([rep.pool, rep.instance, rep.backends[1]?.reason], ['p1', 'lb1', 'probe failed: timeout after 300 ms']);
    assert.ok(Date.parse(rep.reportedAt) > 0);
    assert.equal(put.headers.etag, `"${rep.revision}"`);
    assert.deepEqual((await req('GET', '/v1/pools/p1/lbs/lb1')).json(), rep);
    const many = { ...LB, tableSize: 65537, backends: Array.from({ length: MAX_LB_BACKENDS }, (_, i) => ({ name: `backend-${i}`, state: 'down', reason: `probe failed: ${'x'.repeat(200)}`, inTable: false, slots: 0 })) };
    assert.ok(JSON.stringify(many).length > 64 * 1024, 'bigger than the default body limit');
    assert.equal((await req('PUT', '/v1/pools/p1/lbs/lb2/status', many)).statusCode, 200);
    const list = await req('GET', '/v1/pools/p1/lbs?limit=1');
    assert.ok(Value.Check(PageSchema(LbReportSchema), list.json()));
    assert.deepEqual(list.json().items.map((r: { instance: string }) => r.instance), ['lb1']);
    const rest = (await req('GET', `/v1/pools/p1/lbs?cursor=${list.json().next}`)).json();
    assert.deepEqual(rest.items.map((r: { instance: string; backends: unknown[] }) => [r.instance, r.backends.length]), [['lb2', MAX_LB_BACKENDS]]);
    assert.equal((await req('GET', '/v1/pools/p2/lbs')).json().items.length, 0, 'per pool');
    assert.equal((await req('DELETE', '/v1/pools/p1/lbs/lb2')).statusCode, 204);
    assert.equal((await req('DELETE', '/v1/pools/p1/lbs/lb1', undefined, { 'if-match': '"1"' })).statusCode, 409);
    assert.equal((await req('DELETE', '/v1/pools/p1/lbs/lb1', undefined, { 'if-match': put.headers.etag as string })).statusCode, 204);
    assert.equal((await req('GET', '/v1/pools/p1/lbs')).json().items.length, 0);
    assert.equal((await req('GET', '/v1/audit?limit=1000')).json().items.length, audit, 'reports and forgetting them are not audited');
  });

  test('private key only for the pool\'s nodes and admins, never in other answers', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/pools/p1/private-key', headers: h.bearer(h.tokens.node) });
    assert.equal(res.statusCode, 200);
    const { privateKey } = res.json();
    assert.equal(res.headers['cache-control'], 'no-store');
    for (const url of ['/v1/pools', '/v1/pools/p1', '/v1/pools/p1/snapshot', '/v1/pools/p1/changes?since=0', '/v1/audit?limit=1000']) {
      const body = (await req('GET', url)).body;
      assert.ok(!body.includes(privateKey), url);
      assert.doesNotMatch(body, /privateKeySealed|"v1\.[0-9a-f]{16}\./, url);
    }
  });

  test('openapi document lists every route; metrics use a private registry', async () => {
    const doc = (await req('GET', '/v1/openapi.json')).json();
    assert.equal(doc.openapi, '3.0.3');
    assert.ok(doc.paths['/v1/pools/{pool}/peers'].post.requestBody);
    assert.ok(doc.paths['/v1/pools/{pool}/lbs/{instance}/status'].put.requestBody, 'LB report route documented');
    assert.ok(doc.paths['/v1/pools/{pool}/lbs'].get && doc.paths['/v1/pools/{pool}/lbs/{instance}'].get && doc.paths['/v1/pools/{pool}/lbs/{instance}'].delete);
    const m = await req('GET', '/metrics');
    assert.match(m.body, /wgfabric_http_requests_total\{method="GET",route="\/v1\/openapi.json",status="200"\} 1/);
    assert.match(m.body, /wgfabric_pool_peers\{pool="p1"\} \d+/);
    assert.match(m.body, /wgfabric_store_revision \d+/);
    assert.doesNotMatch(m.body, /process_cpu/, 'default (global) metrics are not mixed in');
  });
});

test('an unexpected error is 500 WGF_ERR_INTERNAL, logged once, without the secret it carried', async () => {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } });
  const h = await harness({ logger: { level: 'error', stream } });
  try {
    const secret = h.tokens.operator;
    // Make the store blow up with an error whose message holds a secret.
    h.cp.store.range = async () => { throw new Error(`disk on fire near ${secret}`); };
    const res = await h.app.inject({ method: 'GET', url: '/v1/pools', headers: h.bearer(h.tokens.admin) });
    assert.equal(res.statusCode, 500);
    assert.equal(res.json().error.code, 'WGF_ERR_INTERNAL');
    assert.doesNotMatch(res.body, /disk on fire/);
    const errors = lines.filter((l) => l.includes('request failed'));
    assert.equal(errors.length, 1, lines.join('\n'));
    assert.match(errors[0]!, /disk on fire/);
    assert.ok(!lines.join('').includes(secret), 'the token is redacted from the log');
  } finally {
    await h.close();
  }
});
