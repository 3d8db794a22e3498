/**
 * The DNS driver of the Announcer interface: the addresses offered are the A/AAAA records of
 * one name in one zone, written with TSIG-signed RFC 2136 updates (src/dns/). announce() reads
 * the name's records back from the server and sends only the difference, so announcing the
 * same set again sends nothing while the zone agrees, and repairs it when someone edited it.
 *
 * DNS has no way to say "still here, but avoid me": draining (gracefulShutdown) drops the
 * records, as the interface says, and the state reads 'draining' until the caller withdraws.
 * Communities, MED and prepends mean nothing to DNS and are ignored. withdraw() empties the
 * name (the caller means it; the pool updater never withdraws the last address, see
 * src/dns/updater.ts).
 */
import type { RecordSet, UpdatePlan } from '../dns/plan.js';
import { planUpdate } from '../dns/plan.js';
import type { AnnounceAttributes, Announcement, Announcer, AnnouncerStatus } from './announcer.js';
import { stateOf } from './announcer.js';
import { sameAttributes, validateAnnouncement } from './validate.js';

/** What the driver needs of a DNS server: DnsClient (src/dns/client.ts), or a fake. */
export interface DnsZoneClient {
  records(name: string): Promise<RecordSet>;
  update(zone: string, name: string, plan: UpdatePlan, ttl: number): Promise<void>;
}

export interface DnsAnnouncerOptions {
  readonly client: DnsZoneClient;
  /** Normalized (see dnsRunSettings in src/dns/config.ts). */
  readonly zone: string;
  readonly name: string;
  readonly ttl: number;
  /** Hears every update sent (for logs and counters). */
  readonly onUpdate?: (plan: UpdatePlan, ms: number) => void;
  readonly now?: () => Date;
}

export class DnsAnnouncer implements Announcer {
  readonly kind = 'dns';
  private addresses: readonly string[] = [];
  private attributes: AnnounceAttributes | null = null;
  private reason = 'not announced yet';
  private since: Date;
  private readonly now: () => Date;

  constructor(private readonly o: DnsAnnouncerOptions) {
    this.now = o.now ?? (() => new Date());
    this.since = this.now();
  }

  async announce(a: Announcement, reason: string): Promise<void> {
    const v = validateAnnouncement(a);
    await this.sync(v.attributes.gracefulShutdown ? [] : v.addresses);
    const before = this.attributes === null ? 'withdrawn' : stateOf(this.attributes);
    this.reason = reason;
    if (v.addresses.join() === this.addresses.join() && sameAttributes(v.attributes, this.attributes)) return;
    this.addresses = v.addresses;
    this.attributes = v.attributes;
    if (stateOf(v.attributes) !== before) this.since = this.now();
  }

  async withdraw(reason: string): Promise<void> {
    await this.sync([]);
    this.reason = reason;
    if (this.attributes === null) return;
    this.addresses = [];
    this.attributes = null;
    this.since = this.now();
  }

  async status(): Promise<AnnouncerStatus> {
    return {
      state: this.attributes === null ? 'withdrawn' : stateOf(this.attributes), addresses: this.addresses, attributes: this.attributes,
      reason: this.reason, since: this.since,
    };
  }

  async close(): Promise<void> {}

  /** Makes the zone hold exactly `addresses` for the name (reads it first; sends only a difference). */
  private async sync(addresses: readonly string[]): Promise<void> {
    const plan = planUpdate(await this.o.client.records(this.o.name), addresses, this.o.ttl, { allowEmpty: true });
    if (!plan || (plan.add.length === 0 && plan.remove.length === 0)) return;
    const t0 = performance.now();
    await this.o.client.update(this.o.zone, this.o.name, plan, this.o.ttl);
    this.o.onUpdate?.(plan, performance.now() - t0);
  }
}
