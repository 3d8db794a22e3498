/**
 * WireGuard wire messages: parse and build the four message types with their exact sizes
 * and offsets (whitepaper section 5.4; FACTS.md). Integers are little-endian; byte 0 is the
 * type and bytes 1..3 are reserved zero. Parsers copy what they return, so the caller's
 * buffer can be reused, and throw only FabricError WGF_ERR_BAD_MESSAGE.
 */
import { FabricError } from '../protocol/errors.js';

export const MSG_INITIATION = 1;
export const MSG_RESPONSE = 2;
export const MSG_COOKIE_REPLY = 3;
export const MSG_TRANSPORT = 4;

export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
/** Header (16) plus the AEAD tag (16): a keepalive. */
export const TRANSPORT_MIN_SIZE = 32;
export const TRANSPORT_HEADER_SIZE = 16;

/** Byte offsets of every field (start inclusive, end exclusive). */
export const OFFSETS = {
  initiation: { sender: 4, ephemeral: 8, encryptedStatic: 40, encryptedTimestamp: 88, mac1: 116, mac2: 132, end: 148 },
  response: { sender: 4, receiver: 8, ephemeral: 12, encryptedNothing: 44, mac1: 60, mac2: 76, end: 92 },
  cookieReply: { receiver: 4, nonce: 8, encryptedCookie: 32, end: 64 },
  transport: { receiver: 4, counter: 8, data: 16 },
} as const;

export interface Initiation {
  readonly type: typeof MSG_INITIATION;
  /** The initiator's session index (u32). */
  readonly sender: number;
  readonly ephemeral: Uint8Array; // 32
  readonly encryptedStatic: Uint8Array; // 32 + 16
  readonly encryptedTimestamp: Uint8Array; // 12 + 16
  readonly mac1: Uint8Array; // 16
  readonly mac2: Uint8Array; // 16
}

export interface Response {
  readonly type: typeof MSG_RESPONSE;
  readonly sender: number;
  /** The initiator's index this response answers. */
  readonly receiver: number;
  readonly ephemeral: Uint8Array; // 32
  readonly encryptedNothing: Uint8Array; // 0 + 16
  readonly mac1: Uint8Array;
  readonly mac2: Uint8Array;
}

export interface CookieReply {
  readonly type: typeof MSG_COOKIE_REPLY;
  /** The sender index of the message that triggered the cookie reply. */
  readonly receiver: number;
  readonly nonce: Uint8Array; // 24
  readonly encryptedCookie: Uint8Array; // 16 + 16
}

export interface Transport {
  readonly type: typeof MSG_TRANSPORT;
  readonly receiver: number;
  /** The nonce counter (u64). */
  readonly counter: bigint;
  /** Ciphertext and tag: at least 16 bytes. */
  readonly data: Uint8Array;
}

export type Message = Initiation | Response | CookieReply | Transport;

function bad(reason: string, details: Record<string, unknown>): FabricError {
  return new FabricError('WGF_ERR_BAD_MESSAGE', `bad WireGuard message: ${reason}`, details);
}

const NAMES: Record<number, string> = { 1: 'initiation', 2: 'response', 3: 'cookie reply', 4: 'transport' };

/**
 * Reads the message type (bytes 0..3 as u32 LE, so non-zero reserved bytes give an unknown
 * type, exactly as the reference implementation treats them). Throws on fewer than 4 bytes
 * or an unknown type.
 */
export function messageType(b: Uint8Array): 1 | 2 | 3 | 4 {
  if (b.length < 4) throw bad(`too short (${b.length} bytes)`, { size: b.length });
  const t = b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24);
  if (t < 1 || t > 4) {
    throw bad(b[0]! >= 1 && b[0]! <= 4 ? 'reserved bytes are not zero' : `unknown type ${b[0]}`, { type: b[0], size: b.length });
  }
  return t as 1 | 2 | 3 | 4;
}

function expect(b: Uint8Array, type: number, size: number): void {
  const t = messageType(b);
  if (t !== type) throw bad(`expected ${NAMES[type]} (type ${type}), got ${NAMES[t]} (type ${t})`, { type: t, size: b.length });
  if (b.length !== size) throw bad(`${NAMES[type]} must be ${size} bytes, got ${b.length}`, { type: t, size: b.length });
}

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`index ${v} is not a u32`);
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

function put(b: Uint8Array, o: number, field: Uint8Array, len: number, name: string): void {
  if (field.length !== len) throw new RangeError(`${name} must be ${len} bytes, got ${field.length}`);
  b.set(field, o);
}

/** Parses a 148-byte handshake initiation. */
export function parseInitiation(b: Uint8Array): Initiation {
  expect(b, MSG_INITIATION, INITIATION_SIZE);
  const o = OFFSETS.initiation;
  return {
    type: MSG_INITIATION,
    sender: u32(b, o.sender),
    ephemeral: b.slice(o.ephemeral, o.encryptedStatic),
    encryptedStatic: b.slice(o.encryptedStatic, o.encryptedTimestamp),
    encryptedTimestamp: b.slice(o.encryptedTimestamp, o.mac1),
    mac1: b.slice(o.mac1, o.mac2),
    mac2: b.slice(o.mac2, o.end),
  };
}

