import { constants as osConstants } from 'node:os';
import { FabricError } from '../protocol/errors.js';
import { LOW_ORDER_BASE64, parseKey, parsePublicKey, publicKeyOf, toBase64, type Key } from './keys.js';
import { isPrefix, parseCidr, parseEndpoint } from './addr.js';

/**
 * The WireGuard cross-platform configuration protocol (UAPI) as pure functions: requests are
 * built from typed models, responses parsed into typed models. No I/O here (see uapi.ts).
 * https://www.wireguard.com/xplatform/#configuration-protocol
 */

/** A key as raw bytes or text (base64 as wg(8) prints it, or hex as UAPI writes it). */
export type KeyInput = Key | string;

/** One peer's part of a set request. Only the fields given are sent. */
export interface UapiPeerUpdate {
  publicKey: KeyInput;
  /** Remove the peer; every other field is then ignored. */
  remove?: boolean;
  /** Change the peer only if it exists; never create it. */
  updateOnly?: boolean;
  /** null clears it. */
  presharedKey?: KeyInput | null;
  /** IP:port or [IPv6]:port. Host names are refused: resolve them first. */
  endpoint?: string;
  /** Seconds, 0..65535; 0 turns it off. */
  persistentKeepaliveInterval?: number;
  /** Drop the peer's allowed IPs before adding `allowedIps`. */
  replaceAllowedIps?: boolean;
  /** IP or IP/prefix; a bare IP means /32 or /128. A prefix moves here from any other peer. */
  allowedIps?: readonly string[];
}

/** A set=1 request. Not transactional: wireguard-go applies lines until the first bad one. */
export interface UapiSetRequest {
  /** null clears it (and with it the device's public key). */
  privateKey?: KeyInput | null;
  /** 0 lets the device pick a random port. */
  listenPort?: number;
  /** 0 clears it. */
  fwmark?: number;
  /** Remove every peer first; `peers` then become the whole set. */
  replacePeers?: boolean;
  peers?: readonly UapiPeerUpdate[];
}

/** A device as a get=1 response describes it. Keys are base64. */
export interface Device {
  privateKey?: string;
  /** Derived from privateKey. */
  publicKey?: string;
  listenPort: number;
  fwmark: number;
  peers: DevicePeer[];
}

/** One peer as a get=1 response describes it. Keys are base64. */
export interface DevicePeer {
  publicKey: string;
  /** Absent when the device reports the all-zero key (no preshared key). */
  presharedKey?: string;
  endpoint?: string;
  persistentKeepaliveInterval: number;
  /** Milliseconds since the epoch, or null when there was no handshake yet. */
  lastHandshakeMs: number | null;
  rxBytes: number;
  txBytes: number;
  /** As the device prints them: masked, canonical. */
  allowedIps: string[];
  protocolVersion: number;
}

/** The whole get request. */
export const GET_REQUEST = 'get=1\n\n';

/** Responses larger than this are refused (about 25 times a 50k-peer device). */
export const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** Cuts one answer out of the bytes of a connection; the socket code feeds it chunk by chunk. */
export abstract class Framer {
  protected size = 0;
  protected complete = false;
  /** False when push() is done with a chunk once it returns: the socket code may then lend its read buffer. */
  readonly keepsChunks: boolean = true;

  /** Adds a chunk; true once the answer is complete. Throws WGF_ERR_UAPI when it is too large. */
  abstract push(chunk: Buffer): boolean;

  /** The answer as text, for the parsers. */
  abstract text(): string;

  get done(): boolean {
    return this.complete;
  }

  /** Bytes received so far. */
  get bytes(): number {
    return this.size;
  }
}

/**
 * Collects the chunks of one response until the blank line that ends it, in time linear in
 * the response size (chunks are kept, joined once). Pure: the socket code feeds it.
 */
export class ResponseFramer extends Framer {
  private readonly chunks: Buffer[] = [];
  private lastByte = -1;

  constructor(private readonly maxBytes = MAX_RESPONSE_BYTES) {
    super();
  }

