/**
 * A real WireGuard health probe: one UDP socket, one handshake with the server (and an
 * optional ICMP echo through the tunnel), typed failures. A thin I/O shell over node:dgram
 * around the pure ProbeMachine; the clocks and randomness are injectable.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { FabricError } from '../protocol/errors.js';
import type { Key } from '../wg/keys.js';
import { Initiator } from '../wg/noise.js';
import { ProbeMachine, type ProbeResult, type Step } from './machine.js';

export type { ProbeResult } from './machine.js';

export interface ProbeOptions {
  /** The server: an IP literal or a host name (resolved once). */
  readonly host: string;
  readonly port: number;
  readonly serverPublicKey: Key;
  /** The probe's own private key; the server must know its public key as a peer. */
  readonly privateKey: Key;
  readonly presharedKey?: Key;
  /** Also send an ICMP echo from `source` (our tunnel address) to `target` through the tunnel. */
  readonly ping?: { readonly target: string; readonly source: string };
  /** Budget for the whole probe (handshake and echo), in milliseconds. */
  readonly timeoutMs: number;
  /** Aborting rejects with the signal's reason and closes the socket. */
  readonly signal?: AbortSignal;
  /** Monotonic milliseconds for measurements and deadlines (default performance.now). */
  readonly now?: () => number;
  /** Wall clock as Unix nanoseconds for handshake timestamps (default Date.now). */
  readonly wallClock?: () => bigint;
  readonly random?: (n: number) => Uint8Array;
  /** Retransmission interval (default: timeout/5 within [50, 1000] ms). */
  readonly retransmitMs?: number;
  /**
   * Local UDP port to send from (default: a fresh ephemeral port). When it is taken, the probe
   * falls back to an ephemeral port rather than failing: a busy local port says nothing about
   * the server. A prober that re-uses one port per server keeps one conntrack entry (and one
   * WireGuard endpoint) per server instead of a new one every probe.
   */
  readonly localPort?: number;
  /** Called with the local port the probe's socket is bound to, before anything is sent. */
  readonly onLocalPort?: (port: number) => void;
}

/** "host:port", with IPv6 literals in brackets. */
export function formatEndpoint(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Performs one handshake with a WireGuard server and, if asked, one ICMP echo through the
 * tunnel. Resolves with the measured times; rejects with FabricError
 * WGF_ERR_PROBE_TIMEOUT (no answer at all: also what a wrong server key looks like, since
 * the server drops initiations whose mac1 is not for its key), WGF_ERR_PROBE_BAD_REPLY
 * (answers that did not verify), WGF_ERR_PROBE_PING (handshake ok, no echo reply), or
 * WGF_ERR_VALIDATION for bad options. The socket is always closed.
 */
export async function probe(o: ProbeOptions): Promise<ProbeResult> {
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new FabricError('WGF_ERR_VALIDATION', `port ${o.port} is not in 1..65535`);
  if (o.ping && (isIP(o.ping.target) === 0 || isIP(o.ping.target) !== isIP(o.ping.source))) {
    throw new FabricError('WGF_ERR_VALIDATION', 'ping target and source must be IP addresses of the same family');
  }
  o.signal?.throwIfAborted();
  const now = o.now ?? (() => performance.now());
  const random = o.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const endpoint = formatEndpoint(o.host, o.port);
  const initiator = new Initiator({
    privateKey: o.privateKey,
    peerPublicKey: o.serverPublicKey,
    ...(o.presharedKey ? { presharedKey: o.presharedKey } : {}),
    ...(o.wallClock ? { clock: o.wallClock } : {}),
    ...(o.random ? { random: o.random } : {}),
  });
  const id = random(2);
  const machine = new ProbeMachine({
    initiator,
    endpoint,
    timeoutMs: o.timeoutMs,
    echoId: (id[0]! << 8) | id[1]!,
    ...(o.ping ? { ping: o.ping } : {}),
    ...(o.retransmitMs !== undefined ? { retransmitMs: o.retransmitMs } : {}),
    now,
  });

  const address = await resolve(o.host);
  const type = isIP(address) === 6 ? 'udp6' : 'udp4';
  let socket = createSocket({ type });
  try {
    if (o.localPort !== undefined && o.localPort !== 0) {
      if (!(await bind(socket, o.localPort))) {
        socket.close();
        socket = createSocket({ type });
      }
    }
    await connect(socket, o.port, address);
    o.onLocalPort?.(socket.address().port);
    return await drive(machine, socket, now, o.signal);
  } finally {
    socket.close();
  }
}

/** Binds to `port`; false when it is in use (or otherwise refused), so the caller takes an ephemeral one. */
function bind(socket: Socket, port: number): Promise<boolean> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return Promise.reject(new FabricError('WGF_ERR_VALIDATION', `local port ${port} is not in 1..65535`));
  }
  return new Promise((resolve) => {
    const onError = () => resolve(false);
    socket.once('error', onError);
    socket.bind(port, () => {
      socket.off('error', onError);
      resolve(true);
    });
  });
}

async function resolve(host: string): Promise<string> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare)) return bare;
  try {
    return (await lookup(bare)).address;
  } catch (e) {
    throw new FabricError('WGF_ERR_PROBE_TIMEOUT', `cannot resolve ${host}: ${(e as Error).message}`, { host }, { cause: e });
  }
}

function connect(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(new FabricError('WGF_ERR_PROBE_TIMEOUT', `cannot open a UDP socket to ${formatEndpoint(address, port)}: ${e.message}`, undefined, { cause: e }));
    socket.once('error', onError);
    // Connected: the kernel filters datagrams from other sources and reports port unreachable.
    socket.connect(port, address, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/** Runs the machine against the socket until it is done or the signal aborts. */
function drive(machine: ProbeMachine, socket: Socket, now: () => number, signal?: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (f: () => void) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('message');
      socket.removeAllListeners('error');
      socket.on('error', () => {}); // late errors after close must not crash the process
      f();
    };
    const onAbort = () => finish(() => reject(signal!.reason));
    const apply = (step: Step): void => {
      if (finished) return;
      for (const d of step.send) {
        socket.send(d, (err) => {
          if (err && !finished) apply(machine.sendFailed(err.message));
        });
      }
      if (step.done) {
        const done = step.done;
        return finish(() => ('result' in done ? resolve(done.result) : reject(done.error)));
      }
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (step.wakeAt !== null) timer = setTimeout(() => apply(machine.tick()), Math.max(0, step.wakeAt - now()));
    };
    if (signal?.aborted) return onAbort(); // aborted while resolving or connecting
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('message', (msg: Buffer) => apply(machine.receive(new Uint8Array(msg.buffer, msg.byteOffset, msg.length))));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      apply(e.code === 'ECONNREFUSED' ? machine.portUnreachable() : machine.sendFailed(e.message));
    });
    apply(machine.start());
  });
}
