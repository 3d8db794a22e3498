/**
 * Follows an LB's pool through the control plane's streams instead of polling it:
 * - the pool's change stream (GET /watch?kinds=pool,node: no peers), whole revisions at a
 *   time, resumed from the last revision seen after a break, re-read from scratch when that
 *   revision was compacted (or is ahead of a restored store);
 * - the readiness stream (GET /readiness): one bit per node, sent by the server when it flips
 *   (protocol/readiness.ts), since agent status reports are not in the change stream.
 * A safety-net re-read of the pool and its nodes every resyncMs (default 60 s) repairs
 * anything a stream could have missed. While the control plane is gone the last state stays
 * (the table is kept); it is logged once, and both streams reconnect with backoff.
 */
import type { ApiClient } from '../client/api-client.js';
import { isFabricError, needsResnapshot } from '../protocol/errors.js';
import type { Node, Pool } from '../protocol/types.js';
import type { LogFn } from '../sys/log.js';
import { agentReady } from '../lb/health.js';
import { PoolMirror } from './mirror.js';
import type { PoolSource, PoolState } from './source.js';

/** The part of the API the stream source uses (ApiClient implements it). */
export type StreamApi = Pick<ApiClient, 'getPool' | 'listNodes' | 'watchPoolBatches' | 'watchReadiness'>;

export interface StreamSourceOptions {
  readonly api: StreamApi;
  readonly pool: string;
  /** A `ready` report older than this does not count (the server judges it; default 15 s). */
  readonly readyMaxAgeMs: number;
  readonly onState: (s: PoolState) => void;
  readonly log: LogFn;
  /** Safety-net re-read of the pool and its nodes (default 60 s; 0: never). */
  readonly resyncMs?: number;
  /** Reconnect backoff: first wait, doubled per failure up to maxMs (defaults 250 ms, 5 s). */
  readonly backoff?: { readonly minMs: number; readonly maxMs: number };
  /** A stream silent (no heartbeat) this long is dead (default 30 s). */
  readonly idleTimeoutMs?: number;
}

/** Counters (tests and bench read them). */
export interface StreamSourceStats {
  /** Full reads of the pool and its nodes (start, re-snapshots, resyncs). */
  reads: number;
  resnapshots: number;
  /** Streams opened (both kinds). */
  opens: number;
  /** Batches of revisions applied. */
  batches: number;
}

type StreamName = 'changes' | 'readiness';

export class StreamSource implements PoolSource {
  private readonly mirror = new PoolMirror();
  private ready = new Map<string, boolean>();
  /** False until the readiness stream's first full state: readiness comes from the node list's reports. */
  private readinessLive = false;
  private readonly abort = new AbortController();
  private readonly broken = new Set<StreamName>();
  /** Streams that opened since their loop last (re)started them. */
  private readonly openedNow = new Set<StreamName>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private deletedLogged = false;
  readonly stats: StreamSourceStats = { reads: 0, resnapshots: 0, opens: 0, batches: 0 };

  constructor(private readonly o: StreamSourceOptions) {}

  async start(): Promise<void> {
    try {
      await this.read(true);
    } catch (e) {
      this.lost('changes', e);
    }
    void this.follow('changes', () => this.changesOnce());
    void this.follow('readiness', () => this.readinessOnce());
    const every = this.o.resyncMs ?? 60_000;
    if (every > 0) {
      const loop = () => {
        this.resyncTimer = setTimeout(() => void this.read(false).catch(() => {}).finally(() => !this.stopped && loop()), every);
      };
      loop();
    }
  }

