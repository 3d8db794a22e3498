/**
 * A minimal WireGuard responder for tests and benchmarks (not shipped: tsconfig excludes
 * testing/). It consumes initiations (mac1, optional cookie/mac2 enforcement, static key,
 * TAI64N replay check), answers with a response, derives the responder's transport session,
 * and can answer ICMP echo requests that arrive through the session. Written from the
 * whitepaper independently of noise.ts so each checks the other.
 */
import { randomBytes } from 'node:crypto';
import { FabricError } from '../../protocol/errors.js';
import { aeadOpen, aeadSeal, compareBytes, hash, kdf1, kdf2, kdf3 } from '../crypto.js';
import { buildEcho, isEchoRequest, parseIcmp } from '../icmp.js';
import type { KeyObject } from 'node:crypto';
import { toBase64, type Key } from '../keys.js';
import { dh, generateEphemeral, importPrivateKey, importPublicKey } from '../x25519.js';
import { createCookieReply, mac1Key, verifyMac1, verifyMac2, makeCookie, writeMac1 } from '../macs.js';
import { buildResponse, parseInitiation } from '../messages.js';
import { INITIAL_CHAIN_KEY, INITIAL_HASH } from '../noise.js';
import { Session } from '../session.js';

export interface TestResponderOptions {
  readonly privateKey: Key;
  /** Initiator public keys (base64) we accept, each with its PSK (or undefined = zero). Empty map = accept anyone. */
  readonly peers?: Map<string, Key | undefined>;
  /** Answer with cookie replies unless mac2 carries a valid cookie for the source. */
  readonly underLoad?: boolean;
  readonly random?: (n: number) => Uint8Array;
}

export type InitiationOutcome =
  | { readonly kind: 'response'; readonly message: Uint8Array; readonly session: Session; readonly initiatorPublicKey: Key; readonly timestamp: Uint8Array }
  | { readonly kind: 'cookie'; readonly message: Uint8Array };

function bad(reason: string): FabricError {
  return new FabricError('WGF_ERR_BAD_MESSAGE', `test responder rejects initiation: ${reason}`, { reason });
}

/** A responder with one static key; remembers the last timestamp per initiator key. */
export class TestResponder {
  readonly publicKey: Key;
  readonly cookieSecret: Uint8Array;
  private readonly staticKey: KeyObject;
  private readonly ownMac1Key: Uint8Array;
  private readonly lastTimestamp = new Map<string, Uint8Array>();
  private readonly random: (n: number) => Uint8Array;

  constructor(private readonly o: TestResponderOptions) {
    const own = importPrivateKey(o.privateKey);
    this.staticKey = own.object;
    this.publicKey = own.publicKey;
    this.ownMac1Key = mac1Key(this.publicKey);
    this.random = o.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.cookieSecret = this.random(32).slice();
  }

  /**
   * Consumes an initiation from `source` (address bytes, see macs.addressBytes). Throws
   * WGF_ERR_BAD_MESSAGE with details.reason 'mac1' | 'mac2' | 'static' | 'peer' | 'timestamp'
   * | 'replay' for what a real responder silently drops.
   */
  consumeInitiation(bytes: Uint8Array, source: Uint8Array = new Uint8Array(6)): InitiationOutcome {
    const m = parseInitiation(bytes);
    if (!verifyMac1(bytes, this.ownMac1Key)) throw bad('mac1');
    if (this.o.underLoad && !verifyMac2(bytes, makeCookie(this.cookieSecret, source))) {
      const message = createCookieReply({
        responderPublicKey: this.publicKey,
        secret: this.cookieSecret,
        source,
        triggering: bytes,
        receiver: m.sender,
        nonce: this.random(24).slice(),
      });
      return { kind: 'cookie', message };
    }

    let c = INITIAL_CHAIN_KEY;
    let h = hash(INITIAL_HASH, this.publicKey);
    c = kdf1(c, m.ephemeral);
    h = hash(h, m.ephemeral);
    let k: Uint8Array;
    const initiatorEphemeral = importPublicKey(m.ephemeral);
    [c, k] = kdf2(c, dh(this.staticKey, initiatorEphemeral));
    const initiatorPublicKey = aeadOpen(k, 0n, m.encryptedStatic, h);
    if (!initiatorPublicKey) throw bad('static');
    h = hash(h, m.encryptedStatic);
    const id = toBase64(initiatorPublicKey);
    const peers = this.o.peers;
    if (peers && peers.size > 0 && !peers.has(id)) throw bad('peer');
    const initiatorStatic = importPublicKey(initiatorPublicKey);
    [c, k] = kdf2(c, dh(this.staticKey, initiatorStatic));
    const timestamp = aeadOpen(k, 0n, m.encryptedTimestamp, h);
    if (!timestamp) throw bad('timestamp');
    h = hash(h, m.encryptedTimestamp);
    const last = this.lastTimestamp.get(id);
    if (last && compareBytes(timestamp, last) <= 0) throw bad('replay');
    this.lastTimestamp.set(id, timestamp);

    const eph = generateEphemeral(this.o.random);
    const ephemeral = eph.publicKey;
    c = kdf1(c, ephemeral);
    h = hash(h, ephemeral);
    c = kdf1(c, dh(eph.object, initiatorEphemeral));
    c = kdf1(c, dh(eph.object, initiatorStatic));
    const [c2, t, k2] = kdf3(c, peers?.get(id) ?? new Uint8Array(32));
    h = hash(h, t);
    const encryptedNothing = aeadSeal(k2, 0n, new Uint8Array(0), h);
    const idx = this.random(4);
    const sender = (idx[0]! | (idx[1]! << 8) | (idx[2]! << 16) | (idx[3]! << 24)) >>> 0;
    const zero = new Uint8Array(16);
    const message = buildResponse({ sender, receiver: m.sender, ephemeral, encryptedNothing, mac1: zero, mac2: zero });
    writeMac1(message, mac1Key(initiatorPublicKey));
    // The responder receives with the first key and sends with the second.
    const [receiveKey, sendKey] = kdf2(c2, new Uint8Array(0));
    return { kind: 'response', message, session: new Session(sender, m.sender, sendKey, receiveKey), initiatorPublicKey, timestamp };
  }
}

/**
 * Acts as the host behind the tunnel: decrypts a transport message with `session`, and when
 * it carries an echo request to one of `ownAddresses`, returns the encrypted echo reply.
 * Returns null for keepalives and anything else.
 */
export function answerEcho(session: Session, transport: Uint8Array, ownAddresses: readonly string[]): Uint8Array | null {
  const plain = session.open(transport);
  if (plain.length === 0) return null;
  const p = parseIcmp(plain);
  if (!isEchoRequest(p) || !ownAddresses.includes(p.destination)) return null;
  const reply = buildEcho({ source: p.destination, destination: p.source, id: p.id, seq: p.seq, payload: p.payload }, 'reply');
  return session.seal(reply);
}
