import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { ApiClient } from '../client/api-client.js';
import { pubkey } from '../control/testing/fixtures.js';
import { FabricError } from '../protocol/errors.js';
import type { ReadinessEvent } from '../protocol/readiness.js';
import type { PoolChange } from '../protocol/types.js';
import { harness, type Harness } from './testing/harness.js';

const sys = { actor: 'test' };
const report = (ready: boolean) => ({ appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready, message: '' });

/** Collects what a stream hands over; `until` resolves once `pred` holds for it. */
function collector<T>() {
  const items: T[] = [];
  const waiters: { pred: (x: T[]) => boolean; resolve: () => void }[] = [];
  return {
    items,
    push: (x: T) => {
      items.push(x);
      for (const w of [...waiters]) if (w.pred(items)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    },
    until: (pred: (x: T[]) => boolean) => (pred(items) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ pred, resolve }))),
  };
}

describe('readiness stream and the watch kinds filter over a real socket', () => {
  let h: Harness;
  let api: ApiClient;
  before(async () => {
    h = await harness({ heartbeatMs: 50 });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    api = new ApiClient({ baseUrl: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, token: h.tokens.operator });
  });
  after(() => h.close());

  test('full state first, then only flips: ready, not ready, a deleted node; unchanged reports send nothing', async () => {
    await h.cp.putNodeStatus('p1', 'n1', report(true), sys);
    const got = collector<ReadinessEvent>();
    const ac = new AbortController();
    // An hour: nothing ages during the test, however loaded the machine is.
    const done = api.watchReadiness('p1', 3_600_000, got.push, { signal: ac.signal });
    try {
      await got.until((x) => x.length >= 1);
      assert.deepEqual(got.items[0], { full: true, nodes: { n1: true } }, 'n2 never reported: absent (not ready)');
      await h.cp.putNodeStatus('p1', 'n2', report(true), sys);
      await got.until((x) => x.some((e) => !e.full && e.nodes['n2'] === true));
      await h.cp.putNodeStatus('p1', 'n2', report(false), sys);
      await got.until((x) => x.some((e) => !e.full && e.nodes['n2'] === false));
      const before = got.items.length;
      await h.cp.putNodeStatus('p1', 'n2', report(false), sys);
      await h.cp.putNodeStatus('p1', 'n1', report(true), sys);
      await h.cp.createNode('p1', { name: 'n3' }, sys);
      await h.cp.putNodeStatus('p1', 'n3', report(true), sys);
      await got.until((x) => x.some((e) => e.nodes['n3'] === true));
      assert.deepEqual(got.items.slice(before), [{ full: false, nodes: { n3: true } }], 'the unchanged reports of n1 and n2 sent nothing');
      await h.cp.deleteNode('p1', 'n3', sys);
      await got.until((x) => x.some((e) => e.nodes['n3'] === false));
    } finally {
      ac.abort();
      await done;
    }
  });

  test('a ready report ages out with no new report: it flips to not ready', async () => {
    await h.cp.putNodeStatus('p1', 'n1', report(true), sys);
    const got = collector<ReadinessEvent>();
    const ac = new AbortController();
    const done = api.watchReadiness('p1', 300, got.push, { signal: ac.signal });
    try {
      // Whether the full state still saw it ready (a loaded machine may take longer than 300 ms), it ends not ready.
      await got.until((x) => x.length > 0 && x[x.length - 1]!.nodes['n1'] === false);
      assert.ok(got.items.filter((e) => e.nodes['n1'] === false).length === 1, 'said once');
    } finally {
      ac.abort();
      await done;
    }
  });

  test('bad maxAgeMs and an unknown pool are refused before streaming', async () => {
    const signal = new AbortController().signal;
    await assert.rejects(api.watchReadiness('p1', 5, () => {}, { signal }), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_VALIDATION');
    await assert.rejects(api.watchReadiness('nope', 1000, () => {}, { signal }), (e: unknown) => e instanceof FabricError && e.code === 'WGF_ERR_NOT_FOUND');
  });

  test('watch kinds=pool,node: no peer changes; a revision of peer changes only is covered by the heartbeat; nodes arrive with their revision', async () => {
    const since = await h.cp.currentRevision();
    const batches = collector<PoolChange[]>();
    const beats: number[] = [];
    const ac = new AbortController();
    const done = api.watchPoolBatches('p1', since, batches.push, { signal: ac.signal, kinds: ['pool', 'node'], onHeartbeat: (r) => beats.push(r) });
    await h.cp.createPeer('p1', { name: 'lbk1', publicKey: pubkey() }, sys);
    const peerRev = await h.cp.currentRevision();
    const node = await h.cp.updateNode('p1', 'n1', { weight: 7 }, sys);
    await batches.until((x) => x.flat().some((c) => c.type === 'node.put' && c.node.weight === 7));
    assert.ok(batches.items.flat().every((c) => !c.type.startsWith('peer.')), 'no peer change was sent');
    assert.equal(batches.items.flat().find((c) => c.type === 'node.put')!.revision, node.revision);
    while (!beats.some((r) => r >= node.revision)) await new Promise((r) => setTimeout(r, 20));
    assert.ok(node.revision > peerRev);
    ac.abort();
    await done;
  });
});
