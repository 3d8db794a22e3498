import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isFabricError } from '../protocol/errors.js';
import { NO_ATTRIBUTES, type Announcer } from './announcer.js';

/**
 * What the network sees, read from OUTSIDE the driver (the router's table for BGP, the zone
 * for DNS): the addresses offered now and, for each, whether it carries GRACEFUL_SHUTDOWN.
 * A driver without an outside view (the fake) passes its own status.
 */
export type Observe = () => Promise<Map<string, { gracefulShutdown: boolean }>>;

export interface ContractHarness {
  readonly announcer: Announcer;
  readonly observe: Observe;
  /** Addresses the driver may use (at least two IPv4 and one IPv6). */
  readonly v4: readonly [string, string];
  readonly v6: string;
}

/** Waits until `observe` satisfies `ok` (speakers propagate asynchronously), up to timeoutMs. */
async function until(observe: Observe, ok: (m: Map<string, { gracefulShutdown: boolean }>) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = new Map<string, { gracefulShutdown: boolean }>();
  while (Date.now() < end) {
    last = await observe();
    if (ok(last)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`${what}: the network saw ${JSON.stringify([...last])}`);
}

/** The contract every Announcer driver must pass (fake, bird; the DNS driver too). */
export function runAnnouncerContract(name: string, open: () => Promise<ContractHarness>, close: () => Promise<void>): void {
  let h: ContractHarness;
  before(async () => {
    h = await open();
  });
  after(close);
  const keys = (m: Map<string, unknown>) => [...m.keys()].sort();

  test(`${name}: starts withdrawn; announce offers every address, v4 and v6`, async () => {
    assert.equal((await h.announcer.status()).state, 'withdrawn');
    await h.announcer.announce({ addresses: [h.v4[0], h.v6], attributes: NO_ATTRIBUTES }, 'healthy');
    const st = await h.announcer.status();
    assert.equal(st.state, 'announced');
    assert.deepEqual([...st.addresses].sort(), [h.v4[0], h.v6].sort());
    assert.equal(st.reason, 'healthy');
    await until(h.observe, (m) => keys(m).join() === [h.v4[0], h.v6].sort().join(), 'both addresses offered');
  });

  test(`${name}: announcing the same set twice is a no-op; a new set replaces the old one`, async () => {
    const since = (await h.announcer.status()).since;
    await h.announcer.announce({ addresses: [h.v6, h.v4[0]], attributes: NO_ATTRIBUTES }, 'healthy');
    assert.equal((await h.announcer.status()).since.getTime(), since.getTime());
    await h.announcer.announce({ addresses: [h.v4[1]], attributes: NO_ATTRIBUTES }, 'pool changed');
    await until(h.observe, (m) => keys(m).join() === h.v4[1], 'only the new address offered');
  });

  test(`${name}: gracefulShutdown reads draining and is visible outside; back to announced`, async () => {
    await h.announcer.announce({ addresses: [h.v4[1]], attributes: { ...NO_ATTRIBUTES, gracefulShutdown: true, communities: ['65001:42'] } }, 'drain');
    assert.equal((await h.announcer.status()).state, 'draining');
    await until(h.observe, (m) => m.get(h.v4[1])?.gracefulShutdown === true, 'GRACEFUL_SHUTDOWN visible');
    await h.announcer.announce({ addresses: [h.v4[1]], attributes: NO_ATTRIBUTES }, 'undrained');
    assert.equal((await h.announcer.status()).state, 'announced');
    await until(h.observe, (m) => m.get(h.v4[1])?.gracefulShutdown === false, 'GRACEFUL_SHUTDOWN gone');
  });

  test(`${name}: withdraw takes everything back, keeps the reason, and is idempotent`, async () => {
    await h.announcer.withdraw('probe failed');
    await h.announcer.withdraw('probe failed');
    const st = await h.announcer.status();
    assert.equal(st.state, 'withdrawn');
    assert.deepEqual(st.addresses, []);
    assert.equal(st.reason, 'probe failed');
    await until(h.observe, (m) => m.size === 0, 'nothing offered');
  });

  test(`${name}: bad input is refused with WGF_ERR_VALIDATION and changes nothing`, async () => {
    await h.announcer.announce({ addresses: [h.v4[0]], attributes: NO_ATTRIBUTES }, 'healthy');
    const bad = [
      { addresses: [] as string[], attributes: NO_ATTRIBUTES },
      { addresses: ['198.51.100.0/24'], attributes: NO_ATTRIBUTES },
      { addresses: ['not-an-ip'], attributes: NO_ATTRIBUTES },
      { addresses: [h.v4[0]], attributes: { ...NO_ATTRIBUTES, communities: ['65536:1'] } },
      { addresses: [h.v4[0]], attributes: { ...NO_ATTRIBUTES, prepend: 99 } },
      { addresses: [h.v4[0]], attributes: { ...NO_ATTRIBUTES, med: -1 } },
    ];
    for (const a of bad) {
      await assert.rejects(h.announcer.announce(a, 'x'), (e: unknown) => isFabricError(e, 'WGF_ERR_VALIDATION'), JSON.stringify(a));
    }
    const st = await h.announcer.status();
    assert.equal(st.state, 'announced');
    assert.deepEqual(st.addresses, [h.v4[0]]);
    await until(h.observe, (m) => keys(m).join() === h.v4[0], 'the earlier set still offered');
    await h.announcer.withdraw('done');
  });
}
