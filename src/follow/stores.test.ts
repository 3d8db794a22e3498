import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../client/api-client.js';
import { ControlPlane } from '../control/plane.js';
import { SecretBox } from '../control/secrets.js';
import { buildServer } from '../server/app.js';
import { EtcdStore } from '../store/etcd.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import { etcdPerFile } from '../store/testing/etcd-per-file.js';
import type { PoolState } from './source.js';
import { StreamSource } from './stream.js';
import { until as waitUntil } from '../sys/testing/until.js';

const sys = { actor: 'test' };
const report = (ready: boolean) => ({ appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready, message: '' });
const fx = etcdPerFile('wgf-ls-follow-');

const until = (what: string, cond: () => boolean, limitMs = 30_000): Promise<void> => waitUntil(what, cond, limitMs);

/**
 * The LB's stream source against a real server on each store driver: a revision that changes
 * several nodes at once arrives whole, readiness reports flip through the readiness stream,
 * and a compacted revision after a break leads to a fresh read.
 */
async function scenario(store: Store): Promise<void> {
  const cp = new ControlPlane({ store, secrets: SecretBox.random() });
  const token = (await cp.bootstrap())!;
  const app = await buildServer({ control: cp, heartbeatMs: 100 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const api = new ApiClient({ baseUrl: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, token });
  const states: PoolState[] = [];
  const src = new StreamSource({ api, pool: 'lsp', readyMaxAgeMs: 60_000, onState: (s) => states.push(s), log: () => {}, resyncMs: 0, backoff: { minMs: 10, maxMs: 50 } });
  try {
    await cp.createPool({ name: 'lsp', ipv4Prefix: '10.91.0.0/16' }, sys);
    for (const n of ['a', 'b', 'c']) {
      await cp.createNode('lsp', { name: n, endpoint: '198.18.0.10:51820' }, sys);
      await cp.putNodeStatus('lsp', n, report(true), sys);
    }
    await src.start();
    const last = () => states[states.length - 1]!;
    await until('first state with readiness', () => states.length > 0 && last().ready.get('c') === true);
    // One revision, three node changes (a batch of node updates is not an API call: one store txn).
    const nodes = await store.range('pools/lsp/nodes/');
    const before = states.length;
    await store.txn([], nodes.kvs.map((kv) => ({ type: 'put' as const, key: kv.key, value: JSON.stringify({ ...JSON.parse(kv.value), adminState: 'draining', weight: 4 }) })));
    await until('the revision applied', () => last().nodes.every((n) => n.adminState === 'draining'));
    assert.ok(states.slice(before).every((s) => s.nodes.every((n) => n.adminState === 'draining') || s.nodes.every((n) => n.adminState === 'active')),
      'no state with half of the revision');
    assert.ok(last().nodes.every((n) => n.weight === 4));
    await cp.putNodeStatus('lsp', 'b', report(false), sys);
    await until('b not ready', () => last().ready.get('b') === false);
    await cp.updateNode('lsp', 'a', { weight: 9 }, sys);
    await until('a weight 9', () => last().nodes.find((n) => n.name === 'a')?.weight === 9);
  } finally {
    src.stop();
    await app.close();
  }
}

describe('LB stream source on every store driver', () => {
  test('sqlite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wgf-ls-sqlite-'));
    const store = await SqliteStore.open(dir);
    try {
      await scenario(store);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
  test('etcd', { skip: fx.skip }, async () => {
    const store = await EtcdStore.open({ endpoints: [fx.endpoint], prefix: `ls/${randomBytes(4).toString('hex')}/` });
    try {
      await scenario(store);
    } finally {
      await store.close();
    }
  });
});
