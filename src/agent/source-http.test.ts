import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { ApiClient, type WatchOptions } from '../client/api-client.js';
import { makeTestPki } from '../client/testing/pki.js';
import { pubkey } from '../control/testing/fixtures.js';
import { isFabricError } from '../protocol/errors.js';
import type { PoolChange } from '../protocol/types.js';
import { harness } from '../server/testing/harness.js';
import { HttpSource } from './source-http.js';

const change = (revision: number): PoolChange => ({ type: 'peer.delete', revision, name: `p${revision}`, publicKey: 'k' });

/** A stand-in for ApiClient.watchPoolBatches that plays a scripted stream, then waits for abort. */
function scripted(steps: ({ hb: number } | { change: PoolChange } | { batch: PoolChange[] })[]): ApiClient {
  return {
    async watchPoolBatches(_pool: string, _since: number, onChanges: (c: PoolChange[]) => void, o: WatchOptions) {
      for (const s of steps) {
        if ('hb' in s) o.onHeartbeat?.(s.hb);
        else onChanges('batch' in s ? s.batch : [s.change]);
        await new Promise((r) => setImmediate(r));
      }
      if (!o.signal.aborted) await new Promise<void>((r) => o.signal.addEventListener('abort', () => r()));
    },
  } as unknown as ApiClient;
}

test('a revision of several changes reaches onChanges whole, never split', async () => {
  const rev = (r: number, n: number) => Array.from({ length: n }, (_, i) => ({ type: 'peer.delete' as const, revision: r, name: `x${r}-${i}`, publicKey: 'k' }));
  const seen: number[][] = [];
  const ac = new AbortController();
  const src = new HttpSource(scripted([{ batch: rev(6, 4) }, { batch: [...rev(7, 3), ...rev(8, 2)] }, { hb: 8 }]));
  await src.follow('p', 5, {
    onChanges: async (cs) => {
      seen.push(cs.map((c) => c.revision));
      await new Promise((r) => setTimeout(r, 5));
    },
    onHeartbeat: (r) => (r === 8 ? ac.abort() : undefined),
  }, ac.signal);
  const flat = seen.flat();
  assert.deepEqual(flat, [6, 6, 6, 6, 7, 7, 7, 8, 8]);
  for (const b of seen) for (const r of new Set(b)) assert.equal(b.filter((x) => x === r).length, flat.filter((x) => x === r).length, `revision ${r} split`);
});

test('heartbeats and changes are delivered in stream order, also when a heartbeat comes first', async () => {
  const seen: string[] = [];
  const ac = new AbortController();
  const src = new HttpSource(scripted([{ hb: 5 }, { change: change(6) }, { hb: 7 }, { hb: 8 }, { change: change(9) }, { change: change(10) }, { hb: 10 }]));
  const done = src.follow('p', 0, {
    onChanges: async (cs) => {
      seen.push(`c${cs.map((c) => c.revision).join('+')}`);
      await new Promise((r) => setTimeout(r, 5));
    },
    onHeartbeat: (r) => {
      seen.push(`h${r}`);
      if (r === 10) ac.abort();
    },
  }, ac.signal);
  await done;
  const flat = seen.join(' ');
  assert.match(flat, /^h5 c6 h7 h8 c9(\+10)? (c10 )?h10$/);
});

test('a failing apply ends the follow with that error', async () => {
  const src = new HttpSource(scripted([{ change: change(1) }]));
  await assert.rejects(src.follow('p', 0, { onChanges: async () => { throw new Error('device gone'); }, onHeartbeat: () => {} }, new AbortController().signal), /device gone/);
});

test('over HTTPS with a private CA: snapshot, pool key and the change stream; without the CA a clear TLS error', { timeout: 30_000 }, async () => {
  const pki = await makeTestPki();
  const { cert, key } = await pki.issue(['127.0.0.1']);
  const h = await harness({ https: { cert, key }, heartbeatMs: 30 });
  try {
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const url = `https://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    const src = new HttpSource(new ApiClient({ baseUrl: url, token: h.tokens.node, ca: pki.caPem }));
    const snap = await src.snapshot('p1');
    assert.match(await src.privateKey('p1'), /^[A-Za-z0-9+/]{43}=$/);
    const ac = new AbortController();
    const seen: PoolChange[] = [];
    const following = src.follow('p1', snap.revision, {
      onChanges: async (cs) => {
        seen.push(...cs);
        if (cs.some((c) => c.type === 'peer.put')) ac.abort();
      },
      onHeartbeat: () => {},
    }, ac.signal);
    await h.cp.createPeer('p1', { name: 'over-tls', publicKey: pubkey() }, { actor: 'test' });
    await following;
    assert.deepEqual(seen.flatMap((c) => (c.type === 'peer.put' ? [c.peer.name] : [])), ['over-tls']);
    const untrusting = new HttpSource(new ApiClient({ baseUrl: url, token: h.tokens.node }));
    await assert.rejects(untrusting.follow('p1', snap.revision, { onChanges: async () => {}, onHeartbeat: () => {} }, new AbortController().signal),
      (e) => isFabricError(e, 'WGF_ERR_UNAVAILABLE') && e.details?.['tls'] === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' && e.message.includes(url));
  } finally {
    await h.close();
    await pki.cleanup();
  }
});
