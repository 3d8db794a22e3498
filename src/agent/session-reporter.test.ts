import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry } from '../control/sessions.js';
import type { SessionReportInput } from '../protocol/sessions.js';
import type { DevicePeerState } from './device.js';
import { chunkReport, SessionReporter, sessionDelta, sessionEntries, type SessionTarget } from './session-reporter.js';

const key = (i: number) => Buffer.alloc(32, 0).fill(i % 256, 0, 1).fill(Math.floor(i / 256), 1, 2).toString('base64');
const peer = (hsMs: number | null, rx: number, endpoint: string | null = '198.18.1.1:1000'): DevicePeerState =>
  ({ publicKey: '', allowedIps: [], lastHandshakeMs: hsMs, rxBytes: rx, txBytes: rx * 2, endpoint });

/** A replica: the control plane's registry behind a target, counting what it received. */
function replica(name: string) {
  const reg = { r: new SessionRegistry() };
  const got: SessionReportInput[] = [];
  let down = false;
  const target: SessionTarget = {
    name,
    send: async (rep) => {
      if (down) throw new Error(`${name} unreachable`);
      got.push(rep);
      return reg.r.apply('p', 'n1', rep, Date.now());
    },
  };
  return { reg, got, target, setDown: (d: boolean) => { down = d; } };
}

describe('session reporter', () => {
  test('only peers with a handshake are reported; deltas carry changes only, bytes-only changes after the bytes interval', () => {
    const dev = new Map([[key(1), peer(1_000_000, 10)], [key(2), peer(null, 0)]]);
    const cur = sessionEntries(dev);
    assert.deepEqual([...cur.keys()], [key(1)]);
    const sent = new Map([[key(1), { entry: cur.get(key(1))!, bytesAt: 0 }]]);
    assert.deepEqual(sessionDelta(sent, cur, 1000, 60_000), { peers: [], removed: [] });
    const moreBytes = sessionEntries(new Map([[key(1), peer(1_000_000, 20)]]));
    assert.equal(sessionDelta(sent, moreBytes, 59_999, 60_000).peers.length, 0, 'bytes alone wait for the interval');
    assert.equal(sessionDelta(sent, moreBytes, 60_000, 60_000).peers.length, 1);
    const rehandshake = sessionEntries(new Map([[key(1), peer(2_000_000, 20)]]));
    assert.equal(sessionDelta(sent, rehandshake, 1, 60_000).peers.length, 1, 'a new handshake goes out at once');
    const roamed = sessionEntries(new Map([[key(1), peer(1_000_000, 10, '203.0.113.1:9')]]));
    assert.equal(sessionDelta(sent, roamed, 1, 60_000).peers.length, 1, 'a new endpoint goes out at once');
    assert.deepEqual(sessionDelta(sent, new Map(), 1, 60_000).removed, [key(1)]);
  });

  test('chunks never exceed the limit and keep every item', () => {
    const peers = Array.from({ length: 9 }, (_, i) => ({ publicKey: key(i), lastHandshake: 1, rxBytes: 0, txBytes: 0, endpoint: null }));
    const chunks = chunkReport(peers, ['a', 'b', 'c'], 4);
    assert.deepEqual(chunks.map((c) => c.peers.length + c.removed.length), [4, 4, 4]);
    assert.deepEqual(chunks.flatMap((c) => c.removed), ['a', 'b', 'c']);
    assert.deepEqual(chunkReport([], []), [{ peers: [], removed: [] }]);
  });

  test('every replica gets the same view; a restarted replica asks for a resync and is filled again', async () => {
    let dev = new Map<string, DevicePeerState>();
    for (let i = 0; i < 5000; i++) dev.set(key(i), peer(1_000_000 + i, i));
    const a = replica('a');
    const b = replica('b');
    let now = 1_000;
    const rep = new SessionReporter({ pool: 'p', node: 'n1', read: async () => dev, targets: [a.target, b.target], bytesIntervalMs: 60_000, now: () => now });
    await rep.tick();
    assert.deepEqual(a.got.map((r) => [r.seq, r.reset, r.peers.length]), [[1, true, 4000], [2, false, 1000]], 'a full report split in chunks, the first resets');
    assert.equal(a.reg.r.size().entries, 5000);
    assert.equal(b.reg.r.size().entries, 5000);
    // one new handshake, one peer gone: a two-item delta to each
    dev = new Map(dev);
    dev.set(key(7), peer(9_000_000, 7));
    dev.delete(key(8));
    now += 10_000;
    await rep.tick();
    assert.deepEqual(b.got.at(-1), { epoch: rep.epoch, seq: 3, reset: false, peers: [{ publicKey: key(7), lastHandshake: 9000, rxBytes: 7, txBytes: 14, endpoint: '198.18.1.1:1000' }], removed: [key(8)] });
    // replica b restarts (empty memory): the next delta is refused with resync, then b is refilled
    b.reg.r = new SessionRegistry();
    now += 10_000;
    await rep.tick();
    assert.equal(b.got.at(-1)!.reset, false);
    assert.equal(rep.stats.resyncs, 1);
    now += 10_000;
    await rep.tick();
    assert.equal(b.reg.r.size().entries, 4999);
    assert.ok(b.got.some((r) => r.reset && r.seq === 4));
    assert.equal(a.reg.r.session('p', key(7), now)!.lastHandshakeAt, new Date(9_000_000).toISOString());
    assert.equal(b.reg.r.session('p', key(8), now), null);
  });

  test('a replica that was unreachable gets a fresh chain when it is back; the other is untouched', async () => {
    const dev = new Map([[key(1), peer(1_000_000, 1)]]);
    const a = replica('a');
    const b = replica('b');
    const logs: string[] = [];
    const rep = new SessionReporter({ pool: 'p', node: 'n1', read: async () => dev, targets: [a.target, b.target], log: (_l, m) => logs.push(m) });
    b.setDown(true);
    await rep.tick();
    await rep.tick();
    assert.equal(logs.filter((m) => m.startsWith('session report failed')).length, 1, 'logged once per cause');
    b.setDown(false);
    await rep.tick();
    assert.equal(b.got[0]!.reset, true);
    assert.equal(b.reg.r.size().entries, 1);
    assert.deepEqual(a.got.map((r) => r.reset), [true, false, false]);
    assert.ok(logs.includes('session reports delivered again'));
  });
});