  /** Adds a chunk; true once the response is complete. Throws WGF_ERR_UAPI when too large. */
  push(chunk: Buffer): boolean {
    if (chunk.length === 0) return this.complete;
    if (!this.complete) {
      // The terminator may straddle two chunks.
      this.complete = (this.lastByte === 0x0a && chunk[0] === 0x0a) || chunk.includes('\n\n');
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.lastByte = chunk[chunk.length - 1]!;
    if (this.size > this.maxBytes) {
      throw new FabricError('WGF_ERR_UAPI', `UAPI response is larger than ${this.maxBytes} bytes`, { bytes: this.size });
    }
    return this.complete;
  }

  /**
   * Everything received so far as text (bytes after the blank line make the parsers fail).
   * UAPI is ASCII; latin1 decodes twice as fast as utf8 and maps any stray byte to one char.
   */
  text(): string {
    return Buffer.concat(this.chunks, this.size).toString('latin1');
  }
}

/** A device's own settings from a get=1 answer: everything but its peers. */
export type DeviceInterface = Omit<Device, 'peers'>;

/** An interface part (private key, port, fwmark) is a few hundred bytes; this is far beyond it. */
export const MAX_INTERFACE_BYTES = 64 * 1024;

/**
 * Collects a get=1 answer only as far as its interface part: the lines before the first peer
 * (`public_key=`). Done at the first peer line or at the end of the answer, whichever comes
 * first, so reading a device's key does not mean receiving and parsing all of its peers.
 * `text()` is then a complete answer of the interface part alone. Pure: the socket code feeds it.
 */
export class InterfaceFramer extends Framer {
  private received = '';
  /** Where the first peer starts (-1: not seen yet). */
  private peerAt = -1;

  constructor(private readonly maxBytes = MAX_INTERFACE_BYTES) {
    super();
  }

  /** Adds a chunk; true once the interface part is known. Throws WGF_ERR_UAPI when it is too long. */
  push(chunk: Buffer): boolean {
    if (this.complete) return true;
    this.size += chunk.length;
    this.received += chunk.toString('latin1');
    // Searching everything received so far finds a marker split across chunks.
    this.peerAt = this.received.startsWith('public_key=') ? 0 : this.received.indexOf('\npublic_key=');
    if (this.peerAt > 0) this.peerAt += 1;
    const end = this.received.indexOf('\n\n');
    this.complete = this.peerAt >= 0 || end >= 0;
    if (this.peerAt >= 0 && end >= 0 && end < this.peerAt) this.peerAt = -1;
    if (!this.complete && this.size > this.maxBytes) {
      throw new FabricError('WGF_ERR_UAPI', `UAPI response has no peer or end within ${this.maxBytes} bytes`, { bytes: this.size });
    }
    return this.complete;
  }

  /**
   * The interface part as a whole answer. When it was cut at the first peer, `errno=0` ends it:
   * the device was printing its peers, so the get itself succeeded.
   */
  text(): string {
    return this.peerAt >= 0 ? `${this.received.slice(0, this.peerAt)}errno=0\n\n` : this.received;
  }
}

const ZERO_HEX = '0'.repeat(64);

function invalid(field: string, reason: string): never {
  throw new FabricError('WGF_ERR_VALIDATION', `UAPI request: ${field} ${reason}`, { field });
}

/** Canonical base64 of 32 bytes, as parseKey accepts it (the last character carries 4 zero bits). */
const B64_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64_CHAR[c.charCodeAt(0)] = 1;
for (const c of 'AEIMQUYcgkosw048') B64_CHAR[c.charCodeAt(0)] = 3;
const keyScratch = Buffer.alloc(32);

/** /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/ as a loop over a table (a bulk load checks 65k keys). */
function isCanonicalB64Key(k: string): boolean {
  if (k.length !== 44 || k.charCodeAt(43) !== 61) return false;
  const last = k.charCodeAt(42);
  if (last > 127 || B64_CHAR[last] !== 3) return false;
  for (let i = 0; i < 42; i++) {
    const c = k.charCodeAt(i);
    if (c > 127 || B64_CHAR[c] === 0) return false;
  }
  return true;
}

/**
 * The usual input, a canonical base64 key, accepted as it is (a public key: not of low order,
 * looked up by its text); false sends anything else down the general path and its errors
 * (keyHexSlow).
 */
function fastKey(k: KeyInput, publicKey: boolean): boolean {
  return typeof k === 'string' && isCanonicalB64Key(k) && !(publicKey && LOW_ORDER_BASE64.has(k));
}

function keyHex(field: string, k: KeyInput, publicKey: boolean): string {
  // One string out per key (a bulk load converts 65k keys).
  if (!fastKey(k, publicKey)) return keyHexSlow(field, k, publicKey);
  keyScratch.write(k as string, 'base64');
  return keyScratch.toString('hex');
}

/** Throws as keyHex would, building nothing for a key on the fast path. */
function checkKey(field: string, k: KeyInput, publicKey: boolean): void {
  if (!fastKey(k, publicKey)) keyHexSlow(field, k, publicKey);
}

function keyHexSlow(field: string, k: KeyInput, publicKey: boolean): string {
  try {
    if (typeof k !== 'string' && !(k instanceof Uint8Array)) invalid(field, 'must be a key (bytes, base64 or hex)');
    const text = typeof k === 'string' ? k : toBase64(k);
    return toHex(publicKey ? parsePublicKey(text, field) : parseKey(text, field));
  } catch (e) {
    if (e instanceof FabricError && e.code !== 'WGF_ERR_VALIDATION') {
      throw new FabricError(e.code, `UAPI request: ${e.message}`, { field });
    }
    throw e;
  }
}

function toHex(k: Key): string {
  return Buffer.from(k).toString('hex');
}

function uint(field: string, v: unknown, max: number): string {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) invalid(field, `must be a whole number from 0 to ${max}`);
  return String(v);
}