  stop(): void {
    this.abort.abort();
    clearTimeout(this.resyncTimer);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  /** Reads the pool and all its nodes; `resume`: also restart the change stream from this read. */
  private async read(resume: boolean): Promise<void> {
    this.stats.reads++;
    const nodes: Node[] = [];
    let revision: number | undefined;
    let cursor: string | undefined;
    do {
      const page = await this.o.api.listNodes(this.o.pool, { limit: 1000, ...(cursor ? { cursor } : {}) });
      revision ??= page.revision; // the first page's: every later change is in the stream after it
      nodes.push(...page.items);
      cursor = page.next ?? undefined;
    } while (cursor);
    const pool: Pool = await this.o.api.getPool(this.o.pool);
    if (this.stopped || !this.mirror.applyRead(pool, nodes, revision, resume)) return;
    if (!this.readinessLive) {
      const now = Date.now();
      this.ready = new Map(nodes.map((n) => [n.name, agentReady(n.status, now, this.o.readyMaxAgeMs)]));
    }
    this.emit();
  }

  /** One change stream, from the mirror's revision (a fresh read first when there is none). */
  private async changesOnce(): Promise<void> {
    if (this.mirror.pool === undefined) await this.read(true);
    try {
      await this.o.api.watchPoolBatches(this.o.pool, this.mirror.revision, (changes) => {
        this.stats.batches++;
        const changed = this.mirror.applyChanges(changes);
        if (this.mirror.deleted && !this.deletedLogged) {
          this.deletedLogged = true;
          this.o.log('warn', 'the pool was deleted; keeping the last table', { pool: this.o.pool });
        }
        if (changed) this.emit();
      }, {
        signal: this.abort.signal, kinds: ['pool', 'node'], onOpen: () => this.opened('changes'),
        onHeartbeat: (r) => this.mirror.advance(r), ...(this.o.idleTimeoutMs ? { idleTimeoutMs: this.o.idleTimeoutMs } : {}),
      });
    } catch (e) {
      if (!needsResnapshot(e)) throw e;
      this.stats.resnapshots++;
      this.o.log('info', 'the pool\'s revision is gone from the change log; reading the pool again', { pool: this.o.pool, revision: this.mirror.revision, code: (e as { code?: string }).code });
      await this.read(true);
    }
  }

  private async readinessOnce(): Promise<void> {
    await this.o.api.watchReadiness(this.o.pool, this.o.readyMaxAgeMs, (e) => {
      if (e.full) this.ready = new Map(Object.entries(e.nodes));
      else for (const [name, ready] of Object.entries(e.nodes)) this.ready.set(name, ready);
      this.readinessLive = true;
      this.emit();
    }, { signal: this.abort.signal, onOpen: () => this.opened('readiness'), ...(this.o.idleTimeoutMs ? { idleTimeoutMs: this.o.idleTimeoutMs } : {}) });
  }

  /** Runs one stream kind until stop(): reconnects with backoff after every end or failure. */
  private async follow(name: StreamName, once: () => Promise<void>): Promise<void> {
    const { minMs, maxMs } = this.o.backoff ?? { minMs: 250, maxMs: 5000 };
    let wait = minMs;
    while (!this.stopped) {
      this.openedNow.delete(name);
      try {
        await once();
      } catch (e) {
        this.lost(name, e);
      }
      if (this.stopped) return;
      if (this.openedNow.has(name)) wait = minMs; // it had worked: start the backoff again
      await new Promise((r) => setTimeout(r, wait * (0.8 + 0.4 * Math.random())));
      wait = Math.min(maxMs, wait * 2);
    }
  }

  private opened(name: StreamName): void {
    this.stats.opens++;
    this.openedNow.add(name);
    if (!this.broken.delete(name) || this.broken.size > 0) return;
    this.o.log('info', 'following the pool again', { pool: this.o.pool, revision: this.mirror.revision });
  }

  /** A stream or read failed: logged once while the control plane stays gone. */
  private lost(name: StreamName, e: unknown): void {
    if (this.stopped) return;
    const first = this.broken.size === 0;
    this.broken.add(name);
    if (first) {
      this.o.log('warn', 'lost the control plane; keeping the last table and reconnecting', {
        pool: this.o.pool, stream: name, error: e instanceof Error ? e.message : String(e), ...(isFabricError(e) ? { code: e.code } : {}),
      });
    }
  }

  private emit(): void {
    const pool = this.mirror.pool;
    if (!pool || this.stopped) return;
    this.o.onState({ pool, nodes: this.mirror.nodes, ready: this.ready });
  }
}

