import { chmod, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { run } from './exec.js';

/** A PEM certificate and its private key (mode 0600), as files. */
export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** EC P-256 keys: generated in milliseconds, accepted by every TLS client. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Makes a self-signed CA with the `openssl` CLI: `<dir>/<name>.crt` and `<name>.key` (0600),
 * valid for `days`. For labs and tests; a production CA belongs in a proper PKI.
 * WGF_ERR_INTERNAL naming openssl when it is missing or fails.
 */
export async function makeCa(dir: string, name: string, commonName: string, days = 3650): Promise<CertFiles> {
  const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  await run('openssl', ['req', '-x509', ...NEW_KEY, '-keyout', files.keyFile, '-out', files.certFile, '-days', String(days), '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await chmod(files.keyFile, 0o600);
  return files;
}

/**
 * Issues a TLS server certificate signed by `ca` for these IP addresses and DNS names (its
 * subjectAltName; the first one is also the CN): `<dir>/<name>.crt` and `<name>.key` (0600).
 * `days` 0 makes a certificate that expires within the second (tests of expiry).
 */
export async function issueServerCert(ca: CertFiles, dir: string, name: string, hosts: readonly string[], days = 3650): Promise<CertFiles> {
  const files = { certFile: join(dir, `${name}.crt`), keyFile: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
  await writeFile(ext, `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  try {
    await run('openssl', ['req', '-new', ...NEW_KEY, '-keyout', files.keyFile, '-out', csr, '-subj', `/CN=${hosts[0] ?? name}`]);
    await chmod(files.keyFile, 0o600);
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-out', files.certFile, '-days', String(days), '-extfile', ext]);
  } finally {
    await rm(csr, { force: true });
    await rm(ext, { force: true });
  }
  return files;
}
