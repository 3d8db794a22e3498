import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ChangesQuery, ChangesResponseSchema, PoolParams, PoolSnapshotSchema, WatchQuery, NoQuery } from '../protocol/api.js';
import type { ChangesResponse } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import type { Watcher } from '../store/store.js';
import type { ControlPlane } from '../control/plane.js';
import { READ, type Access } from './policy.js';
import { access, responses } from './routes-pools.js';

/**
 * The agents' feed: snapshot, long-poll changes and the server-sent-events watch.
 *
 * SSE format of GET /v1/pools/{pool}/watch?since=R:
 *   event: change    data: PoolChange JSON; the last change of each revision carries
 *                    `id: <revision>` (a txn is never split across ids, so resuming from the
 *                    last id seen never skips half a txn)
 *   event: heartbeat data: {"revision": N}, id: N, every heartbeatMs: N is the revision the
 *                    stream is complete up to (the current revision when nothing is pending)
 *   event: error     data: error body (e.g. WGF_ERR_STORE_COMPACTED), then the stream ends
 * A `since` older than the compaction point is refused with 410 before streaming starts.
 */

export interface StreamOptions {
  readonly heartbeatMs: number;
  /** Called with the number of open watches/long-polls whenever it changes. */
  readonly onWatchers: (active: number) => void;
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

/** Biggest backlog a slow SSE client may build before the stream is cut (it resumes from its last id). */
const MAX_BUFFERED = 8 * 1024 * 1024;

/** Registers snapshot, changes and watch; returns the open-stream tracker (closed on server close). */
export function registerStreamRoutes(app: FastifyInstance, cp: ControlPlane, opts: StreamOptions): OpenStreams {
  const tags = ['stream'];
  const streams = new OpenStreams(opts.onWatchers);
  const agentRead = access({ ...READ, node: 'pool' } as Access);
  type P = Static<typeof PoolParams>;

  app.get<{ Params: P }>('/v1/pools/:pool/snapshot', {
    schema: { tags, summary: 'A consistent view of the pool at a revision', querystring: NoQuery, params: PoolParams, response: responses({ 200: PoolSnapshotSchema }) },
    config: agentRead,
  }, async (req) => cp.poolSnapshot(req.params.pool));

  app.get<{ Params: P; Querystring: Static<typeof ChangesQuery> }>('/v1/pools/:pool/changes', {
    schema: { tags, summary: 'Changes since a revision; waits up to `wait` seconds for one (long poll)', params: PoolParams, querystring: ChangesQuery, response: responses({ 200: ChangesResponseSchema }) },
    config: agentRead,
  }, async (req, reply) => {
    const since = Number(req.query.since);
    const first = await cp.poolChanges(req.params.pool, since);
    const wait = Number(req.query.wait ?? 0);
    if (first.changes.length > 0 || wait === 0) return first;
    return new Promise<ChangesResponse>((resolve, reject) => {
      let watcher: Watcher | null = null;
      let timer: NodeJS.Timeout | null = null;
      const release = streams.add(() => finish(() => resolve({ revision: first.revision, changes: [] })));
      const finish = (fn: () => void) => {
        if (timer) clearTimeout(timer);
        watcher?.cancel();
        timer = null;
        release();
        fn();
      };
      reply.raw.once('close', () => finish(() => resolve({ revision: first.revision, changes: [] })));
      watcher = cp.watchPool(req.params.pool, first.revision, (changes, revision) => {
        if (changes.length > 0) finish(() => resolve({ revision, changes }));
      }, (err) => finish(() => reject(err)));
      timer = setTimeout(() => finish(() => cp.poolChanges(req.params.pool, first.revision).then(resolve, reject)), wait * 1000);
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
    startSse(reply, cp, streams, pool, since, opts.heartbeatMs);
  });

  app.addHook('preClose', async () => streams.closeAll());
  return streams;
}

function startSse(reply: FastifyReply, cp: ControlPlane, streams: OpenStreams, pool: string, since: number, heartbeatMs: number): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-store', connection: 'keep-alive', 'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  let delivered = since;
  let closed = false;
  const write = (chunk: string) => {
    if (closed) return;
    res.write(chunk);
    if (res.writableLength > MAX_BUFFERED) close();
  };
  const close = () => {
    if (closed) return;
    closed = true;
    watcher.cancel();
    clearInterval(heartbeat);
    release();
    res.end();
  };
  const release = streams.add(close);
  const watcher = cp.watchPool(pool, since, (changes, revision) => {
    let out = '';
    changes.forEach((c, i) => {
      const lastOfRevision = i === changes.length - 1 || changes[i + 1]!.revision !== c.revision;
      out += `${lastOfRevision ? `id: ${c.revision}\n` : ''}event: change\ndata: ${JSON.stringify(c)}\n\n`;
    });
    delivered = revision;
    write(out);
  }, (err) => {
    const body = err instanceof FabricError ? err.toJSON() : new FabricError('WGF_ERR_UNAVAILABLE', 'the watch broke; reconnect').toJSON();
    write(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
    close();
  });
  const heartbeat = setInterval(() => {
    const from = delivered;
    cp.resumeRevision(pool, from).then((r) => {
      const rev = Math.max(r, delivered);
      write(`id: ${rev}\nevent: heartbeat\ndata: ${JSON.stringify({ revision: rev })}\n\n`);
    }, () => close());
  }, heartbeatMs);
  heartbeat.unref();
  res.once('close', close);
}
