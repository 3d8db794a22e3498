import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher } from 'undici';
import { FabricError } from '../protocol/errors.js';
import { pemCertificates } from '../sys/pem.js';

/**
 * Client-side TLS for the control-plane API: the one place that builds the fetch dispatcher
 * trusting a private CA, and that tells TLS failures apart from other connection failures.
 * Node's global fetch cannot take a CA; an undici Agent passed as `dispatcher` can.
 */

/**
 * Reads a PEM file of one or more CA certificates (`--ca-file`, WGFABRIC_CA_FILE).
 * WGF_ERR_VALIDATION naming the file when it cannot be read or holds no valid certificate.
 */
export function readCaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FabricError('WGF_ERR_VALIDATION', `cannot read the CA file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { field: 'caFile' });
  }
  if (!pemCertificates(text)) {
    throw new FabricError('WGF_ERR_VALIDATION', `the CA file ${file} holds no valid PEM certificate (-----BEGIN CERTIFICATE-----)`, { field: 'caFile' });
  }
  return text;
}

/**
 * A fetch dispatcher whose https connections trust exactly the CA certificates in `ca` (PEM),
 * instead of the system's public roots, as `curl --cacert` does. Host names and IP addresses
 * are still checked against the certificate's subjectAltName. `ca` undefined: the public roots
 * (a dispatcher only for its connect timeout).
 */
export function caDispatcher(ca: string | undefined, connectTimeoutMs?: number): Dispatcher {
  return new Agent({ connect: { ...(ca !== undefined ? { ca } : {}), ...(connectTimeoutMs !== undefined ? { timeout: connectTimeoutMs } : {}) } });
}

const UNTRUSTED = { reason: 'its certificate is not signed by a trusted CA', advice: 'if it uses a private CA, trust it with --ca-file or WGFABRIC_CA_FILE' };
const RENEW = 'renew the server certificate';

/** Certificate verification failures (OpenSSL verify codes as Node reports them). */
const CERT_CODES: Record<string, { reason: string; advice?: string }> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: UNTRUSTED,
  SELF_SIGNED_CERT_IN_CHAIN: UNTRUSTED,
  DEPTH_ZERO_SELF_SIGNED_CERT: { ...UNTRUSTED, reason: 'its certificate is self-signed and not trusted' },
  CERT_SIGNATURE_FAILURE: { reason: 'its certificate signature does not verify' },
  CERT_HAS_EXPIRED: { reason: 'its certificate has expired', advice: RENEW },
  CERT_NOT_YET_VALID: { reason: 'its certificate is not valid yet', advice: 'check the clocks' },
  CERT_REVOKED: { reason: 'its certificate was revoked', advice: RENEW },
  ERR_TLS_CERT_ALTNAME_INVALID: {
    reason: 'its certificate is not valid for this host name or IP address',
    advice: 'use a server URL with a name or address the certificate lists (subjectAltName), or reissue it',
  },
};

/** A TLS failure: the code Node reported, what it means, what to do (may be empty). */
export interface TlsProblem {
  readonly code: string;
  readonly reason: string;
  readonly advice: string;
}

/** What went wrong in TLS, when `e` (a fetch failure or its cause chain) is a TLS problem; else null. */
export function tlsProblem(e: unknown): TlsProblem | null {
  for (let c: unknown = e, depth = 0; c && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    const known = CERT_CODES[code];
    if (known) {
      // Node's altname message names the host and what the certificate lists: worth showing.
      const message = (c as { message?: unknown }).message;
      const detail = code === 'ERR_TLS_CERT_ALTNAME_INVALID' && typeof message === 'string' ? ` (${message})` : '';
      return { code, reason: known.reason + detail, advice: known.advice ?? '' };
    }
    if (/CERT|^ERR_SSL_|^ERR_TLS_|^EPROTO$/.test(code)) return { code, reason: 'the TLS handshake failed', advice: 'check that it serves HTTPS on that port' };
  }
  return null;
}
