/**
 * The pure core of a WireGuard probe: a state machine that decides what to send and when,
 * and what each received datagram means. It never touches a socket or a timer; the I/O shell
 * (probe.ts) feeds it datagrams and clock ticks and carries out the returned Step.
 *
 * Phases: handshake (initiations retransmitted at an interval, each with a fresh timestamp,
 * never closer than the responder's per-peer rate limit), then optionally ping (ICMP echo
 * requests through the tunnel, retransmitted with new sequence numbers). One deadline covers
 * both phases.
 */
import { FabricError } from '../protocol/errors.js';
import { buildEcho, isEchoReply, parseIcmp } from '../wg/icmp.js';
import { messageType, MSG_COOKIE_REPLY, MSG_RESPONSE, MSG_TRANSPORT } from '../wg/messages.js';
import type { Initiator } from '../wg/noise.js';
import type { Session } from '../wg/session.js';

/** wireguard-go drops initiations from one peer closer together than this (1 s / 50). */
export const RESPONDER_RATE_LIMIT_MS = 20;
/** Retransmissions never come faster than this, whatever the timeout. */
export const MIN_RETRANSMIT_MS = 50;
/** ... nor slower than this. */
export const MAX_RETRANSMIT_MS = 1000;

export interface ProbeMachineOptions {
  readonly initiator: Initiator;
  /** "host:port" for messages (IPv6 in brackets). */
  readonly endpoint: string;
  readonly timeoutMs: number;
  readonly ping?: { readonly target: string; readonly source: string };
  /** ICMP echo identifier (u16). */
  readonly echoId: number;
  /** Interval between retransmissions; default timeout/5 clamped to [50, 1000] ms. */
  readonly retransmitMs?: number;
  /**
   * Monotonic milliseconds. Read when each event is handled and again right after each
   * message is built, so the cost of building it does not count as network round trip.
   */
  readonly now: () => number;
}

/** A successful probe. Times are in milliseconds of the injected clock. */
export interface ProbeResult {
  readonly endpoint: string;
  /** Round trip of the initiation that was answered, to its verified response. */
  readonly handshakeMs: number;
  /** Round trip of the echo request that was answered (when a ping was asked for). */
  readonly echoMs?: number;
  readonly echoFrom?: string;
  /** The server's session index (from its response) and ours. */
  readonly serverIndex: number;
  readonly clientIndex: number;
  /** Initiations sent, including the answered one. */
  readonly attempts: number;
  /** True when the server was under load and we had to use a cookie (mac2). */
  readonly cookieUsed: boolean;
}

/** What the shell must do: send these datagrams, then call tick() at wakeAt (if not done). */
export interface Step {
  readonly send: readonly Uint8Array[];
  readonly wakeAt: number | null;
  readonly done?: { readonly result: ProbeResult } | { readonly error: FabricError };
}

/** One probe from start() to a Step with `done`; not reusable. Methods read the injected clock. */
export class ProbeMachine {
  private phase: 'idle' | 'handshake' | 'ping' | 'done' = 'idle';
  private deadline = 0;
  private startedAt = 0;
  private readonly interval: number;
  private nextSendAt = 0;
  private lastInitiationAt = -Infinity;
  private readonly initiationsSentAt = new Map<number, number>();
  private attempts = 0;
  private cookieUsed = false;
  private readonly problems: string[] = [];
  private refused = false;
  private socketError: string | undefined;
  private session: Session | undefined;
  private handshake: { ms: number; serverIndex: number; clientIndex: number } | undefined;
  private echoSeq = 0;
  private readonly echoSentAt = new Map<number, number>();
  private readonly icmpSeen: string[] = [];

  constructor(private readonly o: ProbeMachineOptions) {
    if (!(o.timeoutMs > 0)) throw new FabricError('WGF_ERR_VALIDATION', 'timeout must be a positive number of milliseconds');
    this.interval = o.retransmitMs ?? Math.min(MAX_RETRANSMIT_MS, Math.max(MIN_RETRANSMIT_MS, o.timeoutMs / 5));
  }