/** Builds a 148-byte initiation. Field lengths are checked (RangeError: a programming error). */
export function buildInitiation(m: Omit<Initiation, 'type'>): Uint8Array {
  const o = OFFSETS.initiation;
  const b = new Uint8Array(INITIATION_SIZE);
  b[0] = MSG_INITIATION;
  putU32(b, o.sender, m.sender);
  put(b, o.ephemeral, m.ephemeral, 32, 'ephemeral');
  put(b, o.encryptedStatic, m.encryptedStatic, 48, 'encrypted static');
  put(b, o.encryptedTimestamp, m.encryptedTimestamp, 28, 'encrypted timestamp');
  put(b, o.mac1, m.mac1, 16, 'mac1');
  put(b, o.mac2, m.mac2, 16, 'mac2');
  return b;
}

/** Parses a 92-byte handshake response. */
export function parseResponse(b: Uint8Array): Response {
  expect(b, MSG_RESPONSE, RESPONSE_SIZE);
  const o = OFFSETS.response;
  return {
    type: MSG_RESPONSE,
    sender: u32(b, o.sender),
    receiver: u32(b, o.receiver),
    ephemeral: b.slice(o.ephemeral, o.encryptedNothing),
    encryptedNothing: b.slice(o.encryptedNothing, o.mac1),
    mac1: b.slice(o.mac1, o.mac2),
    mac2: b.slice(o.mac2, o.end),
  };
}

/** Builds a 92-byte response. */
export function buildResponse(m: Omit<Response, 'type'>): Uint8Array {
  const o = OFFSETS.response;
  const b = new Uint8Array(RESPONSE_SIZE);
  b[0] = MSG_RESPONSE;
  putU32(b, o.sender, m.sender);
  putU32(b, o.receiver, m.receiver);
  put(b, o.ephemeral, m.ephemeral, 32, 'ephemeral');
  put(b, o.encryptedNothing, m.encryptedNothing, 16, 'encrypted nothing');
  put(b, o.mac1, m.mac1, 16, 'mac1');
  put(b, o.mac2, m.mac2, 16, 'mac2');
  return b;
}

/** Parses a 64-byte cookie reply. */
export function parseCookieReply(b: Uint8Array): CookieReply {
  expect(b, MSG_COOKIE_REPLY, COOKIE_REPLY_SIZE);
  const o = OFFSETS.cookieReply;
  return {
    type: MSG_COOKIE_REPLY,
    receiver: u32(b, o.receiver),
    nonce: b.slice(o.nonce, o.encryptedCookie),
    encryptedCookie: b.slice(o.encryptedCookie, o.end),
  };
}

/** Builds a 64-byte cookie reply. */
export function buildCookieReply(m: Omit<CookieReply, 'type'>): Uint8Array {
  const o = OFFSETS.cookieReply;
  const b = new Uint8Array(COOKIE_REPLY_SIZE);
  b[0] = MSG_COOKIE_REPLY;
  putU32(b, o.receiver, m.receiver);
  put(b, o.nonce, m.nonce, 24, 'nonce');
  put(b, o.encryptedCookie, m.encryptedCookie, 32, 'encrypted cookie');
  return b;
}

/**
 * Parses a transport message (>= 32 bytes). The 16-byte padding of the plaintext is the
 * sender's duty and is not checked: the reference implementation stops padding at the MTU.
 */
export function parseTransport(b: Uint8Array): Transport {
  const t = messageType(b);
  if (t !== MSG_TRANSPORT) throw bad(`expected transport (type 4), got ${NAMES[t]} (type ${t})`, { type: t, size: b.length });
  if (b.length < TRANSPORT_MIN_SIZE) throw bad(`transport must be at least ${TRANSPORT_MIN_SIZE} bytes, got ${b.length}`, { type: t, size: b.length });
  const o = OFFSETS.transport;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    type: MSG_TRANSPORT,
    receiver: u32(b, o.receiver),
    counter: view.getBigUint64(o.counter, true),
    data: b.slice(o.data),
  };
}

/** Builds a transport message around already encrypted `data` (ciphertext || tag, >= 16 bytes). */
export function buildTransport(m: Omit<Transport, 'type'>): Uint8Array {
  if (m.data.length < 16) throw new RangeError('transport data must hold at least the 16-byte tag');
  if (m.counter < 0n || m.counter >= 1n << 64n) throw new RangeError('counter is not a u64');
  const o = OFFSETS.transport;
  const b = new Uint8Array(TRANSPORT_HEADER_SIZE + m.data.length);
  b[0] = MSG_TRANSPORT;
  putU32(b, o.receiver, m.receiver);
  new DataView(b.buffer).setBigUint64(o.counter, m.counter, true);
  b.set(m.data, o.data);
  return b;
}

/** Parses any of the four messages, dispatching on the type byte. */
export function parseMessage(b: Uint8Array): Message {
  switch (messageType(b)) {
    case MSG_INITIATION:
      return parseInitiation(b);
    case MSG_RESPONSE:
      return parseResponse(b);
    case MSG_COOKIE_REPLY:
      return parseCookieReply(b);
    case MSG_TRANSPORT:
      return parseTransport(b);
  }
}
