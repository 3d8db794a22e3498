import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { FabricError } from '../protocol/errors.js';
import type { ControlPlane } from '../control/plane.js';
import { redact, toHttpError } from './errors.js';
import { setToken } from './http.js';
import { useStrictJsonBodies } from './json-body.js';
import { ServerMetrics } from './metrics.js';
import { useRequestLog } from './request-log.js';
import { authorize } from './authorize.js';
import { ADMIN, type Access } from './policy.js';
import { registerAdminRoutes, registerMetaRoutes } from './routes-admin.js';
import { registerNodeRoutes, registerPeerRoutes } from './routes-children.js';
import { registerLbRoutes } from './routes-lbs.js';
import { registerPoolRoutes } from './routes-pools.js';
import { registerSessionMetrics, registerSessionRoutes } from './routes-sessions.js';
import { SessionRegistry } from '../control/sessions.js';
import { registerStreamRoutes } from './routes-stream.js';
import { DEFAULT_WATCH_LIMITS, validateWatchLimits, type WatchLimits } from './stream-limits.js';
import { registerUiRoutes } from './ui.js';

/** Options of buildServer; only `control` is required. */
export interface BuildServerOptions {
  readonly control: ControlPlane;
  /** fastify logger option (false in tests). Authorization headers are redacted. */
  readonly logger?: FastifyServerOptions['logger'];
  /** SSE heartbeat period (default 5000 ms). */
  readonly heartbeatMs?: number;
  /** Largest accepted body (default 64 KiB). */
  readonly bodyLimit?: number;
  /** Sees every route as it is registered (the auth-matrix test collects them). */
  readonly onRoute?: (route: { method: string; url: string; access: Access | undefined }) => void;
  /** Number of open watches/long-polls, on every change (tests wait on it). */
  readonly onWatchers?: (active: number) => void;
  /** Log lines dropped so far because the log could not be written (see log-sink.ts), for /metrics. */
  readonly logDropped?: () => number;
  /** Limits of watches and long polls (default DEFAULT_WATCH_LIMITS); see stream-limits.ts. */
  readonly watchLimits?: Partial<WatchLimits>;
  /** Serve HTTPS with this PEM certificate (chain) and key (see loadServerTls); plain HTTP without. */
  readonly https?: { readonly cert: string; readonly key: string };
  /** Directory of the built web dashboard served under /ui/ (default dist/ui, see ui.ts). */
  readonly uiDir?: string;
  /** Per-peer session state reported by agents (this replica's memory); a new empty one by default. */
  readonly sessions?: SessionRegistry;
}

/** Node session tables not reported for this long are dropped (the node is gone). */
const SESSION_TABLE_MAX_AGE_MS = 30 * 60_000;

/** Default largest accepted request body (64 KiB). */
export const BODY_LIMIT = 64 * 1024;

/**
 * The control-plane HTTP API (REST under /v1, see routes-*.ts), ready for `.inject()` or
 * `.listen()`. Every route except /healthz needs `Authorization: Bearer <token>`; the auth
 * hook runs before the body is read. Bodies are JSON only, at most 64 KiB (LB reports 1 MiB),
 * validated against the TypeBox schemas of protocol/api.ts with unknown fields rejected and no
 * type coercion. Every error body is FabricError.toJSON(); unexpected errors are logged once
 * (redacted) and answered as WGF_ERR_INTERNAL.
 */
export async function buildServer(opts: BuildServerOptions): Promise<FastifyInstance> {
  const cp = opts.control;
  const app = Fastify({
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key } } : {}),
    logger: opts.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }), // one line per request instead, at a level by kind (request-log.ts)
    bodyLimit: opts.bodyLimit ?? BODY_LIMIT,
    exposeHeadRoutes: false,
    return503OnClosing: false, // answered by the onRequest hook below, in our error format
    routerOptions: { maxParamLength: 200 },
    // Router-level rejections (malformed URL, overlong path segment) get our error body too.
    frameworkErrors: (err, _req, reply) => {
      const fe = toHttpError(err);
      return (reply as FastifyReply).code(fe.status).type('application/json; charset=utf-8').send(fe.toJSON());
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });
  const metrics = new ServerMetrics(cp, opts.logDropped);
  useRequestLog(app);

  // Only JSON bodies: without the text/plain parser, any other type is 415.
  app.removeContentTypeParser('text/plain');
  useStrictJsonBodies(app);
  // Responses are built by explicit mappers (records.ts); the schemas document them.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'wgfabric control plane', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });

  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    for (const method of [route.method].flat()) opts.onRoute?.({ method, url: route.url, access });
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  app.addHook('onRequest', async (req) => {
    if (closing) throw new FabricError('WGF_ERR_UNAVAILABLE', 'the server is shutting down');
    if (req.routeOptions.url === undefined) return; // 404: the not-found handler answers
    // Fail closed: a route that forgot its access rule is admin-only.
    const access = req.routeOptions.config.access ?? ADMIN;
    if (access.kind === 'public') return;
    setToken(req, await authorize(cp, req.headers.authorization, access, req.params as Record<string, unknown>, `${req.method} ${req.routeOptions.url}`));
  });

  // Callback-style hooks where nothing is awaited: an async hook costs a promise per request.
  app.addHook('onResponse', (req, reply, done) => {
    metrics.observe(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler((err, req, reply) => {
    const fe = toHttpError(err);
    if (fe.status >= 500) {
      const cause = fe.cause instanceof Error ? fe.cause : err instanceof Error ? err : null;
      req.log.error({ code: fe.code, error: cause ? redact(`${cause.name}: ${cause.message}\n${cause.stack ?? ''}`) : undefined }, 'request failed');
    }
    return reply.code(fe.status).type('application/json; charset=utf-8').send(fe.toJSON());
  });

  app.setNotFoundHandler((req, reply) => {
    return reply.code(404).type('application/json; charset=utf-8').send(new FabricError('WGF_ERR_NOT_FOUND', `no route ${req.method} for this path`).toJSON());
  });

  registerMetaRoutes(app, cp, metrics);
  registerAdminRoutes(app, cp);
  registerPoolRoutes(app, cp);
  registerNodeRoutes(app, cp);
  const sessions = opts.sessions ?? new SessionRegistry();
  registerPeerRoutes(app, cp, sessions);
  registerSessionRoutes(app, cp, sessions);
  registerSessionMetrics(metrics.registry, sessions);
  const expiry = setInterval(() => sessions.expire(Date.now(), SESSION_TABLE_MAX_AGE_MS), 60_000);
  expiry.unref();
  app.addHook('onClose', async () => clearInterval(expiry));
  registerLbRoutes(app, cp);
  registerUiRoutes(app, opts.uiDir);
  registerStreamRoutes(app, cp, {
    heartbeatMs: opts.heartbeatMs ?? 5000,
    limits: validateWatchLimits({ ...DEFAULT_WATCH_LIMITS, ...opts.watchLimits }),
    onWatchers: (n) => {
      metrics.setWatchers(n);
      opts.onWatchers?.(n);
    },
  });
  await app.ready();
  return app;
}
