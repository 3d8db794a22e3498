import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeAnnouncer } from '../announce/fake.js';
import type { Pool } from '../protocol/types.js';
import { LbAnnounce, type LbAnnounceMember } from './announce.js';
import type { LbServiceStatus } from './service.js';

/** A VIP service as LbAnnounce sees it; mutate `inTable`, `generation`, `running` between checks. */
function member(vip: string, pool: Partial<Pool>) {
  const m = {
    running: true, generation: 1, inTable: [true, false],
    pool: pool as Pool,
    status(): LbServiceStatus {
      return {
        pool: 'p', instance: 'i', vip, port: 51820, tableSize: 7, affinity: 'src-ip-port', generation: m.generation, probePeer: null, lastError: null, failOpen: false,
        backends: m.inTable.map((inTable, k) => ({ name: `b${k}`, address: `198.18.1.${10 + k}`, port: 51820, state: inTable ? 'up' : 'down', reason: '', inTable, slots: inTable ? 7 : 0,
          adminState: 'active', agentReady: true, probes: 1, consecutiveFailures: 0, lastRttMs: null, lastDetectionMs: null, detectedAt: null, leftTableAt: null })),
      } as LbServiceStatus;
    },
  };
  return m satisfies LbAnnounceMember;
}

test('LbAnnounce: offers the VIP while the table is loaded with a backend in service, withdraws at once otherwise', async () => {
  const fake = new FakeAnnouncer();
  const m = member('198.18.7.2', { anycast: { addresses: [], drainSeconds: 5, communities: ['65001:9'], med: 20, prepend: 1 } });
  m.generation = 0;
  const a = new LbAnnounce({ announcer: fake, members: [m] });
  await a.check();
  assert.equal(a.report().state, 'withdrawn');
  assert.match(a.report().reason, /table not loaded yet/);
  m.generation = 1;
  await a.check();
  assert.deepEqual((await fake.status()).addresses, ['198.18.7.2']);
  assert.deepEqual((await fake.status()).attributes, { gracefulShutdown: false, communities: ['65001:9'], med: 20, prepend: 1, localPref: null });
  m.inTable = [false, false];
  await a.check();
  assert.equal((await fake.status()).state, 'withdrawn');
  assert.match(a.reportFor('198.18.7.2').reason, /no backend in service/);
  assert.deepEqual(fake.history.map((h) => h.state), ['announced', 'withdrawn']);
  assert.equal(a.stats.withdrawals, 1);
});

test('LbAnnounce: the instance drain announces with GRACEFUL_SHUTDOWN for the pool\'s drainSeconds, then withdraws', async () => {
  let now = 1_000_000;
  const fake = new FakeAnnouncer();
  const m = member('198.18.7.2', { anycast: { addresses: [], drainSeconds: 5, communities: ['65001:9'], med: null, prepend: 0 } });
  const a = new LbAnnounce({ announcer: fake, members: [m], now: () => now });
  await a.check();
  a.drain(true);
  await a.check();
  const s = await fake.status();
  assert.equal(s.state, 'draining');
  assert.equal(s.attributes?.gracefulShutdown, true);
  assert.deepEqual(s.attributes?.communities, ['65001:9']);
  now += 4_000;
  await a.check();
  assert.equal(a.report().state, 'draining');
  now += 1_500;
  await a.check();
  assert.equal(a.report().state, 'withdrawn');
  assert.equal(a.report().reason, 'drained');
  a.drain(false);
  await a.check();
  assert.equal(a.report().state, 'announced');
  assert.deepEqual(fake.history.map((h) => h.state), ['announced', 'draining', 'withdrawn', 'announced']);
});

test('LbAnnounce: per-VIP reports, a refused announcement is counted and retried', async () => {
  const fake = new FakeAnnouncer();
  const v4 = member('198.18.7.2', {});
  const v6 = member('2001:db8::2', {});
  v6.inTable = [false];
  const a = new LbAnnounce({ announcer: fake, members: [v4, v6] });
  fake.failWith = new Error('bird went away');
  await a.check();
  assert.equal(a.stats.announceErrors, 1);
  assert.equal((await fake.status()).state, 'withdrawn');
  fake.failWith = null;
  await a.check();
  assert.deepEqual((await fake.status()).addresses, ['198.18.7.2']);
  assert.deepEqual(a.reportFor('198.18.7.2').addresses, ['198.18.7.2']);
  assert.equal(a.reportFor('2001:db8::2').state, 'withdrawn');
  assert.match(a.reportFor('2001:db8::2').reason, /no backend in service/);
});
