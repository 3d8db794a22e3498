/**
 * WireGuard key pairs made in the browser with WebCrypto X25519 (Chromium >= 133, Firefox,
 * Safari): the private key never leaves this page; only the public key is sent to the API.
 */

/** Standard base64 of bytes. Pure. */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export interface KeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

/** True when this browser can make X25519 keys. */
export async function x25519Supported(): Promise<boolean> {
  try {
    await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits']);
    return true;
  } catch {
    return false;
  }
}

/** A fresh key pair: base64 private (the raw 32-byte scalar) and public key, as wg(8) writes them. */
export async function generateKeyPair(): Promise<KeyPair> {
  // WebCrypto exists only in secure contexts: HTTPS, or http://localhost.
  if (!globalThis.crypto?.subtle) throw new Error('making keys needs a secure context: open the dashboard over HTTPS (server --tls-cert) or on localhost');
  const pair = (await crypto.subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
  const pub = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  // PKCS#8 of an X25519 key ends with the 32-byte private key (RFC 8410).
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  if (pub.length !== 32 || pkcs8.length < 32) throw new Error('unexpected X25519 key encoding');
  return { privateKey: toBase64(pkcs8.slice(pkcs8.length - 32)), publicKey: toBase64(pub) };
}
