import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { ApiClient } from './api-client.js';
import { backoffMs, Endpoints, failureKind, mayFailOver, parseServerUrls } from './failover.js';

const A = 'http://198.18.250.1:7080';
const B = 'http://198.18.250.2:7080';
const C = 'http://198.18.250.3:7080';

test('parseServerUrls: one or several comma-separated URLs, trimmed, deduplicated; bad entries named', () => {
  assert.deepEqual(parseServerUrls(`${A}/`), [A]);
  assert.deepEqual(parseServerUrls(` ${A}, ${B},,${A} `), [A, B]);
  assert.deepEqual(parseServerUrls([A, C]), [A, C]);
  for (const [input, re] of [['', /no control-plane URL/], [' , ', /no control-plane URL/], [`${A},198.18.0.1:7080`, /"198.18.0.1:7080" is not/], [`${A},ftp://x`, /not an http/]] as const) {
    assert.throws(() => parseServerUrls(input), (e) => isFabricError(e, 'WGF_ERR_VALIDATION') && re.test(e.message), input);
  }
  assert.throws(() => new ApiClient({ baseUrl: 'nope' }), (e) => isFabricError(e, 'WGF_ERR_VALIDATION'));
});

test('failureKind: connect failures are not-sent, broken connections maybe-sent; writes fail over only when not sent', () => {
  const cause = (code: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
  assert.equal(failureKind(cause('ECONNREFUSED'), false), 'not-sent');
  assert.equal(failureKind(cause('UND_ERR_CONNECT_TIMEOUT'), false), 'not-sent');
  assert.equal(failureKind(cause('EHOSTUNREACH'), false), 'not-sent');
  assert.equal(failureKind(cause('UND_ERR_SOCKET'), false), 'maybe-sent');
  assert.equal(failureKind(Object.assign(new Error('timeout'), { name: 'TimeoutError' }), false), 'maybe-sent');
  assert.equal(failureKind(cause('ERR_TLS_CERT_ALTNAME_INVALID'), true), 'not-sent');
  assert.equal(mayFailOver('maybe-sent', 'GET'), true);
  assert.equal(mayFailOver('maybe-sent', 'PUT'), true);
  for (const m of ['POST', 'PATCH', 'DELETE']) {
    assert.equal(mayFailOver('maybe-sent', m), false, m);
    assert.equal(mayFailOver('not-sent', m), true, m);
    assert.equal(mayFailOver('refused', m), false, m);
  }
});

test('Endpoints: sticky on the one that answered, moves on after a failure, wraps around', () => {
  const e = new Endpoints([A, B, C]);
  assert.deepEqual(e.order(), [A, B, C]);
  e.failed(B); // not the active one: no move
  assert.equal(e.active, A);
  e.failed(A);
  assert.deepEqual(e.order(), [B, C, A]);
  e.succeeded(C);
  assert.deepEqual(e.order(), [C, A, B]);
  e.failed(C);
  assert.equal(e.active, A);
});

test('backoffMs: doubles per round up to the cap, in the upper half of it', () => {
  const o = { backoffMinMs: 100, backoffMaxMs: 1000 };
  assert.equal(backoffMs(1, o, () => 0), 50);
  assert.equal(backoffMs(1, o, () => 1), 100);
  assert.equal(backoffMs(3, o, () => 1), 400);
  assert.equal(backoffMs(9, o, () => 0), 500);
});

/** A fetch over scripted replicas: each URL origin answers with a function of the request. */
function replicas(script: Record<string, (method: string) => Response | Error>): { fetch: typeof fetch; calls: string[] } {
  const calls: string[] = [];
  const f = (async (url: URL | string, init?: RequestInit) => {
    const u = new URL(String(url));
    const method = init?.method ?? 'GET';
    calls.push(`${method} ${u.origin}${u.pathname}`);
    const r = script[u.origin]!(method);
    if (r instanceof Error) throw r;
    return r;
  }) as typeof fetch;
  return { fetch: f, calls };
}
const refused = () => new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
const reset = () => new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const unavailable = () => json(503, { error: { code: 'WGF_ERR_STORE_UNAVAILABLE', message: 'etcd: no leader' } });

test('ApiClient fails over: a dead replica is skipped and the next one stays in use', async () => {
  const r = replicas({ [new URL(A).origin]: refused, [new URL(B).origin]: () => json(200, { status: 'ok' }), [new URL(C).origin]: () => json(200, { status: 'ok' }) });
  const seen: string[] = [];
  const api = new ApiClient({ baseUrl: `${A},${B},${C}`, fetch: r.fetch, onFailover: (e) => seen.push(`${e.from}->${e.to}`) });
  assert.equal((await api.health()).status, 'ok');
  assert.equal((await api.health()).status, 'ok');
  assert.deepEqual(r.calls, [`GET ${A}/healthz`, `GET ${B}/healthz`, `GET ${B}/healthz`]);
  assert.deepEqual(seen, [`${A}->${B}`]);
  assert.equal(api.server, B);
});

test('ApiClient: a write that may have reached a dying replica is not repeated (outcome unknown); one never sent is', async () => {
  const ok = () => json(201, { name: 'x' });
  const r = replicas({ [new URL(A).origin]: reset, [new URL(B).origin]: ok });
  const api = new ApiClient({ baseUrl: [A, B], fetch: r.fetch });
  await assert.rejects(api.createPeer('p', { name: 'x', publicKey: 'k' }),
    (e) => isFabricError(e, 'WGF_ERR_UNAVAILABLE') && e.details?.['outcome'] === 'unknown' && /may or may not have been applied/.test(e.message));
  assert.deepEqual(r.calls, [`POST ${A}/v1/pools/p/peers`], 'not repeated on B');
  assert.equal(api.server, B, 'the next request goes to B');
  const r2 = replicas({ [new URL(A).origin]: refused, [new URL(B).origin]: ok });
  const api2 = new ApiClient({ baseUrl: [A, B], fetch: r2.fetch });
  assert.equal((await api2.createPeer('p', { name: 'x', publicKey: 'k' })).name, 'x');
  assert.deepEqual(r2.calls, [`POST ${A}/v1/pools/p/peers`, `POST ${B}/v1/pools/p/peers`]);
});

test('ApiClient: a replica answering 503 (store unreachable) passes reads on, not writes', async () => {
  const r = replicas({ [new URL(A).origin]: unavailable, [new URL(B).origin]: (m) => json(m === 'GET' ? 200 : 201, { status: 'ok' }) });
  const api = new ApiClient({ baseUrl: [A, B], fetch: r.fetch });
  assert.equal((await api.health()).status, 'ok');
  assert.deepEqual(r.calls, [`GET ${A}/healthz`, `GET ${B}/healthz`]);
  const w = replicas({ [new URL(A).origin]: unavailable, [new URL(B).origin]: () => json(201, {}) });
  await assert.rejects(new ApiClient({ baseUrl: [A, B], fetch: w.fetch }).createPool({ name: 'x' } as never), (e) => isFabricError(e, 'WGF_ERR_STORE_UNAVAILABLE'));
  assert.deepEqual(w.calls, [`POST ${A}/v1/pools`]);
});

test('ApiClient: every replica down: rounds with backoff, then one error naming each replica', async () => {
  const r = replicas({ [new URL(A).origin]: refused, [new URL(B).origin]: refused });
  const api = new ApiClient({ baseUrl: [A, B], fetch: r.fetch, failover: { rounds: 2, backoffMinMs: 1, backoffMaxMs: 2 } });
  await assert.rejects(api.health(), (e) => isFabricError(e, 'WGF_ERR_UNAVAILABLE') && e.message.includes(A) && e.message.includes(B) && /2 tried/.test(e.message));
  assert.equal(r.calls.length, 6, '3 rounds over 2 replicas');
  const one = replicas({ [new URL(A).origin]: refused });
  await assert.rejects(new ApiClient({ baseUrl: A, fetch: one.fetch }).health(), (e) => isFabricError(e, 'WGF_ERR_UNAVAILABLE') && e.message === `cannot reach the control plane at ${A}: ECONNREFUSED`);
  assert.equal(one.calls.length, 1, 'one URL: no retry, as before');
});
