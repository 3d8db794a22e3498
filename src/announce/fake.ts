import type { AnnounceAttributes, Announcement, Announcer, AnnouncerStatus } from './announcer.js';
import { stateOf } from './announcer.js';
import { sameAttributes, validateAnnouncement } from './validate.js';

/**
 * In-memory announcer for unit tests of the agent and the LB; held to the same contract as
 * the real drivers. `history` records every change the network would have seen.
 */
export class FakeAnnouncer implements Announcer {
  readonly kind = 'fake';
  /** Every effective change, oldest first. */
  readonly history: { state: AnnouncerStatus['state']; addresses: readonly string[]; reason: string }[] = [];
  /** Set to make the next calls fail (a speaker that went away). */
  failWith: Error | null = null;
  private addresses: readonly string[] = [];
  private attributes: AnnounceAttributes | null = null;
  private reason = 'not announced yet';
  private since: Date;

  constructor(private readonly now: () => Date = () => new Date()) {
    this.since = now();
  }

  async announce(a: Announcement, reason: string): Promise<void> {
    const v = validateAnnouncement(a);
    if (this.failWith) throw this.failWith;
    const before = this.attributes === null ? 'withdrawn' : stateOf(this.attributes);
    this.reason = reason;
    if (v.addresses.join() === this.addresses.join() && sameAttributes(v.attributes, this.attributes)) return;
    this.addresses = v.addresses;
    this.attributes = v.attributes;
    if (stateOf(v.attributes) !== before) this.since = this.now();
    this.history.push({ state: stateOf(v.attributes), addresses: v.addresses, reason });
  }

  async withdraw(reason: string): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.reason = reason;
    if (this.attributes === null) return;
    this.addresses = [];
    this.attributes = null;
    this.since = this.now();
    this.history.push({ state: 'withdrawn', addresses: [], reason });
  }

  async status(): Promise<AnnouncerStatus> {
    return {
      state: this.attributes === null ? 'withdrawn' : stateOf(this.attributes), addresses: this.addresses, attributes: this.attributes,
      reason: this.reason, since: this.since,
    };
  }

  async close(): Promise<void> {}
}
