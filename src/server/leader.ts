import type { Etcd3 } from 'etcd3';

/**
 * Who runs the background jobs (change-log compaction, and any later periodic job) when
 * several replicas share one store: exactly one replica at a time, the leader.
 */
export interface Leadership {
  isLeader(): boolean;
  /** Gives leadership up (another replica takes over at once) and stops campaigning. */
  close(): Promise<void>;
}

/** The only server of a SQLite store is always the leader. */
export const soleLeader: Leadership = { isLeader: () => true, close: async () => {} };

export interface LeaderLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

/**
 * Leadership through an etcd election (etcd3's Election: a key under `<prefix>e/` bound to a
 * lease of `ttlSec`). The leader's lease is kept alive by its etcd client; when the replica
 * dies or loses etcd, the lease runs out after at most ttlSec and the next candidate is
 * elected. A replica that loses its lease stops being leader at once and campaigns again.
 * Jobs must stay safe if two replicas briefly both believe they lead (a partitioned old
 * leader until its lease check fails): compaction is idempotent.
 */
export class EtcdLeadership implements Leadership {
  private leader = false;
  private closed = false;
  private campaign: ReturnType<ReturnType<Etcd3['election']>['campaign']> | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly client: Etcd3, private readonly prefix: string, private readonly id: string, private readonly ttlSec: number, private readonly log: LeaderLog) {}

  start(): this {
    this.run();
    return this;
  }

  isLeader(): boolean {
    return this.leader && !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.leader = false;
    if (this.retry) clearTimeout(this.retry);
    await this.campaign?.resign().catch(() => undefined);
  }

  private run(): void {
    if (this.closed) return;
    const c = this.client.namespace(`${this.prefix}e/`).election('jobs', this.ttlSec).campaign(this.id);
    this.campaign = c;
    c.on('elected', () => {
      if (this.closed || this.campaign !== c) return;
      this.leader = true;
      this.log.info({ replica: this.id }, 'this replica now runs the background jobs (elected in etcd)');
    });
    c.on('error', (e: Error) => {
      // One retry per campaign, however many errors it reports.
      if (this.campaign !== c) return;
      this.campaign = undefined;
      const was = this.leader;
      this.leader = false;
      if (this.closed || /client was already closed/.test(e.message)) return;
      this.log.warn({ replica: this.id, error: e.message, wasLeader: was }, 'background-job election lost its etcd lease; campaigning again');
      c.resign().catch(() => undefined);
      this.retry = setTimeout(() => this.run(), 1000);
      this.retry.unref();
    });
  }
}
