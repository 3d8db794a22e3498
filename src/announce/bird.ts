/**
 * The BGP announcer on BIRD 2 (Debian bird2): the driver owns one include file (bird-config.ts)
 * and talks to bird over its control socket (bird-socket.ts).
 * - withdraw: `disable <prefix>4`, `disable <prefix>6` over the socket (bird sends the BGP
 *   withdrawals at once; no reload), then the include is rewritten `disabled yes` so a reload or
 *   a restarted bird stays withdrawn.
 * - announce of the set already in the include: `enable` over the socket, no reload.
 * - announce of a new set or new attributes (drain, policy change): the include is rewritten
 *   and bird reloads (`configure`, soft: sessions stay up), then enable/disable is asserted.
 * status() reads back from bird: a protocol that is up offers its routes (`show route protocol`).
 */
import { writeFile, rename } from 'node:fs/promises';
import { FabricError } from '../protocol/errors.js';
import type { Announcement, Announcer, AnnouncerStatus, AnnounceAttributes } from './announcer.js';
import { NO_ATTRIBUTES, stateOf } from './announcer.js';
import { PROTOCOL_PREFIX_RE, renderBirdInclude } from './bird-config.js';
import { birdCommand } from './bird-socket.js';
import { sameAttributes, validateAnnouncement } from './validate.js';

export interface BirdAnnouncerOptions {
  /** bird's control socket (`bird -s PATH`). */
  readonly socket: string;
  /** The include file this driver owns (bird.conf must `include` it). */
  readonly includeFile: string;
  /** Protocol name prefix (default "wgf_anycast"): protocols <prefix>4, <prefix>6, filter <prefix>_export. */
  readonly prefix?: string;
  /** Local AS for AS-path prepends (null: prepends are not written). */
  readonly localAs?: number | null;
  readonly timeoutMs?: number;
  readonly now?: () => Date;
}

export class BirdAnnouncer implements Announcer {
  readonly kind = 'bgp';
  readonly prefix: string;
  private written: { addresses: readonly string[]; attributes: AnnounceAttributes } | null = null;
  private enabled = false;
  private reason = 'not announced yet';
  private since: Date;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => Date;

  constructor(private readonly o: BirdAnnouncerOptions) {
    this.prefix = o.prefix ?? 'wgf_anycast';
    if (!PROTOCOL_PREFIX_RE.test(this.prefix)) throw new FabricError('WGF_ERR_VALIDATION', `bird protocol prefix "${this.prefix}" must match ${PROTOCOL_PREFIX_RE}`);
    this.now = o.now ?? (() => new Date());
    this.since = this.now();
  }

  /**
   * Writes the include withdrawn and reloads bird, so we start from a known state (whatever a
   * dead predecessor left). Call once before use.
   */
  init(): Promise<void> {
    return this.serialized(async () => {
      this.written = { addresses: [], attributes: NO_ATTRIBUTES };
      this.enabled = false;
      await this.writeInclude();
      await this.cmd('configure');
      await this.setEnabled(false);
    });
  }

  async announce(a: Announcement, reason: string): Promise<void> {
    const v = validateAnnouncement(a);
    return this.serialized(async () => {
      const wasState = this.enabled && this.written ? stateOf(this.written.attributes) : 'withdrawn';
      const same = this.written !== null && this.written.addresses.join() === v.addresses.join() && sameAttributes(this.written.attributes, v.attributes);
      this.reason = reason;
      if (same && this.enabled) return;
      this.written = { addresses: v.addresses, attributes: v.attributes };
      this.enabled = true;
      await this.writeInclude();
      if (!same) await this.cmd('configure');
      await this.setEnabled(true);
      if (stateOf(v.attributes) !== wasState) this.since = this.now();
    });
  }

  withdraw(reason: string): Promise<void> {
    return this.serialized(async () => {
      this.reason = reason;
      // Always tell bird (cheap), even when we think it is withdrawn: a watchdog or a restarted
      // bird may disagree with our memory.
      await this.setEnabled(false);
      if (this.enabled) this.since = this.now();
      this.enabled = false;
      if (this.written) await this.writeInclude();
    });
  }

  async status(): Promise<AnnouncerStatus> {
    const offered: string[] = [];
    for (const fam of [4, 6] as const) {
      const r = await this.cmd(`show route protocol ${this.prefix}${fam}`);
      for (const line of r.lines) {
        const m = /^(\S+)\/(32|128)\s/.exec(line);
        if (m) offered.push(m[1]!);
      }
    }
    offered.sort();
    const attributes = offered.length > 0 ? (this.written?.attributes ?? NO_ATTRIBUTES) : null;
    return { state: attributes === null ? 'withdrawn' : stateOf(attributes), addresses: offered, attributes, reason: this.reason, since: this.since };
  }

  async close(): Promise<void> {
    await this.queue.catch(() => {});
  }

  private async setEnabled(on: boolean): Promise<void> {
    // Both families in turn; v4 first (most clients). "already enabled/disabled" is a success code.
    for (const fam of [4, 6] as const) await this.cmd(`${on ? 'enable' : 'disable'} ${this.prefix}${fam}`);
  }

  private async writeInclude(): Promise<void> {
    const w = this.written!;
    const text = renderBirdInclude({ prefix: this.prefix, localAs: this.o.localAs ?? null, addresses: w.addresses, attributes: w.attributes, enabled: this.enabled });
    const tmp = `${this.o.includeFile}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, this.o.includeFile);
    } catch (e) {
      throw new FabricError('WGF_ERR_ANNOUNCE', `cannot write the bird include ${this.o.includeFile}: ${(e as Error).message}`, { file: this.o.includeFile }, { cause: e });
    }
  }

  private cmd(c: string) {
    return birdCommand(this.o.socket, c, this.o.timeoutMs ?? 5_000);
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }
}
