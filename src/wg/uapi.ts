import { createConnection } from 'node:net';
import { FabricError } from '../protocol/errors.js';
import { uapiSocketPath } from '../sys/netns.js';
import {
  DEFAULT_OPERATION_BYTES, Framer, GET_REQUEST, InterfaceFramer, MAX_RESPONSE_BYTES, ResponseFramer, buildSetOperations, parseGetResponse, parseSetResponse,
  setRequestChunks, validateSetRequest,
  type Device, type DeviceInterface, type KeyInput, type UapiPeerUpdate, type UapiSetRequest,
} from './uapi-codec.js';
import { GetResponseParser, type PeerState } from './uapi-get-parser.js';

/** The whole device read for a reconcile: its own settings, and its peers by base64 public key. */
export interface DeviceStateRead extends Omit<Device, 'peers'> {
  peers: Map<string, PeerState>;
}

/** Frames a get answer by parsing it as it arrives; its text is not kept (see GetResponseParser.result). */
class ParsingFramer extends Framer {
  override readonly keepsChunks = false;

  constructor(private readonly parser: GetResponseParser) {
    super();
  }

  push(chunk: Buffer): boolean {
    this.complete = this.parser.push(chunk);
    this.size = this.parser.bytes;
    return this.complete;
  }

  text(): string {
    return '';
  }
}

/** What code that drives a WireGuard device needs; UapiClient implements it over the socket. */
export interface UapiDevice {
  get(opts?: CallOptions): Promise<Device>;
  getInterface(opts?: CallOptions): Promise<DeviceInterface>;
  set(request: UapiSetRequest, opts?: CallOptions): Promise<void>;
}

/** Per-call options. */
export interface CallOptions {
  /** Overrides the client's timeout for this call. */
  readonly timeoutMs?: number;
}

/** Options of a UapiClient; the defaults suit wireguard-go with up to ~100k peers. */
export interface UapiClientOptions {
  /** Default /var/run/wireguard/IFACE.sock. */
  readonly socketPath?: string;
  /** Per call, from connecting to the last byte of the answer. Default 30 s. */
  readonly timeoutMs?: number;
  /** Larger answers are refused with WGF_ERR_UAPI. Default 256 MiB. */
  readonly maxResponseBytes?: number;
  /**
   * Big set requests are sent as set=1 operations of about this size (see buildSetOperations).
   * Infinity: each request is ONE operation, streamed (validated whole first, then built chunk
   * by chunk while the device applies what it received; see set()).
   */
  readonly operationBytes?: number;
}

/** A request as written on the socket, or a source of its chunks, taken one at a time (streamed). */
type Request = string | (() => Iterator<string, void>);

const IFACE_RE = /^[A-Za-z0-9_=+.-]{1,15}$/;
const DEFAULT_TIMEOUT_MS = 30_000;
const READ_BUFFER_BYTES = 256 * 1024;

/**
 * A client for a userspace WireGuard device's UAPI socket (wireguard-go, boringtun). Each call
 * opens its own connection, as wg(8) does, and calls are serialised: one runs at a time, in
 * the order they were made, so a get never sees half of a set from this client.
 *
 * Errors: WGF_ERR_DEVICE_UNAVAILABLE (socket missing, refused, closed early, timed out; the
 * message names the socket), WGF_ERR_UAPI (the device answered errno != 0, details.errno;
 * or answered something malformed), WGF_ERR_VALIDATION / WGF_ERR_INVALID_KEY /
 * WGF_ERR_WEAK_KEY (a bad request, refused before anything is sent).
 * A set that fails or times out may have been applied in part: wireguard-go applies lines
 * until the first bad one. Read the device back (get) before deciding what to do.
 */
export class UapiClient implements UapiDevice {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly operationBytes: number;
  private tail: Promise<unknown> = Promise.resolve();

