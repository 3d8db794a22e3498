import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SseParser, type SseEvent } from '../client/sse.js';
import { pubkey } from '../control/testing/fixtures.js';
import { harness, type Harness } from './testing/harness.js';

/** Resolves when `pred(active)` holds for the number of open watches (checked on every change). */
function watchersGauge() {
  let active = 0;
  const waiters: { pred: (n: number) => boolean; resolve: () => void }[] = [];
  return {
    onWatchers: (n: number) => {
      active = n;
      for (const w of [...waiters]) if (w.pred(n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    until: (pred: (n: number) => boolean) => (pred(active) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ pred, resolve }))),
  };
}

describe('watch and long-poll over a real socket', () => {
  let h: Harness;
  let base: string;
  const gauge = watchersGauge();
  before(async () => {
    h = await harness({ heartbeatMs: 30, onWatchers: gauge.onWatchers });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });
  after(() => h.close());

  const open = (path: string, token: string) => new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
    req.end();
  });

  /** Reads SSE events until `done(events)` is true. */
  const readUntil = (res: IncomingMessage, done: (evs: SseEvent[]) => boolean) => new Promise<SseEvent[]>((resolve, reject) => {
    const parser = new SseParser();
    const evs: SseEvent[] = [];
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      evs.push(...parser.push(chunk));
      if (done(evs)) resolve(evs);
    });
    res.on('end', () => reject(new Error('stream ended early')));
  });

  test('SSE delivers a change made after connecting and heartbeats; the watcher goes when the client does', async () => {
    const since = await h.cp.currentRevision();
    const res = await open(`/v1/pools/p1/watch?since=${since}`, h.tokens.node);
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    await gauge.until((n) => n === 1);
    const peer = await h.cp.createPeer('p1', { name: 'late', publicKey: pubkey() }, { actor: 't' });
    const evs = await readUntil(res, (e) => e.some((x) => x.event === 'change') && e.some((x) => x.event === 'heartbeat' && Number(x.id) >= peer.revision));
    const change = evs.find((e) => e.event === 'change')!;
    assert.equal(change.id, String(peer.revision));
    const body = JSON.parse(change.data);
    assert.equal(body.type, 'peer.put');
    assert.equal(body.peer.name, 'late');
    const hb = evs.filter((e) => e.event === 'heartbeat').at(-1)!;
    assert.equal(JSON.parse(hb.data).revision, Number(hb.id));
    res.destroy();
    await gauge.until((n) => n === 0); // would hang if the store watcher leaked
  });

  test('a compacted since is 410 before any streaming', async () => {
    await h.cp.createPeer('p1', { name: 'c1', publicKey: pubkey() }, { actor: 't' });
    await h.cp.compact(undefined, { actor: 't' });
    const res = await open('/v1/pools/p1/watch?since=0', h.tokens.readOnly);
    assert.equal(res.statusCode, 410);
    let text = '';
    for await (const c of res) text += String(c);
    assert.equal(JSON.parse(text).error.code, 'WGF_ERR_STORE_COMPACTED');
    const poll = await h.app.inject({ method: 'GET', url: '/v1/pools/p1/changes?since=0', headers: h.bearer(h.tokens.node) });
    assert.equal(poll.statusCode, 410);
  });

  test('long poll answers as soon as a change lands, and lets go of an abandoned request', async () => {
    const since = await h.cp.currentRevision();
    const pending = h.app.inject({ method: 'GET', url: `/v1/pools/p1/changes?since=${since}&wait=30`, headers: h.bearer(h.tokens.node) });
    await gauge.until((n) => n === 1);
    const peer = await h.cp.createPeer('p1', { name: 'lp', publicKey: pubkey() }, { actor: 't' });
    const res = await pending;
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().changes.map((c: { type: string }) => c.type), ['peer.put']);
    assert.equal(res.json().revision, peer.revision);
    await gauge.until((n) => n === 0);
    // A client that gives up mid-wait: the server drops its watcher at once, not after 30 s.
    const req = request(`${base}/v1/pools/p1/changes?since=${peer.revision}&wait=30`, { headers: { authorization: `Bearer ${h.tokens.node}` } });
    req.on('error', () => {});
    req.end();
    await gauge.until((n) => n === 1);
    req.destroy();
    await gauge.until((n) => n === 0);
  });
});
