import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { pubkey } from '../control/testing/fixtures.js';
import { allowed, type Access } from './policy.js';
import { harness, type Harness, type Tokens } from './testing/harness.js';
import { uiFixture } from './testing/ui-fixture.js';

/**
 * The auth matrix. EXPECTED is written out by hand (not derived from the routes' own config),
 * and the test fails when a registered route is missing from it, so no new route can escape.
 * Roles: public | any (every valid token, node included) | read-only < operator < admin,
 * plus '+node-pool' (a node token of the route's pool) or '+node-self' (only its own node).
 */
const EXPECTED: Record<string, string> = {
  'GET /healthz': 'public',
  'GET /readyz': 'any',
  'GET /metrics': 'read-only',
  'GET /v1/whoami': 'any',
  'GET /v1/openapi.json': 'read-only',
  'GET /v1/audit': 'read-only',
  'GET /v1/tokens': 'admin',
  'POST /v1/tokens': 'admin',
  'DELETE /v1/tokens/:id': 'admin',
  'POST /v1/admin/compact': 'admin',
  'POST /v1/admin/store/check': 'admin',
  'POST /v1/admin/master-key/rotate': 'admin',
  'GET /v1/pools': 'read-only',
  'POST /v1/pools': 'admin',
  'GET /v1/pools/:pool': 'read-only',
  'PATCH /v1/pools/:pool': 'admin',
  'DELETE /v1/pools/:pool': 'admin',
  'GET /v1/pools/:pool/private-key': 'admin+node-pool',
  'GET /v1/pools/:pool/snapshot': 'read-only+node-pool',
  'GET /v1/pools/:pool/changes': 'read-only+node-pool',
  'GET /v1/pools/:pool/watch': 'read-only+node-pool',
  'GET /v1/pools/:pool/readiness': 'read-only+node-pool',
  'GET /v1/pools/:pool/nodes': 'read-only',
  'POST /v1/pools/:pool/nodes': 'operator',
  'GET /v1/pools/:pool/nodes/:node': 'read-only',
  'PATCH /v1/pools/:pool/nodes/:node': 'operator',
  'DELETE /v1/pools/:pool/nodes/:node': 'operator',
  'PUT /v1/pools/:pool/nodes/:node/status': 'admin+node-self',
  'GET /v1/pools/:pool/peers': 'read-only',
  'POST /v1/pools/:pool/peers': 'operator',
  'POST /v1/pools/:pool/peers/batch': 'operator',
  'GET /v1/pools/:pool/peers/:peer': 'read-only',
  'PATCH /v1/pools/:pool/peers/:peer': 'operator',
  'DELETE /v1/pools/:pool/peers/:peer': 'operator',
  'GET /v1/pools/:pool/lbs': 'read-only',
  'GET /v1/pools/:pool/lbs/:instance': 'read-only',
  'PUT /v1/pools/:pool/lbs/:instance/status': 'operator',
  'DELETE /v1/pools/:pool/lbs/:instance': 'operator',
  'GET /ui': 'public',
  'GET /ui/': 'public',
  'GET /ui/app.js': 'public',
  'GET /ui/app.css': 'public',
  'PUT /v1/pools/:pool/nodes/:node/sessions': 'admin+node-self',
  'GET /v1/sessions/summary': 'read-only',
};

type Who = keyof Tokens;
const LADDER = ['read-only', 'operator', 'admin'];

/** Whether `who` (node = p1/n1, node2 = p1/n2; routes are called on p1/n1) may call a route. */
function mayCall(rule: string, who: Who): boolean {
  const [min, nodeRule] = rule.split('+') as [string, string | undefined];
  if (min === 'public' || min === 'any') return true;
  if (who === 'node') return nodeRule !== undefined;
  if (who === 'node2') return nodeRule === 'node-pool';
  const role = { admin: 'admin', operator: 'operator', readOnly: 'read-only' }[who];
  return LADDER.indexOf(role) >= LADDER.indexOf(min);
}

const STATUS = { appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready: true, message: '' };
const LB_REPORT = {
  vip: '198.18.1.2', port: 51820, tableSize: 251, affinity: 'src-ip-port', generation: 1, lastError: null, failOpen: false,
  backends: [{ name: 'n1', state: 'up', reason: 'healthy', inTable: true, slots: 251 }],
} as const;
const BODIES: Record<string, () => unknown> = {
  'POST /v1/tokens': () => ({ name: `t${Math.random().toString(36).slice(2, 8)}`, role: 'read-only' }),
  'POST /v1/admin/compact': () => ({}),
  'POST /v1/admin/store/check': () => ({}),
  'POST /v1/admin/master-key/rotate': () => ({}),
  'POST /v1/pools': () => ({ name: `m${Math.random().toString(36).slice(2, 8)}`, ipv4Prefix: '10.9.0.0/24' }),
  'PATCH /v1/pools/:pool': () => ({ description: 'x' }),
  'POST /v1/pools/:pool/nodes': () => ({ name: `n${Math.random().toString(36).slice(2, 8)}` }),
  'POST /v1/pools/:pool/peers/batch': () => ({ items: [{ op: 'create', peer: { name: `b${Math.random().toString(36).slice(2, 8)}`, publicKey: pubkey() } }] }),
  'PATCH /v1/pools/:pool/nodes/:node': () => ({ adminState: 'draining' }),
  'PUT /v1/pools/:pool/nodes/:node/status': () => STATUS,
  'POST /v1/pools/:pool/peers': () => ({ name: `p${Math.random().toString(36).slice(2, 8)}`, publicKey: pubkey() }),
  'PATCH /v1/pools/:pool/peers/:peer': () => ({ enabled: false }),
  'PUT /v1/pools/:pool/lbs/:instance/status': () => LB_REPORT,
  'PUT /v1/pools/:pool/nodes/:node/sessions': () => ({ epoch: 'auth-matrix', seq: 1, reset: true, peers: [], removed: [] }),
};