  /** @param iface interface name (1..15 of [A-Za-z0-9_=+.-]); ignored for the path when socketPath is given. */
  constructor(readonly iface: string, opts: UapiClientOptions = {}) {
    if (opts.socketPath === undefined && !IFACE_RE.test(iface)) {
      throw new FabricError('WGF_ERR_VALIDATION', 'interface name must be 1 to 15 of A-Z a-z 0-9 _ = + . -', { field: 'iface' });
    }
    this.socketPath = opts.socketPath ?? uapiSocketPath(iface);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    this.operationBytes = opts.operationBytes ?? DEFAULT_OPERATION_BYTES;
  }

  /** Reads the whole device state. */
  async get(opts: CallOptions = {}): Promise<Device> {
    // Parsed chunk by chunk as the answer arrives (a device of 65k peers answers 22 MB).
    let parser!: GetResponseParser;
    await this.call([GET_REQUEST], () => {}, opts, () => new ParsingFramer((parser = new GetResponseParser(this.maxResponseBytes))));
    return parser.result();
  }

  /**
   * Reads the whole device as get() does, each peer straight into its PeerState, keyed by public
   * key as it arrives (no peer list, no second object per peer: what a reconcile needs).
   */
  async getState(opts: CallOptions = {}): Promise<DeviceStateRead> {
    let parser!: GetResponseParser;
    await this.call([GET_REQUEST], () => {}, opts, () => new ParsingFramer((parser = new GetResponseParser(this.maxResponseBytes, 'state'))));
    const { peers: _none, ...iface } = parser.result();
    return { ...iface, peers: parser.peerStates };
  }

  /**
   * Reads the device's own settings (key, port, fwmark) and hangs up at its first peer: a cheap
   * look at a device with many peers (wireguard-go ignores the cut-off write).
   */
  async getInterface(opts: CallOptions = {}): Promise<DeviceInterface> {
    const [text] = await this.call([GET_REQUEST], () => {}, opts, () => new InterfaceFramer());
    const { peers: _peers, ...iface } = parseGetResponse(text!);
    return iface;
  }

  /**
   * Applies one set request, validated whole before anything is sent (a bad field anywhere:
   * nothing reaches the device). With a finite operationBytes a big request goes as several
   * set=1 operations on one connection, each built first and sent after the previous one
   * answered errno=0; on a refusal, details.operation / details.operations tell how far it got.
   * With operationBytes Infinity it goes as ONE operation, streamed: built chunk by chunk
   * (setRequestChunks) while the device parses the chunks already written, each next chunk
   * built while the socket drains the last (so node's building overlaps the device's work,
   * and node holds at most two chunks). The request must not change until the call settles.
   */
  async set(request: UapiSetRequest, opts: CallOptions = {}): Promise<void> {
    if (!Number.isFinite(this.operationBytes)) {
      validateSetRequest(request);
      await this.call([() => setRequestChunks(request)], parseSetResponse, opts);
      return;
    }
    const ops = buildSetOperations(request, this.operationBytes);
    await this.call(ops, (text, i) => {
      try {
        parseSetResponse(text);
      } catch (e) {
        if (e instanceof FabricError && ops.length > 1) {
          throw new FabricError(e.code, e.message, { ...e.details, operation: i + 1, operations: ops.length }, { cause: e });
        }
        throw e;
      }
    }, opts);
  }

  /** Adds or updates peers (without touching the others). */
  setPeers(peers: readonly UapiPeerUpdate[], opts: CallOptions = {}): Promise<void> {
    return this.set({ peers }, opts);
  }

  /** Removes peers by public key; keys the device does not have are no-ops. */
  removePeers(publicKeys: readonly KeyInput[], opts: CallOptions = {}): Promise<void> {
    return this.set({ peers: publicKeys.map((publicKey) => ({ publicKey, remove: true })) }, opts);
  }

