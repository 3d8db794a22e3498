import { Readable } from 'node:stream';
import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ChangesQuery, ChangesResponseSchema, PoolParams, PoolSnapshotSchema, WatchQuery, NoQuery } from '../protocol/api.js';
import type { ChangesResponse } from '../protocol/api.js';
import type { PoolChange } from '../protocol/types.js';
import { FabricError } from '../protocol/errors.js';
import type { Watcher } from '../store/store.js';
import type { ControlPlane, PoolView } from '../control/plane.js';
import { tokenOf } from './http.js';
import { READ, type Access } from './policy.js';
import { access, responses } from './routes-pools.js';
import { WatchSlots, type WatchLimits } from './stream-limits.js';
import { runWatch, type WatchFeed } from './watch-stream.js';
import { registerRevocationHook, Revocations } from './revocation.js';
import { registerReadinessRoute } from './routes-readiness.js';
import { SnapshotShare } from './snapshot-share.js';

/**
 * The agents' feed: snapshot, long-poll changes and the server-sent-events watch.
 *
 * SSE format of GET /v1/pools/{pool}/watch?since=R:
 *   event: change    data: PoolChange JSON; the last change of each revision carries
 *                    `id: <revision>` (a txn is never split across ids, so resuming from the
 *                    last id seen never skips half a txn)
 *   event: heartbeat data: {"revision": N}, id: N, every heartbeatMs: N is the revision the
 *                    stream is complete up to (the current revision when nothing is pending)
 *   event: error     data: error body (e.g. WGF_ERR_STORE_COMPACTED, WGF_ERR_WATCH_TOO_SLOW),
 *                    then the stream ends
 * A `since` older than the compaction point (WGF_ERR_STORE_COMPACTED) or above the current
 * revision (WGF_ERR_REVISION_AHEAD) is refused with 410 before streaming starts; both mean
 * "take a fresh snapshot". The backlog is sent in pages under back-pressure and slow clients
 * are cut (watch-stream.ts); open watches and waiting long polls are limited per token and
 * in total (WGF_ERR_TOO_MANY_WATCHES, 429; stream-limits.ts).
 */

export interface StreamOptions {
  readonly heartbeatMs: number;
  /** Called with the number of open watches/long-polls whenever it changes. */
  readonly onWatchers: (active: number) => void;
  readonly limits: WatchLimits;
}

/** Open SSE responses, so server close can end them (they never end by themselves). */
export class OpenStreams {
  private readonly open = new Set<() => void>();
  active = 0;
  constructor(private readonly onChange: (n: number) => void) {}
  add(close: () => void): () => void {
    this.open.add(close);
    this.onChange(++this.active);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.open.delete(close);
      this.onChange(--this.active);
    };
  }
  closeAll(): void {
    for (const close of [...this.open]) close();
  }
}

