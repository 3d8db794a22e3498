/**
 * The initiator side of WireGuard's Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake
 * (whitepaper section 5.4.2-5.4.4): builds initiations (with mac1, and mac2 while a cookie is
 * held), consumes responses into a transport Session, and consumes cookie replies.
 * Pure: the wall clock and the randomness are injected, so tests are deterministic.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { FabricError } from '../protocol/errors.js';
import { KEY_LEN, type Key } from './keys.js';
import { dh, generateEphemeral, importPrivateKey, importPublicKey, type PrivateKey } from './x25519.js';
import { aeadOpen, aeadSeal, hash, kdf1, kdf2, kdf3, tai64n } from './crypto.js';
import { mac1Key, openCookieReply, verifyMac1, writeMac1, writeMac2 } from './macs.js';
import { buildInitiation, parseCookieReply, parseResponse } from './messages.js';
import { Session } from './session.js';

export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';

const enc = new TextEncoder();
/** C0 = HASH(CONSTRUCTION). */
export const INITIAL_CHAIN_KEY = hash(enc.encode(CONSTRUCTION));
/** H0 = HASH(C0 || IDENTIFIER); both sides then mix in the responder's static public key. */
export const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, enc.encode(IDENTIFIER));

/** A cookie is used for mac2 for this long after it arrived (Cookie_Refresh_Time - margin). */
export const COOKIE_LIFETIME_NS = 120_000_000_000n - 5_000_000_000n;
/** How many initiations may await a response at once (retransmissions of one probe). */
export const MAX_PENDING = 16;

export interface InitiatorOptions {
  /** Our static private key. */
  readonly privateKey: Key;
  /** The responder's static public key. */
  readonly peerPublicKey: Key;
  /** Optional pre-shared key (default 32 zero bytes, as in WireGuard without a PSK). */
  readonly presharedKey?: Key;
  /** Wall-clock time as Unix nanoseconds (for TAI64N and cookie age). Default Date.now(). */
  readonly clock?: () => bigint;
  /**
   * Source of randomness for indexes and, when given, for ephemeral keys (tests use a seeded
   * one). Default: crypto.randomBytes, and OpenSSL generates the ephemeral keys.
   */
  readonly random?: (n: number) => Uint8Array;
}

/** One initiation on the wire, awaiting its response. */
export interface InitiationSent {
  /** The 148-byte message to send. */
  readonly message: Uint8Array;
  /** Our index for this handshake (the response's receiver). */
  readonly sender: number;
  /** True when mac2 was set from a held cookie. */
  readonly withCookie: boolean;
}

interface Pending {
  readonly sender: number;
  readonly ephemeral: KeyObject;
  readonly chainKey: Uint8Array;
  readonly hash: Uint8Array;
  readonly mac1: Uint8Array;
}

function bad(reason: string, message: string, type = 2): FabricError {
  return new FabricError('WGF_ERR_BAD_MESSAGE', message, { type, reason });
}

/**
 * One initiator towards one responder (static keys fixed for its lifetime). Several
 * initiations may be outstanding (retransmissions); the first verified response wins and
 * yields the Session. Not safe to share between concurrent probes of different servers.
 */
export class Initiator {
  readonly publicKey: Key;
  private readonly staticKey: PrivateKey;
  private readonly peerPublicKey: Key;
  private readonly peerKeyObject: KeyObject;
  private readonly ephemeralRandom: ((n: number) => Uint8Array) | undefined;
  private readonly psk: Key;
  private readonly clock: () => bigint;
  private readonly random: (n: number) => Uint8Array;
  private readonly staticShared: Uint8Array; // DH(S_i, S_r): fixed per peer, computed once
  private readonly peerMac1Key: Uint8Array;
  private readonly ownMac1Key: Uint8Array;
  private readonly hashWithPeer: Uint8Array; // HASH(H0 || S_r^pub)
  private readonly pending = new Map<number, Pending>();
  private lastTimestampNs = -1n;
  private cookie: { value: Uint8Array; receivedNs: bigint } | undefined;

  /** Throws WGF_ERR_INVALID_KEY / WGF_ERR_WEAK_KEY for unusable keys. */
  constructor(o: InitiatorOptions) {
    this.staticKey = importPrivateKey(o.privateKey);
    this.peerPublicKey = o.peerPublicKey;
    this.peerKeyObject = importPublicKey(o.peerPublicKey);
    this.ephemeralRandom = o.random;
    this.psk = o.presharedKey ?? new Uint8Array(KEY_LEN);
    if (this.psk.length !== KEY_LEN) throw new FabricError('WGF_ERR_INVALID_KEY', `preshared key must be exactly ${KEY_LEN} bytes`);
    this.clock = o.clock ?? (() => BigInt(Date.now()) * 1_000_000n);
    this.random = o.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.publicKey = this.staticKey.publicKey;
    this.staticShared = dh(this.staticKey.object, this.peerKeyObject);
    this.peerMac1Key = mac1Key(o.peerPublicKey);
    this.ownMac1Key = mac1Key(this.publicKey);
    this.hashWithPeer = hash(INITIAL_HASH, o.peerPublicKey);
  }