/**
 * Builds one complete set=1 operation (ending in the blank line). Validates every field first
 * and throws WGF_ERR_VALIDATION, WGF_ERR_INVALID_KEY or WGF_ERR_WEAK_KEY naming the field,
 * never its value; nothing in the model can add lines of its own.
 */
export function buildSetRequest(req: UapiSetRequest): string {
  return buildSetOperations(req, Number.POSITIVE_INFINITY)[0]!;
}

/** Operations at most this big are written whole into an idle Unix socket by one write(2). */
export const DEFAULT_OPERATION_BYTES = 64 * 1024;

/**
 * The same request as buildSetRequest, cut into set=1 operations of at most `maxBytes` each
 * (one operation may exceed it only by a single line). Cuts fall between peers; a peer
 * whose lines do not fit in one operation is continued in the next by repeating its
 * public_key (and update_only), never replace_allowed_ips. Device lines go in the first.
 * Applying the operations in order has the same effect as the single request.
 *
 * Why: wireguard-go stops reading a set at the first refused line, answers errno, reads the
 * rest as the next operation and hangs up. A client still writing a big request then gets
 * EPIPE and may lose the answer; operations that fit the socket buffer are written whole
 * before the device can hang up, and the client sends the next only after errno=0.
 */
export function buildSetOperations(req: UapiSetRequest, maxBytes = DEFAULT_OPERATION_BYTES): string[] {
  if (!(maxBytes >= 1024)) invalid('maxBytes', 'must be at least 1024');
  const ops: string[] = [];
  let cur: string[] = ['set=1'];
  let size = 6;
  const flush = (): void => {
    cur.push('', '');
    ops.push(cur.join('\n'));
    cur = ['set=1'];
    size = 6;
  };
  const add = (line: string): void => {
    cur.push(line);
    size += line.length + 1;
  };
  for (const l of deviceLines(req)) add(l);
  const peers = peerList(req);
  for (let i = 0; i < peers.length; i++) {
    const { header, body } = peerLines(peers[i]!, `peers[${i}]`);
    const whole = header.reduce((n, l) => n + l.length + 1, 0) + body.reduce((n, l) => n + l.length + 1, 0);
    if (size + whole > maxBytes && cur.length > 1) flush();
    for (const l of header) add(l);
    let fresh = true; // nothing but the header since the last cut
    for (const l of body) {
      if (size + l.length + 1 > maxBytes && !fresh) {
        flush();
        for (const h of header) add(h);
      }
      add(l);
      fresh = false;
    }
  }
  flush();
  return ops;
}

/** Chunks of a streamed set request are cut between peers once they reach this size. */
export const DEFAULT_CHUNK_BYTES = 128 * 1024;

