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
