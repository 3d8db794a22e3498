import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FabricError } from '../protocol/errors.js';
import type { PoolChange } from '../protocol/types.js';
import { fakeNode, fakePool } from '../lb/testing/fake-api.js';
import { PoolMirror } from './mirror.js';
import type { PoolState } from './source.js';
import { StreamSource } from './stream.js';
import { at, FakeStreams } from './testing/fake-streams.js';
import { until as waitUntil } from '../sys/testing/until.js';

const until = (what: string, cond: () => boolean, limitMs = 10_000): Promise<void> => waitUntil(what, cond, limitMs, 2);

function follow(api: FakeStreams) {
  const states: PoolState[] = [];
  const logs: { level: string; msg: string }[] = [];
  const src = new StreamSource({
    api, pool: 'p', readyMaxAgeMs: 15_000, onState: (s) => states.push(s), log: (level, msg) => logs.push({ level, msg }),
    resyncMs: 0, backoff: { minMs: 2, maxMs: 10 },
  });
  return { src, states, logs, last: () => states[states.length - 1]! };
}

describe('StreamSource (fake control plane streams)', () => {
  test('starts from a read, follows from its revision, readiness from the readiness stream', async () => {
    const api = new FakeStreams();
    const f = follow(api);
    await f.src.start();
    try {
      assert.equal(f.states.length, 1);
      assert.deepEqual(f.last().nodes.map((n) => n.name), ['a', 'b']);
      assert.deepEqual([...f.last().ready], [['a', true], ['b', true]], 'before the readiness stream: the read reports');
      await until('both streams open', () => api.watch !== undefined && api.readiness !== undefined);
      assert.equal(api.watch!.since, 10);
      assert.deepEqual(api.watch!.o.kinds, ['pool', 'node'], 'no peers asked for');
      api.readiness!.push({ full: true, nodes: { a: true } });
      assert.deepEqual([...f.last().ready], [['a', true]], 'a full state replaces: b is not ready');
      api.readiness!.push({ full: false, nodes: { b: true, a: false } });
      assert.deepEqual(Object.fromEntries(f.last().ready), { a: false, b: true });
    } finally {
      f.src.stop();
    }
  });

  test('a whole revision with many changes is applied at once: one new state', async () => {
    const api = new FakeStreams();
    api.nodes = Array.from({ length: 40 }, (_, i) => at(fakeNode('p', `n${String(i).padStart(2, '0')}`, `198.18.0.${10 + i}:51820`), 4));
    const f = follow(api);
    await f.src.start();
    try {
      await until('stream open', () => api.watch !== undefined);
      const before = f.states.length;
      const changes: PoolChange[] = [
        ...api.nodes.slice(0, 20).map((n): PoolChange => ({ type: 'node.put', revision: 11, node: at(n, 11, { adminState: 'draining' }) })),
        ...api.nodes.slice(20, 39).map((n): PoolChange => ({ type: 'node.put', revision: 11, node: at(n, 11, { weight: 5 }) })),
        { type: 'node.delete', revision: 11, name: 'n39' },
        { type: 'pool.put', revision: 11, pool: { ...api.pool, revision: 11, lb: { affinity: 'src-ip', tableSize: 257 } } },
        { type: 'peer.delete', revision: 11, name: 'x', publicKey: 'k' },
      ];
      api.watch!.push(changes);
      assert.equal(f.states.length, before + 1, 'one state for the whole revision');
      const s = f.last();
      assert.equal(s.nodes.length, 39);
      assert.equal(s.nodes.filter((n) => n.adminState === 'draining').length, 20);
      assert.equal(s.nodes.filter((n) => n.weight === 5).length, 19);
      assert.equal(s.pool.lb.tableSize, 257);
    } finally {
      f.src.stop();
    }
  });

  test('a dropped stream resumes from the last revision seen (change or heartbeat), without a new read', async () => {
    const api = new FakeStreams();
    const f = follow(api);
    await f.src.start();
    try {
      await until('stream open', () => api.watch !== undefined);
      api.watch!.push([{ type: 'node.put', revision: 12, node: at(api.nodes[0]!, 12, { weight: 3 }) }]);
      api.watch!.o.onHeartbeat?.(17);
      const reads = api.reads;
      api.cut();
      await until('a second stream', () => api.attempts.length >= 2 && api.watch !== undefined);
      assert.equal(api.attempts[1], 17);
      assert.equal(api.reads, reads, 'no re-read');
      assert.equal(f.last().nodes[0]!.weight, 3, 'the state is kept');
      // A change the stream delivers again after a resume (older than what is held) moves nothing back.
      api.watch!.push([{ type: 'node.put', revision: 11, node: at(api.nodes[0]!, 11, { weight: 9 }) }]);
      assert.equal(f.last().nodes[0]!.weight, 3);
    } finally {
      f.src.stop();
    }
  });

  test('a compacted revision: the pool is read again and followed from the new read', async () => {
    const api = new FakeStreams();
    const f = follow(api);
    await f.src.start();
    try {
      await until('stream open', () => api.watch !== undefined);
      api.revision = 40;
      api.nodes = [at(api.nodes[0]!, 30, { adminState: 'disabled' })];
      api.watch!.fail(new FabricError('WGF_ERR_STORE_COMPACTED', 'revision 10 was compacted'));
      await until('a stream from 40', () => api.attempts.includes(40));
      assert.deepEqual(f.last().nodes.map((n) => [n.name, n.adminState]), [['a', 'disabled']]);
      assert.equal(f.src.stats.resnapshots, 1);
      assert.ok(f.logs.every((l) => l.level !== 'warn'), 'a re-snapshot is not an outage');
    } finally {
      f.src.stop();
    }
  });

  test('control plane gone: the last state stays, one log line, retries with backoff; back: resumes from the last revision', async () => {
    const api = new FakeStreams();
    const f = follow(api);
    await f.src.start();
    try {
      await until('streams open', () => api.watch !== undefined && api.readiness !== undefined);
      api.readiness!.push({ full: true, nodes: { a: true, b: true } });
      api.watch!.o.onHeartbeat?.(21);
      const states = f.states.length;
      api.down = true;
      api.cut();
      await until('several attempts', () => api.attempts.length >= 5);
      assert.equal(f.states.length, states, 'no state handed over while gone (the table stays)');
      assert.deepEqual(f.logs.filter((l) => l.level === 'warn').map((l) => l.msg), ['lost the control plane; keeping the last table and reconnecting']);
      api.down = false;
      await until('both streams back', () => api.watch !== undefined && api.readiness !== undefined);
      await until('logged back', () => f.logs.some((l) => l.msg === 'following the pool again'));
      assert.equal(api.attempts[api.attempts.length - 1], 21);
      assert.equal(f.logs.filter((l) => l.level === 'warn').length, 1);
    } finally {
      f.src.stop();
    }
  });

  test('unreachable at start: no state yet, then the first read once it is back', async () => {
    const api = new FakeStreams();
    api.down = true;
    const f = follow(api);
    await f.src.start();
    try {
      assert.equal(f.states.length, 0);
      api.down = false;
      await until('first state', () => f.states.length > 0);
      await until('stream open', () => api.watch !== undefined);
      assert.equal(api.watch!.since, 10);
    } finally {
      f.src.stop();
    }
  });
});

