/**
 * A real control plane for the reaction benches (lb-reaction, dns-reaction): SQLite store in a
 * temporary directory, HTTP on localhost in this process, and a pool `bench` of three nodes
 * n1..n3 whose agents all reported ready.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/client/api-client.js';
import { ControlPlane } from '../src/control/plane.js';
import { SecretBox } from '../src/control/secrets.js';
import { buildServer } from '../src/server/app.js';
import { openStore } from '../src/store/index.js';
import { percentile, stat } from './stats.js';

export const sys = { actor: 'bench' };
/** An agent's status report with no peers. */
export const agentReport = (ready: boolean) => ({ appliedRevision: 1, peersDesired: 0, peersApplied: 0, lastReconcileAt: null, driftRepairs: 0, ready, message: '' });

export interface LocalPlane {
  cp: ControlPlane;
  token: string;
  base: string;
  admin: ApiClient;
  /** Stops the server and removes the store. */
  close(): Promise<void>;
}

/** Starts the plane and creates pool `bench` (ipv4Prefix) with nodes n1..n3, all ready. */
export async function localPlane(ipv4Prefix: string): Promise<LocalPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-bench-plane-'));
  const store = await openStore(`sqlite:${dir}`);
  const cp = new ControlPlane({ store, secrets: SecretBox.random() });
  const token = (await cp.bootstrap())!;
  const app = await buildServer({ control: cp });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const close = async () => {
    await app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await cp.createPool({ name: 'bench', ipv4Prefix }, sys);
    for (const [i, n] of ['n1', 'n2', 'n3'].entries()) {
      await cp.createNode('bench', { name: n, endpoint: `198.18.0.${10 + i}:51820` }, sys);
      await cp.putNodeStatus('bench', n, agentReport(true), sys);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { cp, token, base, admin: new ApiClient({ baseUrl: base, token }), close };
}

/** Reaction times as printed: median (min, p90, max) in ms. */
export function reaction(xs: number[]): string {
  const s = stat(xs);
  return `median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, p90 ${percentile(xs, 90).toFixed(1)}, max ${s.max.toFixed(1)})`;
}