  /** True while a cookie from a cookie reply is held and fresh (initiations then carry mac2). */
  get hasCookie(): boolean {
    return this.cookie !== undefined && this.clock() - this.cookie.receivedNs < COOKIE_LIFETIME_NS;
  }

  /**
   * Builds a fresh initiation: new ephemeral key, new random index, and a TAI64N timestamp
   * strictly newer than any this initiator made before (a responder drops the rest).
   */
  createInitiation(): InitiationSent {
    const eph = generateEphemeral(this.ephemeralRandom);
    const ephemeral = eph.publicKey;
    const sender = this.newIndex();

    let c = kdf1(INITIAL_CHAIN_KEY, ephemeral);
    let h = hash(this.hashWithPeer, ephemeral);
    let k: Uint8Array;
    [c, k] = kdf2(c, dh(eph.object, this.peerKeyObject));
    const encryptedStatic = aeadSeal(k, 0n, this.publicKey, h);
    h = hash(h, encryptedStatic);
    [c, k] = kdf2(c, this.staticShared);
    const encryptedTimestamp = aeadSeal(k, 0n, tai64n(this.nextTimestamp()), h);
    h = hash(h, encryptedTimestamp);

    const zero = new Uint8Array(16);
    const message = buildInitiation({ sender, ephemeral, encryptedStatic, encryptedTimestamp, mac1: zero, mac2: zero });
    const m1 = writeMac1(message, this.peerMac1Key);
    const withCookie = this.hasCookie;
    if (withCookie) writeMac2(message, this.cookie!.value);

    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
    this.pending.set(sender, { sender, ephemeral: eph.object, chainKey: c, hash: h, mac1: m1 });
    return { message, sender, withCookie };
  }

  /** True when `index` is the sender index of an initiation still awaiting its response. */
  isPending(index: number): boolean {
    return this.pending.has(index);
  }

  /**
   * Consumes a 92-byte response to one of our pending initiations and returns the transport
   * session. Throws WGF_ERR_BAD_MESSAGE with details.reason: 'format' | 'index' (answers no
   * pending initiation) | 'mac1' | 'weak-key' | 'decrypt' (wrong keys or PSK). On success all
   * pending initiations are forgotten.
   */
  consumeResponse(bytes: Uint8Array): Session {
    const r = parseResponse(bytes);
    const p = this.pending.get(r.receiver);
    if (!p) throw bad('index', `handshake response for unknown index ${r.receiver}`);
    if (!verifyMac1(bytes, this.ownMac1Key)) throw bad('mac1', 'handshake response mac1 does not verify with our public key');

    let c = kdf1(p.chainKey, r.ephemeral);
    let h = hash(p.hash, r.ephemeral);
    try {
      const theirs = importPublicKey(r.ephemeral);
      c = kdf1(c, dh(p.ephemeral, theirs));
      c = kdf1(c, dh(this.staticKey.object, theirs));
    } catch {
      throw bad('weak-key', 'handshake response carries a low-order ephemeral key');
    }
    const [c2, t, k] = kdf3(c, this.psk);
    h = hash(h, t);
    const nothing = aeadOpen(k, 0n, r.encryptedNothing, h);
    if (!nothing || nothing.length !== 0) {
      throw bad('decrypt', 'handshake response does not decrypt (the server key or the preshared key differs)');
    }
    const [sendKey, receiveKey] = kdf2(c2, new Uint8Array(0));
    this.pending.clear();
    return new Session(p.sender, r.sender, sendKey, receiveKey);
  }

  /**
   * Consumes a 64-byte cookie reply to one of our pending initiations and stores the cookie;
   * the next initiation carries mac2. Returns the sender index it answered. Throws
   * WGF_ERR_BAD_MESSAGE (reason 'format' | 'index' | 'decrypt').
   */
  consumeCookieReply(bytes: Uint8Array): number {
    const m = parseCookieReply(bytes);
    const p = this.pending.get(m.receiver);
    if (!p) throw bad('index', `cookie reply for unknown index ${m.receiver}`, 3);
    let value: Uint8Array;
    try {
      value = openCookieReply(m, this.peerPublicKey, p.mac1);
    } catch {
      throw bad('decrypt', 'cookie reply does not decrypt with the server key', 3);
    }
    this.cookie = { value, receivedNs: this.clock() };
    return m.receiver;
  }

  private nextTimestamp(): bigint {
    let now = this.clock();
    if (now <= this.lastTimestampNs) now = this.lastTimestampNs + 1n;
    this.lastTimestampNs = now;
    return now;
  }

  private newIndex(): number {
    for (;;) {
      const b = this.random(4);
      const i = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
      if (!this.pending.has(i)) return i;
    }
  }
}