/**
 * Checks a set request as buildSetRequest does, with the same errors (code, message, field:
 * the first bad field wins, as there), without building it: cheap enough to run over a whole
 * bulk load before its first byte is sent (see setRequestChunks).
 */
export function validateSetRequest(req: UapiSetRequest): void {
  deviceLines(req);
  const peers = peerList(req);
  for (let i = 0; i < peers.length; i++) checkPeer(peers[i]!, i);
}

/**
 * buildSetRequest(req) as ONE operation in chunks of about `chunkBytes` (cut between peers;
 * joined they are exactly buildSetRequest(req)), each built only when the previous one is
 * taken: a big request is streamed while the device applies what it has received, and
 * building it overlaps the device's work. The device applies lines as they arrive, so call
 * validateSetRequest first: a request that fails part way has already let chunks out.
 */
export function* setRequestChunks(req: UapiSetRequest, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<string, void, undefined> {
  let cur: string[] = ['set=1', ...deviceLines(req)];
  let size = 0;
  const peers = peerList(req);
  for (let i = 0; i < peers.length; i++) {
    const { header, body } = peerLines(peers[i]!, `peers[${i}]`);
    for (const l of header) {
      cur.push(l);
      size += l.length + 1;
    }
    for (const l of body) {
      cur.push(l);
      size += l.length + 1;
    }
    if (size >= chunkBytes && i < peers.length - 1) {
      cur.push('');
      yield cur.join('\n');
      cur = [];
      size = 0;
    }
  }
  cur.push('', '');
  yield cur.join('\n');
}

/** The device-level lines of a set request, in wg(8) order, validated. */
function deviceLines(req: UapiSetRequest): string[] {
  const lines: string[] = [];
  if (req.privateKey !== undefined) lines.push(`private_key=${req.privateKey === null ? ZERO_HEX : keyHex('privateKey', req.privateKey, false)}`);
  if (req.listenPort !== undefined) lines.push(`listen_port=${uint('listenPort', req.listenPort, 65535)}`);
  if (req.fwmark !== undefined) lines.push(`fwmark=${uint('fwmark', req.fwmark, 0xffffffff)}`);
  if (req.replacePeers) lines.push('replace_peers=true');
  return lines;
}

function peerList(req: UapiSetRequest): readonly UapiPeerUpdate[] {
  const peers = req.peers ?? [];
  if (!Array.isArray(peers)) invalid('peers', 'must be a list');
  return peers;
}

/** The lines of one peer: the header opens it (and is repeated on a continuation). */
function peerLines(p: UapiPeerUpdate, f: string): { header: string[]; body: string[] } {
  if (!p || typeof p !== 'object') invalid(f, 'must be an object');
  // A peer being removed may carry any key, even one refused for new peers.
  const header = [`public_key=${keyHex(`${f}.publicKey`, p.publicKey, !p.remove)}`];
  if (p.remove) return { header, body: ['remove=true'] };
  // update_only must come first: wireguard-go creates the peer on public_key and drops it here.
  if (p.updateOnly) header.push('update_only=true');
  const body: string[] = [];
  if (p.presharedKey !== undefined) {
    body.push(`preshared_key=${p.presharedKey === null ? ZERO_HEX : keyHex(`${f}.presharedKey`, p.presharedKey, false)}`);
  }
  if (p.endpoint !== undefined) body.push(`endpoint=${endpointOf(p.endpoint, `${f}.endpoint`)}`);
  if (p.persistentKeepaliveInterval !== undefined) {
    body.push(`persistent_keepalive_interval=${uint(`${f}.persistentKeepaliveInterval`, p.persistentKeepaliveInterval, 65535)}`);
  }
  if (p.replaceAllowedIps) body.push('replace_allowed_ips=true');
  const ips = allowedIpList(p, f);
  for (let j = 0; j < ips.length; j++) body.push(`allowed_ip=${allowedIp(ips[j], `${f}.allowedIps[${j}]`)}`);
  return { header, body };
}

/** Throws what peerLines throws for peers[i], in the same order of fields, building no line on the usual paths. */
function checkPeer(p: UapiPeerUpdate, i: number): void {
  if (!p || typeof p !== 'object') invalid(`peers[${i}]`, 'must be an object');
  checkKey(`peers[${i}].publicKey`, p.publicKey, !p.remove);
  if (p.remove) return;
  if (p.presharedKey !== undefined && p.presharedKey !== null) checkKey(`peers[${i}].presharedKey`, p.presharedKey, false);
  if (p.endpoint !== undefined) endpointOf(p.endpoint, `peers[${i}].endpoint`);
  if (p.persistentKeepaliveInterval !== undefined) uint(`peers[${i}].persistentKeepaliveInterval`, p.persistentKeepaliveInterval, 65535);
  const ips = allowedIpList(p, `peers[${i}]`);
  for (let j = 0; j < ips.length; j++) allowedIp(ips[j], `peers[${i}].allowedIps[${j}]`); // builds nothing for `addr/prefix`
}

function endpointOf(endpoint: unknown, field: string): string {
  const e = typeof endpoint === 'string' ? parseEndpoint(endpoint) : null;
  if (!e) invalid(field, 'must be IP:port or [IPv6]:port');
  if (e.kind === 'name') invalid(field, 'is a host name; UAPI takes IP addresses only, resolve it first');
  return endpoint as string;
}

function allowedIpList(p: UapiPeerUpdate, f: string): readonly unknown[] {
  const ips = p.allowedIps ?? [];
  if (!Array.isArray(ips)) invalid(`${f}.allowedIps`, 'must be a list');
  return ips;
}

/** One allowed IP as written: `addr/prefix`, validated. */
function allowedIp(ip: unknown, field: string): string {
  // `addr/prefix` that parses is sent as written (it is what parseCidr gives back), so the
  // cheap check suffices; bare addresses and everything else take parseCidr.
  if (typeof ip === 'string' && ip.indexOf('/') > 0 && isPrefix(ip)) return ip;
  const c = typeof ip === 'string' ? parseCidr(ip) : null;
  if (!c) invalid(field, 'is not a valid IP address or prefix (CIDR)');
  return `${c.addr}/${c.prefix}`;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));