describe('PoolMirror', () => {
  const a = at(fakeNode('p', 'a', null), 5);
  test('a read older than the mirror is ignored unless it is a re-snapshot', () => {
    const m = new PoolMirror();
    assert.ok(m.applyRead({ ...fakePool('p', 1), revision: 2 }, [a], 10, true));
    m.applyChanges([{ type: 'node.put', revision: 12, node: at(a, 12, { weight: 2 }) }]);
    assert.equal(m.revision, 12);
    assert.equal(m.applyRead({ ...fakePool('p', 1), revision: 2 }, [a], 11, false), false);
    assert.equal(m.nodes[0]!.weight, 2);
    assert.ok(m.applyRead({ ...fakePool('p', 1), revision: 2 }, [a], 8, true), 'a restored store: start again from its read');
    assert.equal(m.revision, 8);
  });
  test('the revision that deletes the pool (and its nodes) is not applied: the last state stays', () => {
    const m = new PoolMirror();
    m.applyRead({ ...fakePool('p', 1), revision: 2 }, [a], 10, true);
    assert.equal(m.applyChanges([{ type: 'node.delete', revision: 11, name: 'a' }, { type: 'pool.delete', revision: 11, name: 'p' }]), false);
    assert.ok(m.deleted);
    assert.ok(m.pool);
    assert.deepEqual(m.nodes.map((n) => n.name), ['a'], 'the nodes deleted with the pool stay');
    assert.equal(m.revision, 11);
  });
});
