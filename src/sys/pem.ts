import { X509Certificate } from 'node:crypto';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM text, in order; null when it holds none or one of them does not
 * parse. Shared by the server's certificate loading and the clients' CA files.
 */
export function pemCertificates(text: string): X509Certificate[] | null {
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0) return null;
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    return null;
  }
}
