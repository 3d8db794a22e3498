import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../../store/memory.js';
import type { Store } from '../../store/store.js';
import type { ControlPlane } from '../plane.js';
import { makePlane } from './fixtures.js';

/** A store driver the control-plane suites run on. */
export interface Driver {
  readonly name: string;
  open(): Promise<{ store: Store; cleanup: () => Promise<void> }>;
}

/** Memory always; SQLite (in a temp dir, removed by cleanup) through openStore. */
export const DRIVERS: readonly Driver[] = [
  {
    name: 'memory',
    open: async () => {
      const store = new MemoryStore();
      return { store, cleanup: () => store.close() };
    },
  },
  {
    name: 'sqlite',
    open: async () => {
      const { openStore } = await import('../../store/index.js');
      const dir = await mkdtemp(join(tmpdir(), 'wgf-cp-'));
      const store = await openStore(`sqlite:${dir}`);
      return {
        store,
        cleanup: async () => {
          await store.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

/** Wraps a test body: a fresh ControlPlane on a fresh store of `driver`, cleaned up afterwards. */
export function withPlaneOn(driver: Driver, fn: (cp: ControlPlane) => Promise<void>): () => Promise<void> {
  return async () => {
    const { store, cleanup } = await driver.open();
    try {
      await fn(makePlane(store));
    } finally {
      await cleanup();
    }
  };
}

/**
 * A real etcd (Debian's etcd-server, started on first use with the limits the lab and the
 * README use, ETCD_BATCH_LIMITS; stopped by stopSharedEtcd) as a driver: each open() is a
 * fresh store under its own prefix. `skip` is the reason when etcd is not installed.
 */
export function etcdDriver(): Driver & { skip: string | false; stop: () => Promise<void> } {
  let started: Promise<{ endpoint: string; stop: () => Promise<void> }> | undefined;
  const start = async () => (await import('../../store/testing/etcd-server.js')).startTestEtcd();
  return {
    name: 'etcd',
    skip: spawnSync('sh', ['-c', 'command -v etcd']).status === 0 ? false : 'etcd is not installed (scripts/deps.sh installs it)',
    open: async () => {
      started ??= start();
      const { endpoint } = await started;
      const { EtcdStore } = await import('../../store/etcd.js');
      const store = await EtcdStore.open({ endpoints: [endpoint], prefix: `t/${randomBytes(6).toString('hex')}/` });
      return { store, cleanup: () => store.close() };
    },
    stop: async () => {
      if (started) await (await started).stop();
    },
  };
}