  /** Begins the probe: the first initiation goes out at once. */
  start(): Step {
    const now = this.o.now();
    this.phase = 'handshake';
    this.startedAt = now;
    this.deadline = now + this.o.timeoutMs;
    return this.tick();
  }

  /** Call when the clock reached the last Step's wakeAt (calling earlier is harmless). */
  tick(): Step {
    const now = this.o.now();
    if (this.phase === 'done' || this.phase === 'idle') return { send: [], wakeAt: null };
    if (now >= this.deadline) return this.fail(this.timeoutError());
    const send: Uint8Array[] = [];
    if (now >= this.nextSendAt) {
      if (this.phase === 'handshake') {
        // A responder ignores a second initiation from us within its rate limit window.
        if (now - this.lastInitiationAt >= RESPONDER_RATE_LIMIT_MS) {
          send.push(this.initiation());
          this.nextSendAt = now + this.interval;
        } else {
          this.nextSendAt = this.lastInitiationAt + RESPONDER_RATE_LIMIT_MS;
        }
      } else {
        send.push(this.echo());
        this.nextSendAt = now + this.interval;
      }
    }
    return { send, wakeAt: Math.min(this.nextSendAt, this.deadline) };
  }

  /** A datagram from the server arrived (call at once: the clock is read as arrival time). */
  receive(datagram: Uint8Array): Step {
    const now = this.o.now();
    if (this.phase === 'done' || this.phase === 'idle') return { send: [], wakeAt: null };
    let type: number;
    try {
      type = messageType(datagram);
    } catch {
      return this.note(`a ${datagram.length}-byte datagram that is not a WireGuard message`, now);
    }
    if (this.phase === 'handshake') {
      if (type === MSG_RESPONSE) return this.onResponse(datagram, now);
      if (type === MSG_COOKIE_REPLY) return this.onCookieReply(datagram, now);
      return this.note(`an unexpected WireGuard message of type ${type} before the handshake`, now);
    }
    if (type === MSG_TRANSPORT) return this.onTransport(datagram, now);
    return this.wait(now); // e.g. a late response to a retransmitted initiation
  }

  /** The OS reported ICMP port unreachable for our datagrams (connected UDP socket). */
  portUnreachable(): Step {
    const now = this.o.now();
    this.refused = true;
    return this.wait(now);
  }

  /** Sending failed (e.g. network unreachable); remembered for the timeout message. */
  sendFailed(message: string): Step {
    const now = this.o.now();
    this.socketError = message;
    return this.wait(now);
  }

  private onResponse(datagram: Uint8Array, now: number): Step {
    let session: Session;
    try {
      session = this.o.initiator.consumeResponse(datagram);
    } catch (e) {
      return this.note(reasonOf(e), now);
    }
    const sentAt = this.initiationsSentAt.get(session.localIndex) ?? this.startedAt;
    this.handshake = { ms: now - sentAt, serverIndex: session.remoteIndex, clientIndex: session.localIndex };
    if (!this.o.ping) return this.succeed();
    this.session = session;
    this.phase = 'ping';
    this.nextSendAt = now;
    return this.tick();
  }

  private onCookieReply(datagram: Uint8Array, now: number): Step {
    try {
      this.o.initiator.consumeCookieReply(datagram);
    } catch (e) {
      return this.note(reasonOf(e), now);
    }
    this.cookieUsed = true;
    this.nextSendAt = now; // resend at once (rate limit permitting), now with mac2
    return this.tick();
  }

  private onTransport(datagram: Uint8Array, now: number): Step {
    let plain: Uint8Array;
    try {
      plain = this.session!.open(datagram);
    } catch (e) {
      return this.note(reasonOf(e), now);
    }
    if (plain.length === 0) return this.wait(now); // keepalive
    let icmp;
    try {
      icmp = parseIcmp(plain);
    } catch {
      return this.wait(now); // some other packet routed to us; not our business
    }
    const sentAt = this.echoSentAt.get(icmp.seq);
    if (isEchoReply(icmp) && icmp.id === this.o.echoId && sentAt !== undefined && icmp.source === this.o.ping!.target) {
      return this.succeed({ ms: now - sentAt, from: icmp.source });
    }
    if (!isEchoReply(icmp)) this.icmpSeen.push(`ICMP type ${icmp.type} code ${icmp.code} from ${icmp.source}`);
    return this.wait(now);
  }

