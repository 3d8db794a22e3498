import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordSet, UpdatePlan } from '../dns/plan.js';
import { runAnnouncerContract } from './contract.js';
import { dnsObserve } from './dns-observe.js';
import { DnsAnnouncer } from './dns.js';

/** An in-memory zone with one name: what a DNS server would hold. */
class MemoryZone {
  readonly addresses = new Set<string>();
  readonly updates: UpdatePlan[] = [];
  async records(): Promise<RecordSet> {
    return { addresses: [...this.addresses].sort(), ttl: this.addresses.size ? 5 : null };
  }
  async update(_zone: string, _name: string, plan: UpdatePlan): Promise<void> {
    this.updates.push(plan);
    for (const a of plan.remove) this.addresses.delete(a);
    for (const a of plan.add) this.addresses.add(a);
  }
}

describe('DnsAnnouncer (in-memory zone)', () => {
  const zone = new MemoryZone();
  const announcer = new DnsAnnouncer({ client: zone, zone: 'example.net', name: 'vpn.example.net', ttl: 5 });
  runAnnouncerContract('dns', async () => ({
    announcer, v4: ['198.18.99.1', '198.18.99.2'], v6: '2001:db8::1',
    observe: dnsObserve(announcer, async () => (await zone.records()).addresses),
  }), async () => {});
});

test('DnsAnnouncer: the same set again sends nothing while the zone agrees, and repairs a hand edit', async () => {
  const zone = new MemoryZone();
  const a = new DnsAnnouncer({ client: zone, zone: 'example.net', name: 'vpn.example.net', ttl: 5 });
  const set = { addresses: ['198.18.0.10', '198.18.0.11'], attributes: { gracefulShutdown: false, communities: [], med: null, prepend: 0 } };
  await a.announce(set, 'in service');
  await a.announce(set, 'in service');
  assert.equal(zone.updates.length, 1);
  zone.addresses.add('203.0.113.9');
  zone.addresses.delete('198.18.0.10');
  await a.announce(set, 'in service');
  assert.deepEqual(zone.updates.at(-1), { add: ['198.18.0.10'], remove: ['203.0.113.9'], retimed: false, kept: [] });
  assert.deepEqual([...zone.addresses].sort(), set.addresses);
});
