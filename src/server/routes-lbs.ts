import type { Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { LbListQuery, LbParams, LbReportInputSchema, LbReportSchema, NoQuery, PageSchema, PoolParams } from '../protocol/api.js';
import type { ControlPlane } from '../control/plane.js';
import { mutation, pageQuery, sendEntity } from './http.js';
import { OPERATE, READ } from './policy.js';
import { access, NoContent, responses } from './routes-pools.js';

type PP = Static<typeof PoolParams>;
type LP = Static<typeof LbParams>;

/**
 * Largest LB report body: MAX_LB_BACKENDS backends with long reasons do not fit the default
 * 64 KiB. Only tokens that may report get this far (the auth hook runs before the body is read).
 */
export const LB_REPORT_BODY_LIMIT = 1024 * 1024;

/** /v1/pools/{pool}/lbs[/{instance}[/status]]: what each LB instance reports. */
export function registerLbRoutes(app: FastifyInstance, cp: ControlPlane): void {
  const tags = ['load balancers'];
  app.get<{ Params: PP; Querystring: Static<typeof LbListQuery> }>('/v1/pools/:pool/lbs', {
    schema: { tags, summary: "List the pool's LB reports (one per instance; reportedAt tells their age)", params: PoolParams, querystring: LbListQuery, response: responses({ 200: PageSchema(LbReportSchema) }) },
    config: access(READ),
  }, async (req) => cp.listLbStatus(req.params.pool, pageQuery(req.query)));

  app.get<{ Params: LP }>('/v1/pools/:pool/lbs/:instance', {
    schema: { tags, summary: "An LB instance's last report", querystring: NoQuery, params: LbParams, response: responses({ 200: LbReportSchema }) },
    config: access(READ),
  }, async (req, reply) => sendEntity(reply, 200, await cp.getLbStatus(req.params.pool, req.params.instance)));

  app.put<{ Params: LP; Body: Static<typeof LbReportInputSchema> }>('/v1/pools/:pool/lbs/:instance/status', {
    schema: { tags, summary: "Report an LB instance's VIP and backend state (not audited)", querystring: NoQuery, params: LbParams, body: LbReportInputSchema, response: responses({ 200: LbReportSchema }) },
    config: access(OPERATE),
    bodyLimit: LB_REPORT_BODY_LIMIT,
  }, async (req, reply) => sendEntity(reply, 200, await cp.putLbStatus(req.params.pool, req.params.instance, req.body, mutation(req))));

  app.delete<{ Params: LP }>('/v1/pools/:pool/lbs/:instance', {
    schema: { tags, summary: "Forget a retired LB instance's report (not audited)", querystring: NoQuery, params: LbParams, response: responses({ 204: NoContent }) },
    config: access(OPERATE),
  }, async (req, reply) => {
    await cp.deleteLbStatus(req.params.pool, req.params.instance, mutation(req));
    return reply.code(204).send();
  });
}