  private initiation(): Uint8Array {
    const sent = this.o.initiator.createInitiation();
    const now = this.o.now(); // after the DH work: measure the network, not our crypto
    this.initiationsSentAt.set(sent.sender, now);
    this.lastInitiationAt = now;
    this.attempts++;
    return sent.message;
  }

  private echo(): Uint8Array {
    const seq = ++this.echoSeq & 0xffff;
    const payload = new TextEncoder().encode('wgfabric probe');
    const packet = buildEcho({ source: this.o.ping!.source, destination: this.o.ping!.target, id: this.o.echoId, seq, payload });
    const sealed = this.session!.seal(packet);
    this.echoSentAt.set(seq, this.o.now());
    return sealed;
  }

  private note(problem: string, now: number): Step {
    if (!this.problems.includes(problem)) this.problems.push(problem);
    return this.wait(now);
  }

  private wait(now: number): Step {
    if (now >= this.deadline) return this.fail(this.timeoutError());
    return { send: [], wakeAt: Math.min(this.nextSendAt, this.deadline) };
  }

  private succeed(echo?: { ms: number; from: string }): Step {
    this.phase = 'done';
    const h = this.handshake!;
    const result: ProbeResult = {
      endpoint: this.o.endpoint,
      handshakeMs: h.ms,
      ...(echo ? { echoMs: echo.ms, echoFrom: echo.from } : {}),
      serverIndex: h.serverIndex,
      clientIndex: h.clientIndex,
      attempts: this.attempts,
      cookieUsed: this.cookieUsed,
    };
    return { send: [], wakeAt: null, done: { result } };
  }

  private fail(error: FabricError): Step {
    this.phase = 'done';
    return { send: [], wakeAt: null, done: { error } };
  }

  private timeoutError(): FabricError {
    const ms = this.o.timeoutMs;
    const ep = this.o.endpoint;
    const details = { endpoint: ep, timeoutMs: ms, attempts: this.attempts };
    if (this.phase === 'ping') {
      const seen = this.icmpSeen.length > 0 ? `; got ${this.icmpSeen.slice(-1)[0]}` : '';
      const { target, source } = this.o.ping!;
      return new FabricError(
        'WGF_ERR_PROBE_PING',
        `handshake with ${ep} ok in ${fmt(this.handshake!.ms)} ms, but no ICMP echo reply from ${target} within ${ms} ms${seen} ` +
          `(is ${target} an address of the server, and ${source} inside the allowed-ips of our key?)`,
        { ...details, handshakeMs: this.handshake!.ms, echoRequests: this.echoSeq },
      );
    }
    if (this.problems.length > 0) {
      return new FabricError(
        'WGF_ERR_PROBE_BAD_REPLY',
        `${ep} answered within ${ms} ms but nothing verified: ${this.problems.join('; ')}`,
        { ...details, problems: [...this.problems] },
      );
    }
    const extra = this.refused
      ? `; the host answered ICMP port unreachable: nothing listens on that UDP port`
      : this.socketError
        ? `; last socket error: ${this.socketError}`
        : '';
    return new FabricError(
      'WGF_ERR_PROBE_TIMEOUT',
      `no handshake response from ${ep} within ${ms} ms (wrong server key, wrong port, unknown client key, or server down)${extra}`,
      { ...details, portUnreachable: this.refused },
    );
  }
}

function reasonOf(e: unknown): string {
  return e instanceof FabricError ? e.message : String(e);
}

/** Milliseconds with one decimal for messages. */
export function fmt(ms: number): string {
  return ms.toFixed(1);
}
