/**
 * mac1, mac2 and cookie replies (whitepaper section 5.4.4 and 5.4.7).
 *
 * Every handshake message ends in mac1 (16 bytes) and mac2 (16 bytes):
 *   mac1 = MAC(HASH("mac1----" || Spub_responder), msg[0 .. len-32])
 *   mac2 = MAC(cookie, msg[0 .. len-16])   (zero when no cookie is held)
 * Only the receiving side's public key is needed to compute or verify mac1, and to build or
 * open a cookie reply. Comparisons are constant-time.
 */
import { FabricError } from '../protocol/errors.js';
import { constantTimeEqual, hash, mac, MAC_LEN, xaeadOpen, xaeadSeal, XNONCE_LEN } from './crypto.js';
import { buildCookieReply, parseCookieReply, type CookieReply } from './messages.js';

const LABEL_MAC1 = new TextEncoder().encode('mac1----');
const LABEL_COOKIE = new TextEncoder().encode('cookie--');

/** The mac1 key of a receiver: HASH("mac1----" || its public key). Worth caching per peer. */
export function mac1Key(receiverPublicKey: Uint8Array): Uint8Array {
  return hash(LABEL_MAC1, receiverPublicKey);
}

/** The cookie-reply encryption key of a receiver: HASH("cookie--" || its public key). */
export function cookieKey(receiverPublicKey: Uint8Array): Uint8Array {
  return hash(LABEL_COOKIE, receiverPublicKey);
}

function macOffsets(msg: Uint8Array): { mac1: number; mac2: number } {
  if (msg.length < 2 * MAC_LEN) throw new RangeError('a handshake message ends with mac1 and mac2');
  return { mac1: msg.length - 2 * MAC_LEN, mac2: msg.length - MAC_LEN };
}

/** mac1 of a handshake message (initiation or response) given the mac1 key of its receiver. */
export function computeMac1(msg: Uint8Array, key: Uint8Array): Uint8Array {
  return mac(key, msg.subarray(0, macOffsets(msg).mac1));
}

/** Writes mac1 into `msg` in place (and returns it). */
export function writeMac1(msg: Uint8Array, key: Uint8Array): Uint8Array {
  const m1 = computeMac1(msg, key);
  msg.set(m1, macOffsets(msg).mac1);
  return m1;
}

/** True when the message's mac1 verifies with the receiver's mac1 key (constant-time). */
export function verifyMac1(msg: Uint8Array, key: Uint8Array): boolean {
  const { mac1, mac2 } = macOffsets(msg);
  return constantTimeEqual(computeMac1(msg, key), msg.subarray(mac1, mac2));
}

/** mac2 of a handshake message with a 16-byte cookie (covers mac1 too). */
export function computeMac2(msg: Uint8Array, cookie: Uint8Array): Uint8Array {
  return mac(cookie, msg.subarray(0, macOffsets(msg).mac2));
}

/** Writes mac2 into `msg` in place. Call after writeMac1: mac2 covers mac1. */
export function writeMac2(msg: Uint8Array, cookie: Uint8Array): void {
  msg.set(computeMac2(msg, cookie), macOffsets(msg).mac2);
}

/** True when the message's mac2 verifies with `cookie` (constant-time). */
export function verifyMac2(msg: Uint8Array, cookie: Uint8Array): boolean {
  return constantTimeEqual(computeMac2(msg, cookie), msg.subarray(macOffsets(msg).mac2));
}

/** The 16-byte mac1 field of a handshake message (a copy). */
export function mac1Of(msg: Uint8Array): Uint8Array {
  const { mac1, mac2 } = macOffsets(msg);
  return msg.slice(mac1, mac2);
}

/**
 * The responder's cookie for a source: MAC(Rm, source address bytes). `secret` (Rm) is 32
 * random bytes that the responder rotates every two minutes; `source` is the sender's
 * address in any stable byte form (see addressBytes).
 */
export function makeCookie(secret: Uint8Array, source: Uint8Array): Uint8Array {
  if (secret.length !== 32) throw new RangeError('cookie secret must be 32 bytes');
  return mac(secret, source);
}

/** Bytes identifying a UDP source: the IP address bytes followed by the port (u16 LE). */
export function addressBytes(ip: Uint8Array, port: number): Uint8Array {
  const out = new Uint8Array(ip.length + 2);
  out.set(ip);
  out[ip.length] = port & 0xff;
  out[ip.length + 1] = (port >>> 8) & 0xff;
  return out;
}

export interface CookieReplyInput {
  /** The responder's (our) public key: it keys the cookie encryption. */
  readonly responderPublicKey: Uint8Array;
  /** Rm, the current cookie secret. */
  readonly secret: Uint8Array;
  /** The source of the triggering message (see addressBytes). */
  readonly source: Uint8Array;
  /** The triggering initiation or response, whose sender index and mac1 are used. */
  readonly triggering: Uint8Array;
  /** The sender index of the triggering message (becomes the reply's receiver). */
  readonly receiver: number;
  /** 24 random bytes. */
  readonly nonce: Uint8Array;
}

/**
 * Builds a 64-byte cookie reply (responder side): the cookie MAC(Rm, source) encrypted with
 * XChaCha20-Poly1305 under HASH("cookie--" || responder public key), with the triggering
 * message's mac1 as associated data.
 */
export function createCookieReply(i: CookieReplyInput): Uint8Array {
  if (i.nonce.length !== XNONCE_LEN) throw new RangeError('cookie nonce must be 24 bytes');
  const cookie = makeCookie(i.secret, i.source);
  const encryptedCookie = xaeadSeal(cookieKey(i.responderPublicKey), i.nonce, cookie, mac1Of(i.triggering));
  return buildCookieReply({ receiver: i.receiver, nonce: i.nonce, encryptedCookie });
}

/**
 * Opens a cookie reply (initiator side) with the responder's public key and the mac1 we sent
 * in the triggering message. Returns the 16-byte cookie; throws WGF_ERR_BAD_MESSAGE when the
 * message is malformed or does not decrypt (wrong key, or not an answer to that mac1).
 */
export function openCookieReply(reply: Uint8Array | CookieReply, responderPublicKey: Uint8Array, lastMac1: Uint8Array): Uint8Array {
  const m = reply instanceof Uint8Array ? parseCookieReply(reply) : reply;
  const cookie = xaeadOpen(cookieKey(responderPublicKey), m.nonce, m.encryptedCookie, lastMac1);
  if (!cookie) {
    throw new FabricError('WGF_ERR_BAD_MESSAGE', 'cookie reply does not decrypt with the server key and the last mac1 sent', {
      type: 3,
      size: 64,
    });
  }
  return cookie;
}
