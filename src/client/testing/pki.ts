import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueServerCert, makeCa, type CertFiles } from '../../sys/openssl.js';

/** A throwaway CA in a temp dir, made with the openssl CLI at test time (no committed keys). */
export interface TestPki {
  readonly dir: string;
  readonly ca: CertFiles;
  /** PEM of the CA certificate (what a client trusts). */
  readonly caPem: string;
  /** A server certificate signed by the CA for these hosts; `days` 0 expires within the second. */
  issue(hosts: readonly string[], days?: number): Promise<CertFiles & { readonly cert: string; readonly key: string }>;
  cleanup(): Promise<void>;
}

let serial = 0;

export async function makeTestPki(name = 'test'): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'wgf-pki-'));
  const ca = await makeCa(dir, 'ca', `wgfabric ${name} CA`);
  return {
    dir, ca, caPem: await readFile(ca.certFile, 'utf8'),
    async issue(hosts, days = 3650) {
      const files = await issueServerCert(ca, dir, `server-${++serial}`, hosts, days);
      return { ...files, cert: await readFile(files.certFile, 'utf8'), key: await readFile(files.keyFile, 'utf8') };
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