  /** Sets device-level fields only (private key, listen port, fwmark, replace_peers). */
  configureDevice(device: Omit<UapiSetRequest, 'peers'>, opts: CallOptions = {}): Promise<void> {
    const { privateKey, listenPort, fwmark, replacePeers } = device;
    return this.set({
      ...(privateKey !== undefined ? { privateKey } : {}), ...(listenPort !== undefined ? { listenPort } : {}),
      ...(fwmark !== undefined ? { fwmark } : {}), ...(replacePeers !== undefined ? { replacePeers } : {}),
    }, opts);
  }

  /** Queues one connection's exchange behind the ones already made. */
  private call(requests: readonly Request[], check: (answer: string, index: number) => void, opts: CallOptions, framing?: () => Framer): Promise<string[]> {
    const newFramer = framing ?? (() => new ResponseFramer(this.maxResponseBytes));
    const run = this.tail.then(() => this.exchange(requests, check, opts.timeoutMs ?? this.timeoutMs, newFramer));
    this.tail = run.catch(() => {});
    return run;
  }

  /**
   * Sends `requests` one at a time on one connection, each after the previous answer passed
   * `check` (which throws to stop), and resolves with the answers.
   */
  private exchange(requests: readonly Request[], check: (answer: string, index: number) => void, timeoutMs: number, newFramer: () => Framer): Promise<string[]> {
    const path = this.socketPath;
    return new Promise((resolve, reject) => {
      const answers: string[] = [];
      let framer = newFramer();
      const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
      // `onread` hands each read to us as it arrives, without the stream's buffering.
      const sock = createConnection({
        path,
        onread: {
          buffer: readBuffer,
          callback: (nread: number, buf: Uint8Array): boolean => {
            try {
              const chunk = framer.keepsChunks ? Buffer.from(buf.subarray(0, nread)) : readBuffer.subarray(0, nread);
              if (!framer.push(chunk)) return true;
              const answer = framer.text();
              check(answer, answers.length);
              answers.push(answer);
              if (answers.length === requests.length) {
                finish(null);
              } else {
                framer = newFramer();
                send(requests[answers.length]!);
              }
            } catch (e) {
              finish(e as Error);
            }
            return true;
          },
        },
      });
      let connected = false;
      let settled = false;
      const finish = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(answers);
      };
      const unavailable = (message: string, extra: Record<string, unknown> = {}, cause?: unknown): FabricError =>
        new FabricError('WGF_ERR_DEVICE_UNAVAILABLE', message, { socket: path, ...extra }, cause ? { cause } : undefined);
      const timer = setTimeout(() => {
        finish(unavailable(`no complete answer from WireGuard device socket ${path} within ${timeoutMs} ms`, { timeoutMs, receivedBytes: framer.bytes }));
      }, timeoutMs);
      sock.on('connect', () => {
        connected = true;
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code ?? 'error';
        if (!connected) finish(unavailable(`cannot connect to WireGuard device socket ${path}: ${code}`, { errno: code }, e));
        else finish(unavailable(`connection to WireGuard device socket ${path} failed: ${code}`, { errno: code }, e));
      });
      sock.on('close', () => {
        finish(unavailable(`WireGuard device socket ${path} closed the connection before a complete answer`, { receivedBytes: framer.bytes }));
      });
      /**
       * Writes one request. A streamed one: each chunk is written, the next built while the
       * socket drains it, then written once it drained. Stops once the call settled (an answer
       * came early, e.g. a refusal; or the socket failed).
       */
      const send = (req: Request): void => {
        if (typeof req === 'string') {
          sock.write(req);
          return;
        }
        let chunks: Iterator<string, void> | undefined;
        let next: IteratorResult<string, void> | undefined;
        const pump = (): void => {
          try {
            chunks ??= req();
            next ??= chunks.next();
            while (!settled && !next.done) {
              const more = sock.write(next.value);
              next = chunks.next();
              if (!more) {
                sock.once('drain', pump);
                return;
              }
            }
          } catch (e) {
            finish(e as Error); // a builder bug: the device has what was written (validated first, it cannot happen)
          }
        };
        pump();
      };
      // Queued by node until the connection is up.
      send(requests[0]!);
    });
  }
}
