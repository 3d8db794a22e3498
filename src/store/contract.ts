import { describe } from 'node:test';
import { kvContract } from './contract-kv.js';
import { logContract } from './contract-log.js';
import { pagesContract } from './contract-pages.js';
import type { StoreHandle } from './contract-support.js';

export type { StoreHandle } from './contract-support.js';

/**
 * The contract every Store driver must pass (see the doc comment of store.ts). Registers
 * node:test suites under `name`; call it at the top level of the driver's test file.
 *
 * `open` is called once per test and must give a fresh, empty store. `cleanup` must close
 * whatever is still open (the suite may already have closed it: closing twice must be safe)
 * and remove the data. When `reopen` is given, durability tests close `store` and call
 * `reopen` to open the same data again; without it they are skipped.
 *
 * Rules fixed here where store.ts leaves room: a txn with ops that change nothing (deletes of
 * missing keys) still takes a revision; `limit` of changes() never splits a txn; keys are
 * printable ASCII without spaces, and limits and revisions are integers, else
 * WGF_ERR_VALIDATION; after close() every call fails with WGF_ERR_STORE_UNAVAILABLE and open
 * watchers get that error; after cancel() a watcher gets no more callbacks.
 *
 * Drivers held to it: memory, SQLite, etcd. No point is relaxed for etcd: etcd's own
 * revisions are shared by every key of a cluster (not contiguous per fabric), a plain etcd txn
 * refuses two ops on one key and gives no revision to deletes of missing keys, so the etcd
 * driver keeps the store's revision counter and change log as keys of its own (etcd.ts).
 */
export function runStoreContract(name: string, open: () => Promise<StoreHandle>): void {
  describe(`store contract: ${name}`, () => {
    kvContract(open);
    logContract(open);
    pagesContract(open);
  });
}
