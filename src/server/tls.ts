import { createPrivateKey, type KeyObject } from 'node:crypto';
import { pemCertificates } from '../sys/pem.js';
import { readFile, stat } from 'node:fs/promises';
import { FabricError } from '../protocol/errors.js';

/** Where the server's TLS certificate and key are (`--tls-cert`, `--tls-key`). */
export interface ServerTlsFiles {
  /** PEM: the server certificate, optionally followed by its intermediate CAs. */
  readonly certFile: string;
  /** PEM private key of the certificate, unencrypted. */
  readonly keyFile: string;
}

/** Loaded, checked TLS material for fastify's `https` option. Never log `key`. */
export interface ServerTls {
  readonly cert: string;
  readonly key: string;
  /** The leaf certificate's subject, subjectAltName and expiry, for the startup log. */
  readonly subject: string;
  readonly subjectAltName: string;
  readonly validTo: Date;
  /** True when group or others may access the key file (the caller warns, as for the master key file). */
  readonly keyInsecureMode: boolean;
}

/**
 * Reads and checks the server's certificate and key: both PEM, the key unencrypted and
 * belonging to the certificate. WGF_ERR_VALIDATION naming the file (never its content)
 * otherwise. An expired certificate is loaded (clients will refuse it); see `validTo`.
 */
export async function loadServerTls(files: ServerTlsFiles): Promise<ServerTls> {
  const cert = await readPem(files.certFile, 'certificate', 'tlsCert');
  const key = await readPem(files.keyFile, 'key', 'tlsKey');
  const leaf = pemCertificates(cert)?.[0];
  if (!leaf) throw invalid(`the TLS certificate file ${files.certFile} holds no valid PEM certificate (-----BEGIN CERTIFICATE-----)`, 'tlsCert');
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(key);
  } catch {
    throw invalid(`the TLS key file ${files.keyFile} holds no valid unencrypted PEM private key`, 'tlsKey');
  }
  if (!leaf.checkPrivateKey(keyObject)) {
    throw invalid(`the TLS key in ${files.keyFile} does not belong to the certificate in ${files.certFile}`, 'tlsKey');
  }
  const mode = (await stat(files.keyFile)).mode;
  return {
    cert, key, subject: leaf.subject.replace(/\n/g, ', '), subjectAltName: leaf.subjectAltName ?? '', validTo: new Date(leaf.validTo),
    keyInsecureMode: (mode & 0o077) !== 0,
  };
}

async function readPem(file: string, what: 'certificate' | 'key', field: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw invalid(`cannot read the TLS ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, field);
  }
}

function invalid(message: string, field: string): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', message, { field });
}