async function call(h: Harness, method: string, route: string, token: string | null, victimToken: string, pool = 'p1') {
  const url = route.replace(':pool', pool).replace(':node', 'n1').replace(':peer', 'x1').replace(':instance', 'lb1').replace(':id', victimToken)
    + (route.endsWith('/changes') || route.endsWith('/watch') ? '?since=0' : '');
  const body = BODIES[`${method} ${route}`]?.();
  const res = await h.app.inject({
    method: method as 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(body === undefined ? {} : { payload: body as object }),
    // The watch never ends by itself: take the head and drop the stream.
    ...(route.endsWith('/watch') || route.endsWith('/readiness') ? { payloadAsStream: true } : {}),
  });
  if (!route.endsWith('/watch') && !route.endsWith('/readiness')) return { statusCode: res.statusCode, body: res.body, json: () => res.json() };
  const stream = res.stream();
  let text = '';
  if (res.statusCode === 200) stream.destroy();
  else for await (const chunk of stream) text += String(chunk);
  return { statusCode: res.statusCode, body: text, json: () => JSON.parse(text) };
}

test('auth matrix: every registered route, every role', async (t) => {
  const uiDir = uiFixture(); // the dashboard's public files (server/ui.ts)
  t.after(() => rmSync(uiDir, { recursive: true, force: true }));
  const routes: { method: string; url: string }[] = [];
  const probe = await harness({ onRoute: (r) => routes.push(r), uiDir });
  await probe.close();
  const seen = routes.map((r) => `${r.method} ${r.url}`);
  assert.deepEqual([...seen].sort(), Object.keys(EXPECTED).sort(), 'every route has a row in EXPECTED and every row a route');

  for (const key of seen) {
    const [method, route] = key.split(' ') as [string, string];
    const h = await harness({ heartbeatMs: 60_000, uiDir });
    try {
      await h.cp.createPeer('p1', { name: 'x1', publicKey: pubkey() }, { actor: 'fixture' });
      await h.cp.putLbStatus('p1', 'lb1', { ...LB_REPORT, backends: [...LB_REPORT.backends] }, { actor: 'fixture' });
      const victim = (await h.cp.createToken({ name: 'victim', role: 'read-only' }, { actor: 'fixture' })).token.id;
      const none = await call(h, method, route, null, victim);
      if (EXPECTED[key] === 'public') assert.ok(none.statusCode < 400, `${key} without token: ${none.statusCode}`);
      else {
        assert.equal(none.statusCode, 401, `${key} without token`);
        assert.equal(none.json().error.code, 'WGF_ERR_UNAUTHORIZED');
        const forged = await call(h, method, route, 'wgf_0123456789abcdef_' + 'A'.repeat(43), victim);
        assert.equal(forged.statusCode, 401, `${key} with a forged token`);
      }
      // Denied roles first (they change nothing), then allowed ones, weakest first.
      const order: Who[] = ['node2', 'node', 'readOnly', 'operator', 'admin'];
      for (const who of order.filter((w) => !mayCall(EXPECTED[key]!, w))) {
        const res = await call(h, method, route, h.tokens[who], victim);
        assert.equal(res.statusCode, 403, `${key} as ${who}: ${res.body}`);
        assert.equal(res.json().error.code, 'WGF_ERR_FORBIDDEN');
      }
      for (const who of order.filter((w) => mayCall(EXPECTED[key]!, w))) {
        const res = await call(h, method, route, h.tokens[who], victim);
        assert.ok(res.statusCode !== 401 && res.statusCode !== 403, `${key} as ${who}: ${res.statusCode} ${res.body}`);
        // A rotation needs a second key in the key file (WGF_ERR_VALIDATION here); master-key.test.ts covers it.
        if (who === 'admin' && !method.startsWith('DELETE') && key !== 'POST /v1/admin/master-key/rotate') assert.ok(res.statusCode < 300, `${key} as admin: ${res.statusCode} ${res.body}`);
      }
      // A node token never reaches another pool.
      if (EXPECTED[key]!.includes('+node')) {
        const res = await call(h, method, route, h.tokens.node, victim, 'p2');
        assert.equal(res.statusCode, 403, `${key} as node of p1 on p2`);
      }
    } finally {
      await h.close();
    }
  }
});

test('policy table: the ladder and node binding', () => {
  const tok = (role: 'admin' | 'operator' | 'read-only' | 'node', pool: string | null = null, node: string | null = null) =>
    ({ id: 'x', name: 'x', role, pool, node, revision: 1, createdAt: '', expiresAt: null });
  const self: Access = { kind: 'role', min: 'admin', node: 'self' };
  assert.equal(allowed(self, tok('node', 'p', 'n'), { pool: 'p', node: 'n' }), true);
  assert.equal(allowed(self, tok('node', 'p', 'n'), { pool: 'p', node: 'm' }), false);
  assert.equal(allowed(self, tok('operator'), { pool: 'p', node: 'n' }), false);
  assert.equal(allowed({ kind: 'role', min: 'operator' }, tok('node', 'p', 'n'), { pool: 'p' }), false);
  assert.equal(allowed({ kind: 'role', min: 'read-only', node: 'pool' }, tok('node', 'p', 'n'), { pool: 'q' }), false);
  assert.equal(allowed({ kind: 'role', min: 'read-only' }, tok('read-only'), {}), true);
});
