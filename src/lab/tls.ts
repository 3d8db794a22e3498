import { rm } from 'node:fs/promises';
import { issueServerCert, makeCa } from '../sys/openssl.js';
import type { LabPlan } from './plan.js';

/** The lab's TLS files, all in the lab's state directory (removed with it). */
export interface LabTls {
  /** The lab CA's certificate: what every lab process and a user's CLI trust (WGFABRIC_CA_FILE). */
  readonly caFile: string;
  /** The control plane's certificate and key (0600), for `server --tls-cert/--tls-key`. */
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Makes a CA of its own for one lab and the control plane's certificate, whose subjectAltName
 * is the address agents, LBs and the CLI use (plan.hostAddress, as in plan.serverUrl). The CA
 * key is deleted once the certificate is signed: nothing else in the lab is ever issued.
 */
export async function makeLabTls(dir: string, plan: Pick<LabPlan, 'tag' | 'hostAddress'>): Promise<LabTls> {
  const ca = await makeCa(dir, 'ca', `wgfabric lab ${plan.tag} CA`);
  try {
    const server = await issueServerCert(ca, dir, 'server', [plan.hostAddress]);
    return { caFile: ca.certFile, certFile: server.certFile, keyFile: server.keyFile };
  } finally {
    await rm(ca.keyFile, { force: true });
  }
}