// wireguard-go answers -55 for "unknown error"; Linux calls 55 ENOANO, which node does not list.
if (process.platform === 'linux' && !ERRNO_NAMES.has(55)) ERRNO_NAMES.set(55, 'ENOANO');
const ERRNO_RE = /^-?[0-9]{1,10}$/;
const UINT_RE = /^[0-9]{1,20}$/;

function malformed(line: number, reason: string): never {
  throw new FabricError('WGF_ERR_UAPI', `malformed UAPI response, line ${line}: ${reason}`, { line });
}

/**
 * Throws WGF_ERR_UAPI with `details.errno` (signed as the device wrote it: wireguard-go
 * negative, boringtun positive) and `details.errnoName` when errno is not 0.
 */
export function checkErrno(errno: number): void {
  if (errno === 0) return;
  const name = ERRNO_NAMES.get(Math.abs(errno));
  throw new FabricError('WGF_ERR_UAPI', `WireGuard device refused the request: errno ${errno}${name ? ` (${name})` : ''}`, {
    errno,
    ...(name ? { errnoName: name } : {}),
  });
}

/** Visits the key=value lines of one response up to its blank line; returns errno. */
function scan(text: string, visit: (key: string, value: string, line: number) => void): number {
  let pos = 0;
  let line = 0;
  let errno: number | undefined;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const start = pos;
    pos = nl + 1;
    line++;
    if (nl === start) {
      if (errno === undefined) malformed(line, 'blank line before errno');
      if (pos < text.length) malformed(line + 1, 'data after the end of the response');
      return errno;
    }
    // Key and value are cut from the text directly (no string per line: 700k lines at 65k peers).
    const eq = text.indexOf('=', start);
    if (eq <= start || eq > nl) malformed(line, 'expected key=value');
    if (errno !== undefined) malformed(line, 'a line after errno');
    const key = text.slice(start, eq);
    const value = text.slice(eq + 1, nl);
    if (key === 'errno') {
      if (!ERRNO_RE.test(value)) malformed(line, 'errno is not a number');
      errno = Number(value);
    } else {
      visit(key, value, line);
    }
  }
  if (errno === undefined) malformed(line, 'the response ended without errno');
  return errno;
}

