/**
 * A transport session: the pair of symmetric keys a handshake derives, with the send counter
 * and the receive replay window (whitepaper section 5.4.6). Pure; no clocks.
 */
import { FabricError } from '../protocol/errors.js';
import { aeadOpen, aeadSeal, TAG_LEN } from './crypto.js';
import { buildTransport, parseTransport, type Transport } from './messages.js';
import { REJECT_AFTER_MESSAGES, ReplayWindow } from './replay.js';

/** Plaintext is zero-padded to a multiple of this before encryption. */
export const PADDING_MULTIPLE = 16;

function bad(reason: string, what: string): FabricError {
  return new FabricError('WGF_ERR_BAD_MESSAGE', `bad transport message: ${what}`, { type: 4, reason });
}

/** Keys, send counter and replay window of one established session; seal() and open() packets. */
export class Session {
  private sendCounter = 0n;
  private readonly replay = new ReplayWindow();

  /**
   * @param localIndex our index: incoming transport messages carry it as receiver
   * @param remoteIndex the peer's index: we put it in outgoing messages
   */
  constructor(
    readonly localIndex: number,
    readonly remoteIndex: number,
    private readonly sendKey: Uint8Array,
    private readonly receiveKey: Uint8Array,
  ) {}

  /** Messages sent so far (the next send counter). */
  get sent(): bigint {
    return this.sendCounter;
  }

  /**
   * Encrypts one IP packet (or nothing: a keepalive) into a transport message, zero-padding
   * the plaintext to a multiple of 16 bytes. Counters are never reused; throws when exhausted.
   */
  seal(packet: Uint8Array): Uint8Array {
    if (this.sendCounter >= REJECT_AFTER_MESSAGES) throw new FabricError('WGF_ERR_BAD_MESSAGE', 'session exhausted its counters; handshake again');
    const padded = new Uint8Array(Math.ceil(packet.length / PADDING_MULTIPLE) * PADDING_MULTIPLE);
    padded.set(packet);
    const counter = this.sendCounter++;
    return buildTransport({ receiver: this.remoteIndex, counter, data: aeadSeal(this.sendKey, counter, padded, new Uint8Array(0)) });
  }

  /**
   * Decrypts a transport message addressed to this session and returns its padded plaintext
   * (empty for a keepalive; an IP packet's own length field says where padding starts).
   * Throws WGF_ERR_BAD_MESSAGE (details.reason: index | replay | auth) and records the
   * counter only when the message authenticated.
   */
  open(msg: Uint8Array | Transport): Uint8Array {
    const m = msg instanceof Uint8Array ? parseTransport(msg) : msg;
    if (m.receiver !== this.localIndex) throw bad('index', `receiver index ${m.receiver} is not this session's ${this.localIndex}`);
    if (!this.replay.wouldAccept(m.counter)) throw bad('replay', `counter ${m.counter} was already seen or is too old`);
    const plain = aeadOpen(this.receiveKey, m.counter, m.data, new Uint8Array(0));
    if (!plain || m.data.length < TAG_LEN) throw bad('auth', 'does not authenticate with the session key');
    this.replay.accept(m.counter);
    return plain;
  }
}
