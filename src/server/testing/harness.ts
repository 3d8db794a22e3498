import type { FastifyInstance } from 'fastify';
import { ControlPlane } from '../../control/plane.js';
import { SecretBox } from '../../control/secrets.js';
import { MemoryStore } from '../../store/memory.js';
import type { Store } from '../../store/store.js';
import { buildServer, type BuildServerOptions } from '../app.js';

/** Token texts of every role; `node` is bound to pool p1 / node n1, `node2` to p1 / n2. */
export interface Tokens {
  admin: string;
  operator: string;
  readOnly: string;
  node: string;
  node2: string;
}

export interface Harness {
  app: FastifyInstance;
  cp: ControlPlane;
  store: Store;
  tokens: Tokens;
  bearer(token: string): { authorization: string };
  close(): Promise<void>;
}

/**
 * A server on a MemoryStore (or the given store) with fixtures: pools p1 and p2, node n1
 * and n2 in p1, and one token per role.
 */
export async function harness(opts: Partial<BuildServerOptions> & { store?: Store } = {}): Promise<Harness> {
  const store = opts.store ?? new MemoryStore();
  const cp = new ControlPlane({ store, secrets: SecretBox.random() });
  const admin = (await cp.bootstrap())!;
  const sys = { actor: 'fixture' };
  await cp.createPool({ name: 'p1', ipv4Prefix: '10.1.0.0/16', ipv6Prefix: 'fd01::/64' }, sys);
  await cp.createPool({ name: 'p2', ipv4Prefix: '10.2.0.0/16' }, sys);
  await cp.createNode('p1', { name: 'n1' }, sys);
  await cp.createNode('p1', { name: 'n2' }, sys);
  const mk = async (name: string, role: 'operator' | 'read-only' | 'node', pool?: string, node?: string) =>
    (await cp.createToken({ name, role, ...(pool ? { pool } : {}), ...(node ? { node } : {}) }, sys)).secret;
  const tokens: Tokens = {
    admin,
    operator: await mk('op', 'operator'),
    readOnly: await mk('ro', 'read-only'),
    node: await mk('agent-n1', 'node', 'p1', 'n1'),
    node2: await mk('agent-n2', 'node', 'p1', 'n2'),
  };
  const { store: _s, ...rest } = opts;
  const app = await buildServer({ control: cp, ...rest });
  return {
    app, cp, store, tokens,
    bearer: (t) => ({ authorization: `Bearer ${t}` }),
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}
