import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { FabricError } from '../protocol/errors.js';
import { PUBLIC } from './policy.js';
import { access } from './routes-pools.js';

/**
 * The web dashboard's static files (built from src/ui/ by scripts/build-ui.mjs into dist/ui/),
 * served under /ui/ on the API's origin. They are public: they hold no data and no secret; the
 * browser then calls the API with the token the user typed, like any other client.
 *
 * Every answer carries a strict Content-Security-Policy: scripts, styles, fetches and images
 * only from this origin (images also data: for the QR code), no inline script, no framing, no
 * form posts, so nothing is fetched from elsewhere at run time and injected markup cannot run.
 */

/** Where `npm run build` writes the dashboard (the same place from src/server and dist/server). */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

/** The dashboard's Content-Security-Policy. */
export const UI_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** Registers GET /ui, /ui/ (the page) and /ui/app.js, /ui/app.css, read from `dir` once. */
export function registerUiRoutes(app: FastifyInstance, dir: string = DEFAULT_UI_DIR): void {
  const cache = new Map<string, Buffer>();
  const load = (name: string): Buffer => {
    let body = cache.get(name);
    if (body === undefined) {
      try {
        body = readFileSync(join(dir, name));
      } catch {
        throw new FabricError('WGF_ERR_NOT_FOUND', `the dashboard is not built (no ${name} in ${dir}): run npm run build`);
      }
      cache.set(name, body);
    }
    return body;
  };
  const send = (reply: FastifyReply, name: string) => {
    const body = load(name);
    return reply
      .header('content-security-policy', UI_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cache-control', 'no-cache')
      .type(FILES[name]!)
      .send(body);
  };
  const schema = { tags: ['dashboard'], summary: 'The web dashboard (static files, no token)', security: [], hide: true };
  for (const url of ['/ui', '/ui/']) app.get(url, { schema, config: access(PUBLIC) }, async (_req, reply) => send(reply, 'index.html'));
  for (const name of ['app.js', 'app.css']) app.get(`/ui/${name}`, { schema, config: access(PUBLIC) }, async (_req, reply) => send(reply, name));
}
