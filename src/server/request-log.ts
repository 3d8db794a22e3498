import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Routes that agents, LBs and updaters call on a timer: heartbeats and reports. */
const PERIODIC_ROUTES = new Set(['/v1/pools/:pool/nodes/:node/status', '/v1/pools/:pool/nodes/:node/sessions', '/v1/pools/:pool/lbs/:instance/status']);

/**
 * The level of a request's log line: reads (polls, watches, status, metrics) and the periodic
 * reports at debug, so an idle fabric is quiet at info; changes at info; 5xx at error.
 */
export function requestLogLevel(method: string, route: string | undefined, status: number): 'debug' | 'info' | 'error' {
  if (status >= 500) return 'error';
  if (method === 'GET' || method === 'HEAD' || (route !== undefined && PERIODIC_ROUTES.has(route))) return 'debug';
  return 'info';
}

/**
 * One line per answered request (fastify's own two lines per request are off): method, route
 * pattern and path (no query, no headers), status, milliseconds.
 */
export function useRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const route = req.routeOptions.url;
    const level = requestLogLevel(req.method, route, reply.statusCode);
    req.log[level]({ method: req.method, path: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    done();
  });
}