/** Parses a set=1 response (just `errno=N`); throws WGF_ERR_UAPI when errno is not 0. */
export function parseSetResponse(text: string): void {
  checkErrno(scan(text, () => {}));
}

/**
 * Parses a get=1 response into a Device. Unknown keys are ignored (newer devices add some);
 * a malformed line or value of a known key throws WGF_ERR_UAPI naming the line, never the
 * value; a non-zero errno throws WGF_ERR_UAPI with details.errno.
 */
export function parseGetResponse(text: string): Device {
  const dev: Device = { listenPort: 0, fwmark: 0, peers: [] };
  let privateHex: string | undefined;
  let peer: DevicePeer | undefined;
  let hsSec = 0;
  let hsNsec = 0;
  const finishPeer = (): void => {
    if (!peer) return;
    peer.lastHandshakeMs = hsSec === 0 && hsNsec === 0 ? null : hsSec * 1000 + Math.floor(hsNsec / 1e6);
    dev.peers.push(peer);
  };
  // Buffer's hex decoder stops at the first non-hex pair: 32 bytes out of 64 chars = all hex.
  const keyBytes = (v: string, line: number, what: string): Buffer => {
    const b = v.length === 64 ? Buffer.from(v, 'hex') : undefined;
    if (b === undefined || b.length !== 32) malformed(line, `${what} is not 64 hex digits`);
    return b;
  };
  const hexKey = (v: string, line: number, what: string): string => keyBytes(v, line, what).toString('hex');
  const num = (v: string, line: number, what: string): number => {
    if (!UINT_RE.test(v)) malformed(line, `${what} is not an unsigned number`);
    return Number(v);
  };
  const errno = scan(text, (key, value, line) => {
    switch (key) {
      case 'private_key': privateHex = hexKey(value, line, key); return;
      case 'listen_port': dev.listenPort = num(value, line, key); return;
      case 'fwmark': dev.fwmark = num(value, line, key); return;
      case 'public_key':
        finishPeer();
        peer = {
          publicKey: keyBytes(value, line, key).toString('base64'), persistentKeepaliveInterval: 0,
          lastHandshakeMs: null, rxBytes: 0, txBytes: 0, allowedIps: [], protocolVersion: 1,
        };
        hsSec = 0;
        hsNsec = 0;
        return;
    }
    if (!PEER_KEYS.has(key)) return; // unknown: forward compatible
    if (!peer) malformed(line, `${key} before any public_key`);
    switch (key) {
      case 'preshared_key': {
        const hex = hexKey(value, line, key);
        if (hex !== ZERO_HEX) peer.presharedKey = Buffer.from(hex, 'hex').toString('base64');
        return;
      }
      case 'endpoint': if (value === '') malformed(line, 'empty endpoint'); peer.endpoint = value; return;
      case 'persistent_keepalive_interval': peer.persistentKeepaliveInterval = num(value, line, key); return;
      case 'last_handshake_time_sec': hsSec = num(value, line, key); return;
      case 'last_handshake_time_nsec': hsNsec = num(value, line, key); return;
      case 'rx_bytes': peer.rxBytes = num(value, line, key); return;
      case 'tx_bytes': peer.txBytes = num(value, line, key); return;
      case 'protocol_version': peer.protocolVersion = num(value, line, key); return;
      case 'allowed_ip':
        if (!parseCidr(value, false)) malformed(line, 'allowed_ip is not an IP prefix');
        peer.allowedIps.push(value);
        return;
    }
  });
  checkErrno(errno);
  finishPeer();
  if (privateHex !== undefined && privateHex !== ZERO_HEX) {
    const k = new Uint8Array(Buffer.from(privateHex, 'hex'));
    dev.privateKey = toBase64(k);
    dev.publicKey = toBase64(publicKeyOf(k));
  }
  return dev;
}

const PEER_KEYS = new Set([
  'preshared_key', 'endpoint', 'persistent_keepalive_interval', 'last_handshake_time_sec', 'last_handshake_time_nsec',
  'rx_bytes', 'tx_bytes', 'protocol_version', 'allowed_ip',
]);
