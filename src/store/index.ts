import { FabricError } from '../protocol/errors.js';
import type { EtcdStore, EtcdStoreOptions } from './etcd.js';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export type * from './store.js';
export { prefixEnd } from './store.js';
export { MemoryStore } from './memory.js';
export { SqliteStore } from './sqlite.js';
export type { EtcdStore, EtcdStoreOptions } from './etcd.js';

/**
 * Opens an EtcdStore. The etcd driver (etcd3, gRPC, protobuf: a third of a second of start-up
 * CPU) is loaded on first use only, so agents, LBs and SQLite servers never load it.
 */
export async function openEtcdStore(opts: EtcdStoreOptions): Promise<EtcdStore> {
  return (await import('./etcd.js')).EtcdStore.open(opts);
}

/** The store specs openStore understands, for help texts and error messages. */
export const STORE_SPECS = ['memory:', 'sqlite:<dir>', '<dir>', 'etcd:<url>[,<url>...]'] as const;

/**
 * Opens a store from a spec string (a CLI flag or config value):
 * - `memory:` → a MemoryStore (not durable; for tests and demos);
 * - `sqlite:<dir>` or a bare path `<dir>` → a SqliteStore in that directory (file store.db);
 * - `etcd:<url>[,<url>...]` → an EtcdStore on those client URLs, with `etcd` (prefix, TLS,
 *   auth) for the rest.
 * A spec that starts with any other `scheme:` (two or more letters) or is empty throws
 * WGF_ERR_VALIDATION naming the supported forms. Open errors of the driver pass through.
 */
export async function openStore(spec: string, etcd: Omit<EtcdStoreOptions, 'endpoints'> = {}): Promise<Store> {
  if (typeof spec !== 'string' || spec.trim() === '') throw badSpec(String(spec), 'the store spec is empty');
  if (spec === 'memory:') return new MemoryStore();
  if (spec.startsWith('memory:')) throw badSpec(spec, 'memory: takes nothing after the colon');
  if (spec.startsWith('sqlite:')) {
    const dir = spec.slice('sqlite:'.length);
    if (dir === '') throw badSpec(spec, 'sqlite: needs a directory, as in sqlite:/var/lib/wgfabric');
    return SqliteStore.open(dir);
  }
  if (spec.startsWith('etcd:')) {
    const urls = spec.slice('etcd:'.length).split(',').map((u) => u.trim()).filter((u) => u !== '');
    if (urls.length === 0) throw badSpec(spec, 'etcd: needs client URLs, as in etcd:http://10.0.0.1:2379,http://10.0.0.2:2379');
    return openEtcdStore({ ...etcd, endpoints: urls });
  }
  // Two or more letters, so a Windows drive ("C:\...") still reads as a path.
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(spec)?.[1];
  if (scheme !== undefined) throw badSpec(spec, `unknown store scheme "${scheme}:"`);
  return SqliteStore.open(spec);
}

function badSpec(spec: string, why: string): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', `${why}; use one of: ${STORE_SPECS.join(', ')}`, { field: 'store', spec, supported: [...STORE_SPECS] });
}
