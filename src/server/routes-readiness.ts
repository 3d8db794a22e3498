import type { Static } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { PoolParams } from '../protocol/api.js';
import { FabricError } from '../protocol/errors.js';
import { READINESS_MAX_AGE_LIMITS, READINESS_MAX_AGE_MS, ReadinessQuery, type ReadinessEvent } from '../protocol/readiness.js';
import type { ControlPlane } from '../control/plane.js';
import { watchReadiness } from '../control/readiness.js';
import type { Watcher } from '../store/store.js';
import { tokenOf } from './http.js';
import type { Access } from './policy.js';
import { access, responses } from './routes-pools.js';
import type { OpenStreams } from './routes-stream.js';
import type { WatchSlots } from './stream-limits.js';

/**
 * GET /v1/pools/{pool}/readiness: the nodes' readiness bits as server-sent events (format in
 * protocol/readiness.ts). It holds a watch slot like /watch, and ends on server close.
 */
export function registerReadinessRoute(
  app: FastifyInstance, cp: ControlPlane,
  o: { readonly streams: OpenStreams; readonly slots: WatchSlots; readonly heartbeatMs: number; readonly access: Access; readonly now?: () => number },
): void {
  app.get<{ Params: Static<typeof PoolParams>; Querystring: Static<typeof ReadinessQuery> }>('/v1/pools/:pool/readiness', {
    schema: {
      tags: ['stream'], summary: "Server-sent events: the nodes' readiness (ready and recently reported), sent when it flips",
      params: PoolParams, querystring: ReadinessQuery, response: responses({ 200: Type.String({ description: 'text/event-stream' }) }),
    },
    config: access(o.access),
  }, async (req, reply) => {
    const pool = req.params.pool;
    const maxAgeMs = req.query.maxAgeMs === undefined ? READINESS_MAX_AGE_MS : Number(req.query.maxAgeMs);
    if (maxAgeMs < READINESS_MAX_AGE_LIMITS.min || maxAgeMs > READINESS_MAX_AGE_LIMITS.max) {
      throw new FabricError('WGF_ERR_VALIDATION', `maxAgeMs must be in ${READINESS_MAX_AGE_LIMITS.min}..${READINESS_MAX_AGE_LIMITS.max}`, { field: 'maxAgeMs', value: maxAgeMs });
    }
    await cp.getPool(pool); // WGF_ERR_NOT_FOUND before streaming starts
    const releaseSlot = o.slots.acquire(tokenOf(req).id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-store', connection: 'keep-alive', 'x-accel-buffering': 'no',
    });
    let closed = false;
    let watcher: Watcher | null = null;
    const write = (s: string) => {
      if (!closed) res.write(s);
    };
    const close = () => {
      if (closed) return;
      closed = true;
      watcher?.cancel();
      clearInterval(heartbeat);
      res.end();
    };
    const fail = (err: unknown) => {
      const fe = err instanceof FabricError ? err : new FabricError('WGF_ERR_UNAVAILABLE', 'the readiness stream broke; reconnect');
      write(`event: error\ndata: ${JSON.stringify(fe.toJSON())}\n\n`);
      close();
    };
    const send = (e: ReadinessEvent) => write(`event: readiness\ndata: ${JSON.stringify(e)}\n\n`);
    const heartbeat = setInterval(() => write('event: heartbeat\ndata: {}\n\n'), o.heartbeatMs);
    heartbeat.unref();
    const release = o.streams.add(close);
    res.once('close', () => {
      close();
      release();
      releaseSlot();
    });
    write('retry: 2000\n\n');
    watchReadiness(cp.store, pool, maxAgeMs, o.now ?? Date.now, send, fail).then((w) => {
      if (closed) w.cancel();
      else watcher = w;
    }, fail);
  });
}
