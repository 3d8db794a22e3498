import type { FastifyInstance } from 'fastify';
import { FabricError } from '../protocol/errors.js';

/**
 * The path of the first key that appears twice in one object of a valid JSON text (e.g.
 * "labels.env"), or null. JSON.parse keeps the last of duplicates silently; the API refuses
 * them instead, so what a client sent and what is stored cannot differ.
 */
export function duplicateKey(text: string): string | null {
  type Frame = { keys: Set<string>; expectKey: boolean; path: string; last: string } | { array: true; path: string };
  const stack: Frame[] = [];
  const pathOf = (f: Frame | undefined) => (f === undefined ? '' : 'array' in f ? `${f.path}[]` : f.path ? `${f.path}.${f.last}` : f.last);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (top && !('array' in top) && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return top.path ? `${top.path}.${key}` : key;
        top.keys.add(key);
        top.last = key;
        top.expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push({ keys: new Set(), expectKey: true, path: pathOf(stack.at(-1)), last: '' });
    } else if (c === '[') {
      stack.push({ array: true, path: pathOf(stack.at(-1)) });
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      const top = stack.at(-1);
      if (top && !('array' in top)) top.expectKey = true;
    }
  }
  return null;
}

/**
 * Replaces fastify's JSON body parser by its own secure one (refuses __proto__ and
 * constructor.prototype) plus a refusal of duplicate keys: WGF_ERR_VALIDATION naming the key.
 */
export function useStrictJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    parse(req, body as string, (err: Error | null, value?: unknown) => {
      if (err) return done(err, undefined);
      const dup = duplicateKey(body as string);
      if (dup !== null) {
        const safe = /^[A-Za-z0-9_.\-[\]/]{1,128}$/.test(dup) ? ` "${dup}"` : '';
        return done(new FabricError('WGF_ERR_VALIDATION', `the body has the key${safe} twice in one object; send each key once`, { field: `body${safe ? `.${dup}` : ''}` }), undefined);
      }
      done(null, value);
    });
  });
}
