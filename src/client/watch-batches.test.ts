import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PoolChange } from '../protocol/types.js';
import { ApiClient } from './api-client.js';

const put = (revision: number, name: string) => ({ type: 'peer.delete', revision, name, publicKey: 'k' }) satisfies PoolChange;
const ev = (c: PoolChange, last: boolean) => `${last ? `id: ${c.revision}\n` : ''}event: change\ndata: ${JSON.stringify(c)}\n\n`;

/** A fetch that answers the watch with these raw chunks, then keeps the stream open until abort. */
function chunkedFetch(chunks: string[]): typeof fetch {
  return (async (_url: unknown, init?: RequestInit) => {
    const enc = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(ctrl) {
        init?.signal?.addEventListener('abort', () => ctrl.error(init.signal!.reason));
        for (const c of chunks) {
          ctrl.enqueue(enc.encode(c));
          await new Promise((r) => setTimeout(r, 2));
        }
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }) as typeof fetch;
}

test('watchPoolBatches hands over whole revisions when a revision is split across stream reads', async () => {
  const r11 = [put(11, 'a'), put(11, 'b'), put(11, 'c')];
  const r12 = [put(12, 'd'), put(12, 'e')];
  const text = r11.map((c, i) => ev(c, i === 2)).join('') + r12.map((c, i) => ev(c, i === 1)).join('') + 'id: 12\nevent: heartbeat\ndata: {"revision":12}\n\n';
  // Cut the text inside the second change of r11, inside r12's first event and before the heartbeat.
  const cuts = [text.indexOf('"b"') + 1, text.indexOf('"d"') - 3, text.indexOf('event: heartbeat')];
  const chunks = [text.slice(0, cuts[0]), text.slice(cuts[0], cuts[1]), text.slice(cuts[1], cuts[2]), text.slice(cuts[2])];
  const ac = new AbortController();
  const batches: PoolChange[][] = [];
  const api = new ApiClient({ baseUrl: 'http://127.0.0.1:1', fetch: chunkedFetch(chunks) });
  await api.watchPoolBatches('p', 10, (b) => void batches.push(b), { signal: ac.signal, onHeartbeat: () => ac.abort() });
  for (const b of batches) {
    for (const rev of new Set(b.map((c) => c.revision))) {
      const whole = rev === 11 ? r11 : r12;
      assert.deepEqual(b.filter((c) => c.revision === rev), whole, `revision ${rev} arrived whole in one batch`);
    }
  }
  assert.deepEqual(batches.flat(), [...r11, ...r12]);
});

test('a watch whose event loop was blocked past the idle time reads what arrived before calling the stream silent', async () => {
  const { createServer } = await import('node:http');
  const beat = (r: number) => `id: ${r}\nevent: heartbeat\ndata: {"revision":${r}}\n\n`;
  let stream: import('node:http').ServerResponse | undefined;
  const server = createServer((_req, res) => {
    stream = res;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(beat(1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as import('node:net').AddressInfo;
  const ac = new AbortController();
  const seen: number[] = [];
  const IDLE = 150;
  try {
    const api = new ApiClient({ baseUrl: `http://127.0.0.1:${port}` });
    await api.watchPoolBatches('p', 0, () => {}, {
      signal: ac.signal,
      idleTimeoutMs: IDLE,
      onHeartbeat: (r) => {
        seen.push(r);
        if (r === 1) {
          stream!.write(beat(2)); // in the client's socket buffer before the loop resumes
          const until = Date.now() + 3 * IDLE;
          while (Date.now() < until) { /* the process is busy: the idle timer is overdue */ }
        } else ac.abort();
      },
    });
  } finally {
    stream?.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  assert.deepEqual(seen, [1, 2], 'the heartbeat that waited in the socket was read; the watch was not cut as silent');
});

test('a watch that stays silent past the idle time still rejects with WGF_ERR_UNAVAILABLE', async () => {
  const ac = new AbortController();
  const api = new ApiClient({ baseUrl: 'http://127.0.0.1:1', fetch: chunkedFetch(['id: 1\nevent: heartbeat\ndata: {"revision":1}\n\n']) });
  await assert.rejects(api.watchPoolBatches('p', 0, () => {}, { signal: ac.signal, idleTimeoutMs: 100 }),
    (e: Error & { code?: string }) => e.code === 'WGF_ERR_UNAVAILABLE' && /went silent/.test(e.message));
});
