/**
 * Test support: one real etcd (etcd-server.ts) and one temp directory per test file, with the
 * node:test hooks that start and remove them. Kept apart from etcd-server.ts so that benches and
 * scripts that start an etcd do not load node:test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { after, before } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ETCD_MISSING, etcdBinary, startTestEtcd, type TestEtcd } from './etcd-server.js';

/** One etcd and one temp directory for a whole test file (etcdPerFile). */
export interface EtcdFileFixture {
  /** The reason to skip when etcd is not installed, else false (pass as the suite's `skip`). */
  readonly skip: string | false;
  /** Client URL of the file's etcd (inside tests). */
  readonly endpoint: string;
  /** The file's temp directory (inside tests). */
  readonly dir: string;
}

/**
 * Registers before/after hooks that start one etcd and make one temp directory (named after
 * `dirPrefix`) for the calling test file, and stop and remove them afterwards, also on failure.
 */
export function etcdPerFile(dirPrefix: string): EtcdFileFixture {
  const skip = etcdBinary() ? false : ETCD_MISSING;
  let etcd: TestEtcd | undefined;
  let dir = '';
  before(async () => {
    if (skip) return;
    etcd = await startTestEtcd();
    dir = await mkdtemp(join(tmpdir(), dirPrefix));
  });
  after(async () => {
    await etcd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    skip,
    get endpoint() {
      if (!etcd) throw new Error('etcdPerFile: etcd is not running (used outside a test, or skipped)');
      return etcd.endpoint;
    },
    get dir() {
      return dir;
    },
  };
}