/** Registers snapshot, changes and watch; returns the open-stream tracker (closed on server close). */
export function registerStreamRoutes(app: FastifyInstance, cp: ControlPlane, opts: StreamOptions): OpenStreams {
  const tags = ['stream'];
  const streams = new OpenStreams(opts.onWatchers);
  const slots = new WatchSlots(opts.limits);
  const revocations = new Revocations();
  const share = new SnapshotShare((pool, revision) => cp.poolChangedSince(pool, revision));
  registerRevocationHook(app, revocations);
  const agentRead = access({ ...READ, node: 'pool' } as Access);
  type P = Static<typeof PoolParams>;

  app.get<{ Params: P }>('/v1/pools/:pool/snapshot', {
    schema: { tags, summary: 'A consistent view of the pool at a revision', querystring: NoQuery, params: PoolParams, response: responses({ 200: PoolSnapshotSchema }) },
    config: agentRead,
  }, async (req, reply) => {
    // Read at full speed whatever the client's pace and shared by the requests that come
    // together (snapshot-share.ts): no client holds a store read, 200 agents cost one read.
    const { pool } = req.params;
    const view = viewOf(req);
    const snap = await share.open(pool, JSON.stringify(view), () => cp.poolSnapshotStream(pool, view),
      { ms: opts.limits.stallMs, cut: () => reply.raw.destroy() });
    reply.type('application/json; charset=utf-8');
    return reply.send(Readable.from(snap.body, { objectMode: false }));
  });

  app.get<{ Params: P; Querystring: Static<typeof ChangesQuery> }>('/v1/pools/:pool/changes', {
    schema: { tags, summary: 'Changes since a revision; waits up to `wait` seconds for one (long poll)', params: PoolParams, querystring: ChangesQuery, response: responses({ 200: ChangesResponseSchema }) },
    config: agentRead,
  }, async (req, reply) => {
    const since = Number(req.query.since);
    const view = viewOf(req);
    const first = await cp.poolChanges(req.params.pool, since, view);
    const wait = Number(req.query.wait ?? 0);
    if (first.changes.length > 0 || wait === 0) return first;
    const releaseSlot = slots.acquire(tokenOf(req).id);
    return new Promise<ChangesResponse>((resolve, reject) => {
      let watcher: Watcher | null = null;
      let timer: NodeJS.Timeout | null = null;
      const release = streams.add(() => finish(() => resolve({ revision: first.revision, changes: [] })));
      const finish = (fn: () => void) => {
        if (timer) clearTimeout(timer);
        watcher?.cancel();
        timer = null;
        release();
        releaseSlot();
        fn();
      };
      reply.raw.once('close', () => finish(() => resolve({ revision: first.revision, changes: [] })));
      watcher = cp.watchPool(req.params.pool, first.revision, (changes, revision) => {
        if (changes.length > 0) finish(() => resolve({ revision, changes }));
      }, (err) => finish(() => reject(err)), view);
      timer = setTimeout(() => finish(() => cp.poolChanges(req.params.pool, first.revision, view).then(resolve, reject)), wait * 1000);
    });
  });

  app.get<{ Params: P; Querystring: Static<typeof WatchQuery> }>('/v1/pools/:pool/watch', {
    schema: {
      tags, summary: 'Server-sent events: every change after `since`, and heartbeats', params: PoolParams, querystring: WatchQuery,
      response: responses({ 200: Type.String({ description: 'text/event-stream' }) }),
    },
    config: agentRead,
  }, async (req, reply) => {
    const pool = req.params.pool;
    const since = Number(req.query.since);
    const compactRevision = await cp.store.compactRevision();
    if (since < compactRevision) {
      throw new FabricError('WGF_ERR_STORE_COMPACTED', `revision ${since} was compacted; take a snapshot`, { compactRevision, currentRevision: await cp.currentRevision() });
    }
    await cp.checkSince(since);
    const releaseSlot = slots.acquire(tokenOf(req).id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-store', connection: 'keep-alive', 'x-accel-buffering': 'no',
    });
    const feed = onlyKinds(feedFor(cp, viewOf(req)), req.query.kinds);
    const close = runWatch(res, feed, pool, since, opts.limits, opts.heartbeatMs, revocations.guard(cp, req, agentRead.access, pool));
    // The slot is held until the socket is gone, so a cut client's queued bytes still count.
    const release = streams.add(close);
    res.once('close', () => {
      release();
      releaseSlot();
    });
  });

  registerReadinessRoute(app, cp, { streams, slots, heartbeatMs: opts.heartbeatMs, access: agentRead.access });
  app.addHook('preClose', async () => streams.closeAll());
  return streams;
}

/** Node tokens (only ever of this pool: see policy) read the peers' preshared keys; other roles never do. */
function viewOf(req: FastifyRequest): PoolView {
  return { presharedKeys: tokenOf(req).role === 'node' };
}

/** The watch feed of one reader: the control plane with that reader's view. */
function feedFor(cp: ControlPlane, view: PoolView): WatchFeed {
  return {
    poolBacklog: (pool, since, limit) => cp.poolBacklog(pool, since, limit, view),
    watchPool: (pool, since, onChanges, onError) => cp.watchPool(pool, since, onChanges, onError, view),
    resumeRevision: (pool, delivered) => cp.resumeRevision(pool, delivered),
  };
}

/**
 * The feed with only the asked kinds of changes (`kinds` of the watch query). Filtering before
 * the SSE text is made keeps the rule "the last change of each revision carries the id"; a
 * revision with nothing left is covered by the next id or heartbeat.
 */
function onlyKinds(feed: WatchFeed, kinds: string | undefined): WatchFeed {
  if (kinds === undefined) return feed;
  const keep = new Set(kinds.split(','));
  const want = (c: PoolChange) => keep.has(c.type.slice(0, c.type.indexOf('.')));
  return {
    poolBacklog: async (pool, since, limit) => {
      const page = await feed.poolBacklog(pool, since, limit);
      return { ...page, changes: page.changes.filter(want) };
    },
    watchPool: (pool, since, onChanges, onError) => feed.watchPool(pool, since, (changes, revision) => onChanges(changes.filter(want), revision), onError),
    resumeRevision: feed.resumeRevision,
  };
}
