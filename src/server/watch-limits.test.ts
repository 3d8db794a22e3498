import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SseParser, type SseEvent } from '../client/sse.js';
import { pubkey } from '../control/testing/fixtures.js';
import { harness, type Harness } from './testing/harness.js';

/** 32 labels of 63 + 63 characters: about 4 KiB of JSON per peer. */
function bigLabels(i: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (let k = 0; k < 32; k++) out[`k${k}-${'x'.repeat(58)}`.slice(0, 63)] = `${i}-${'v'.repeat(60)}`.slice(0, 63);
  return out;
}

/** n peers with large labels, one revision each: one made by the control plane, the rest copies of its record. */
async function addPeers(h: Harness, pool: string, n: number, tag: string): Promise<number> {
  await h.cp.createPeer(pool, { name: `${tag}0`, publicKey: pubkey(), labels: bigLabels(0) }, { actor: 't' });
  const sample = (await h.store.get(`pools/${pool}/peers/${tag}0`))!;
  let rev = sample.modRevision;
  for (let i = 1; i < n; i++) rev = (await h.store.txn([], [{ type: 'put', key: `pools/${pool}/peers/${tag}${i}`, value: sample.value }])).revision;
  return rev;
}

describe('watch limits and slow clients (real socket)', { timeout: 120_000 }, () => {
  let h: Harness;
  let base: string;
  before(async () => {
    h = await harness({ heartbeatMs: 50, watchLimits: { maxTotal: 4, maxPerToken: 2, bufferBytes: 64 * 1024, pageEvents: 16, stallMs: 400 } });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  });
  after(() => h.close());

  const open = (path: string, token: string) => new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
    req.end();
  });
  const body = async (res: IncomingMessage) => {
    let text = '';
    for await (const c of res) text += String(c);
    return text;
  };
  const events = async (res: IncomingMessage): Promise<SseEvent[]> => new SseParser().push(await body(res));

  test('a client that never reads a large backlog gets bounded pages, then a last error event WGF_ERR_WATCH_TOO_SLOW', async () => {
    const last = await addPeers(h, 'p2', 1500, 'b'); // ~6 MB of backlog
    const res = await open('/v1/pools/p2/watch?since=0', h.tokens.readOnly);
    assert.equal(res.statusCode, 200);
    res.pause(); // never read, until the server has given up
    await sleep(1500);
    const evs = await events(res);
    const changes = evs.filter((e) => e.event === 'change' && JSON.parse(e.data).type === 'peer.put');
    const err = evs.at(-1)!;
    assert.equal(err.event, 'error');
    assert.equal(JSON.parse(err.data).error.code, 'WGF_ERR_WATCH_TOO_SLOW');
    // Paged under back-pressure: only what the socket took was read from the store.
    assert.ok(changes.length < 1500, `got ${changes.length} changes of 1500`);
    const lastId = changes.filter((e) => e.id !== undefined).at(-1)!.id!;
    assert.ok(Number(lastId) < last);
    // The client resumes from its last id and gets the rest, whole.
    const rest = await open(`/v1/pools/p2/watch?since=${lastId}`, h.tokens.readOnly);
    const parser = new SseParser();
    let got = 0;
    rest.setEncoding('utf8');
    for await (const chunk of rest) {
      for (const e of parser.push(chunk as string)) if (e.event === 'change' && JSON.parse(e.data).type === 'peer.put') got++;
      if (changes.length + got >= 1500) break;
    }
    rest.destroy();
    assert.equal(changes.length + got, 1500);
  });

  test('a caught-up client that stops reading is cut once bufferBytes behind on live changes (one big revision)', async () => {
    const since = await h.cp.currentRevision();
    const res = await open(`/v1/pools/p2/watch?since=${since}`, h.tokens.readOnly);
    assert.equal(res.statusCode, 200);
    res.pause();
    await sleep(100);
    // One revision of 2,000 peer records (~8 MB): more than the socket buffers hold.
    const sample = (await h.store.get('pools/p2/peers/b0'))!;
    const ops = Array.from({ length: 2000 }, (_, i) => ({ type: 'put' as const, key: `pools/p2/peers/b${i}`, value: sample.value }));
    const { revision } = await h.store.txn([], ops);
    await sleep(300);
    const evs = await events(res);
    assert.equal(evs.at(-1)!.event, 'error');
    assert.equal(JSON.parse(evs.at(-1)!.data).error.code, 'WGF_ERR_WATCH_TOO_SLOW');
    // Whole revisions only: the revision was written whole before the cut, or not at all.
    const got = evs.filter((e) => e.event === 'change').length;
    assert.ok(got === 0 || got === 2000, `got ${got}`);
    assert.ok(evs.every((e) => e.event !== 'change' || JSON.parse(e.data).revision === revision));
  });

  test('watches and long polls are limited per token and in total: 429 WGF_ERR_TOO_MANY_WATCHES', async () => {
    const since = await h.cp.currentRevision();
    const w = `/v1/pools/p1/watch?since=${since}`;
    const a = [await open(w, h.tokens.node), await open(w, h.tokens.node)];
    assert.deepEqual(a.map((r) => r.statusCode), [200, 200]);
    const third = await open(w, h.tokens.node);
    assert.equal(third.statusCode, 429);
    const e1 = JSON.parse(await body(third)).error;
    assert.equal(e1.code, 'WGF_ERR_TOO_MANY_WATCHES');
    assert.equal(e1.details.scope, 'token');
    const b = [await open(w, h.tokens.node2), await open(w, h.tokens.readOnly)];
    assert.deepEqual(b.map((r) => r.statusCode), [200, 200]);
    const poll = await open(`/v1/pools/p1/changes?since=${since}&wait=5`, h.tokens.admin);
    assert.equal(poll.statusCode, 429);
    assert.equal(JSON.parse(await body(poll)).error.details.scope, 'server');
    for (const r of [...a, ...b]) r.destroy();
    await sleep(100);
    const again = await open(w, h.tokens.admin);
    assert.equal(again.statusCode, 200);
    again.destroy();
  });

  test('a since above the current revision is refused: 410 WGF_ERR_REVISION_AHEAD on changes, long poll and watch', async () => {
    const ahead = (await h.cp.currentRevision()) + 1000;
    for (const path of [`/v1/pools/p1/changes?since=${ahead}`, `/v1/pools/p1/changes?since=${ahead}&wait=3`, `/v1/pools/p1/watch?since=${ahead}`]) {
      const res = await open(path, h.tokens.node);
      assert.equal(res.statusCode, 410, path);
      const err = JSON.parse(await body(res)).error;
      assert.equal(err.code, 'WGF_ERR_REVISION_AHEAD');
      assert.equal(err.details.since, ahead);
    }
    const big = await open('/v1/pools/p1/changes?since=999999999999999', h.tokens.node);
    assert.equal(big.statusCode, 410);
    await body(big);
  });
});
