import { FabricError } from '../protocol/errors.js';
import { isPrefix } from './addr.js';
import { publicKeyOf, toBase64 } from './keys.js';
import { MAX_RESPONSE_BYTES, checkErrno, type Device, type DevicePeer } from './uapi-codec.js';

/**
 * A get=1 answer parsed as its bytes arrive: each chunk is parsed at once, straight from the
 * bytes (keys decoded from hex without intermediate strings, numbers summed digit by digit),
 * so a device of 65k peers (22 MB, 720k lines) is parsed while it is still being received
 * and nothing is left to do once its last byte is in. Same result and same errors
 * (WGF_ERR_UAPI, with the line) as parseGetResponse over the whole text; uapi.test.ts holds
 * the two together on every chunking. Pure: the socket code feeds it.
 */
export class GetResponseParser {
  private readonly dev: Device = { listenPort: 0, fwmark: 0, peers: [] };
  private privateKey: Buffer | null = null;
  private peer: DevicePeer | PeerState | null = null;
  /** In state mode (see peerStates), the peers by public key as they are read; else null. */
  private readonly byKey: Map<string, PeerState> | null;
  private hsSec = 0;
  private hsNsec = 0;
  private errno: number | null = null;
  private line = 0;
  private size = 0;
  private complete = false;
  /** The start of a line cut by the end of the previous chunk. */
  private carry: Buffer | null = null;
  private readonly key = Buffer.alloc(32);

  /**
   * @param mode 'device' (result() lists DevicePeer objects) or 'state': each peer is read
   *   straight into its PeerState (endpoint null when absent, allowed IPs sorted) and keyed by
   *   public key as it ends, so a reader of the whole device (the agent) gets the map it needs
   *   without a second object per peer; result() then lists no peers (see peerStates).
   */
  constructor(private readonly maxBytes = MAX_RESPONSE_BYTES, mode: 'device' | 'state' = 'device') {
    this.byKey = mode === 'state' ? new Map() : null;
  }

  /** State mode: the peers read so far by base64 public key (complete once result() returned). */
  get peerStates(): Map<string, PeerState> {
    if (!this.byKey) throw new Error('GetResponseParser: peerStates needs state mode');
    return this.byKey;
  }

  get done(): boolean {
    return this.complete;
  }

  /** Bytes received so far. */
  get bytes(): number {
    return this.size;
  }

  /** Parses a chunk; true once the blank line that ends the answer was seen. Throws WGF_ERR_UAPI. */
  push(chunk: Buffer): boolean {
    if (this.complete) {
      if (chunk.length > 0) malformed(this.line + 1, 'data after the end of the response');
      return true;
    }
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      throw new FabricError('WGF_ERR_UAPI', `UAPI response is larger than ${this.maxBytes} bytes`, { bytes: this.size });
    }
    let buf = chunk;
    if (this.carry) {
      // Only the cut line is copied (with its end from this chunk); the rest is parsed in place.
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        this.carry = Buffer.concat([this.carry, chunk]);
        return false;
      }
      this.lines(Buffer.concat([this.carry, chunk.subarray(0, nl + 1)])); // exactly one line
      this.carry = null;
      buf = chunk.subarray(nl + 1);
      if (this.complete) {
        if (buf.length > 0) malformed(this.line + 1, 'data after the end of the response');
        return true;
      }
    }
    const used = this.lines(buf);
    if (this.complete) {
      if (used < buf.length) malformed(this.line + 1, 'data after the end of the response');
      return true;
    }
    if (used < buf.length) this.carry = Buffer.from(buf.subarray(used)); // a copy: the socket reuses its buffer
    return false;
  }

  /** The parsed device; throws when the answer was incomplete or refused (errno != 0). */
  result(): Device {
    if (!this.complete) {
      if (this.carry) {
        // A last line without its newline, as parseGetResponse reads a text ending there.
        const last = this.carry;
        this.carry = null;
        this.lines(Buffer.concat([last, Buffer.from('\n')]));
      }
      if (this.errno === null) malformed(this.line, 'the response ended without errno');
    }
    checkErrno(this.errno!);
    this.finishPeer();
    const dev = this.dev;
    if (this.privateKey && !isZero(this.privateKey)) {
      const k = new Uint8Array(this.privateKey);
      dev.privateKey = toBase64(k);
      dev.publicKey = toBase64(publicKeyOf(k));
    }
    return dev;
  }

  /** Parses the complete lines of `b`; returns the bytes used (the rest is a cut line). */
  private lines(b: Buffer): number {
    let pos = 0;
    const n = b.length;
    while (pos < n) {
      const nl = b.indexOf(0x0a, pos);
      if (nl < 0) return pos;
      const start = pos;
      pos = nl + 1;
      const line = ++this.line;
      if (nl === start) {
        if (this.errno === null) malformed(line, 'blank line before errno');
        this.complete = true;
        return pos;
      }
      let eq = start;
      while (eq < nl && b[eq] !== 0x3d) eq++;
      if (eq === start || eq === nl) malformed(line, 'expected key=value');
      if (this.errno !== null) malformed(line, 'a line after errno');
      this.field(b, start, eq, nl, line);
    }
    return pos;
  }

  private field(b: Buffer, start: number, eq: number, end: number, line: number): void {
    const v = eq + 1;
    switch (eq - start) {
      case 10:
        if (is(b, start, 'public_key')) {
          this.finishPeer();
          const publicKey = this.hexKey(b, v, end, line, 'public_key').toString('base64');
          this.peer = this.byKey
            ? { publicKey, allowedIps: [], lastHandshakeMs: null, rxBytes: 0, txBytes: 0, endpoint: null }
            : { publicKey, persistentKeepaliveInterval: 0, lastHandshakeMs: null, rxBytes: 0, txBytes: 0, allowedIps: [], protocolVersion: 1 };
          this.hsSec = 0;
          this.hsNsec = 0;
          return;
        }
        if (is(b, start, 'allowed_ip')) {
          const peer = this.inPeer(line, 'allowed_ip');
          const ip = b.toString('latin1', v, end);
          if (!isPrefix(ip)) malformed(line, 'allowed_ip is not an IP prefix');
          peer.allowedIps.push(ip);
          return;
        }
        break;
      case 13:
        if (is(b, start, 'preshared_key')) {
          const peer = this.inPeer(line, 'preshared_key');
          if (end - v === 64 && allZeroDigits(b, v, end)) return; // no preshared key: the usual line, not decoded
          const k = this.hexKey(b, v, end, line, 'preshared_key');
          if (!isZero(k)) peer.presharedKey = k.toString('base64');
          return;
        }
        break;
      case 16:
        if (is(b, start, 'protocol_version')) {
          const peer = this.inPeer(line, 'protocol_version');
          const n = num(b, v, end, line, 'protocol_version');
          if (!this.byKey) (peer as DevicePeer).protocolVersion = n; // not kept in state mode (still checked)
          return;
        }
        break;
      case 23:
        if (is(b, start, 'last_handshake_time_sec')) { this.inPeer(line, 'last_handshake_time_sec'); this.hsSec = num(b, v, end, line, 'last_handshake_time_sec'); return; }
        break;
      case 24:
        if (is(b, start, 'last_handshake_time_nsec')) { this.inPeer(line, 'last_handshake_time_nsec'); this.hsNsec = num(b, v, end, line, 'last_handshake_time_nsec'); return; }
        break;
      case 8:
        if (is(b, start, 'rx_bytes')) { this.inPeer(line, 'rx_bytes').rxBytes = num(b, v, end, line, 'rx_bytes'); return; }
        if (is(b, start, 'tx_bytes')) { this.inPeer(line, 'tx_bytes').txBytes = num(b, v, end, line, 'tx_bytes'); return; }
        if (is(b, start, 'endpoint')) {
          const peer = this.inPeer(line, 'endpoint');
          if (v === end) malformed(line, 'empty endpoint');
          peer.endpoint = b.toString('latin1', v, end);
          return;
        }
        break;
      case 29:
        if (is(b, start, 'persistent_keepalive_interval')) {
          const peer = this.inPeer(line, 'persistent_keepalive_interval');
          const n = num(b, v, end, line, 'persistent_keepalive_interval');
          if (!this.byKey) (peer as DevicePeer).persistentKeepaliveInterval = n; // not kept in state mode (still checked)
          return;
        }
        break;
      case 11:
        if (is(b, start, 'private_key')) { this.privateKey = Buffer.from(this.hexKey(b, v, end, line, 'private_key')); return; }
        if (is(b, start, 'listen_port')) { this.dev.listenPort = num(b, v, end, line, 'listen_port'); return; }
        break;
      case 6:
        if (is(b, start, 'fwmark')) { this.dev.fwmark = num(b, v, end, line, 'fwmark'); return; }
        break;
      case 5:
        if (is(b, start, 'errno')) {
          const s = b.toString('latin1', v, end);
          if (!ERRNO_RE.test(s)) malformed(line, 'errno is not a number');
          this.errno = Number(s);
          return;
        }
        break;
    }
    // Any other key: forward compatible, ignored.
  }

  private inPeer(line: number, key: string): DevicePeer | PeerState {
    if (!this.peer) malformed(line, `${key} before any public_key`);
    return this.peer;
  }

  private finishPeer(): void {
    const peer = this.peer;
    if (!peer) return;
    peer.lastHandshakeMs = this.hsSec === 0 && this.hsNsec === 0 ? null : this.hsSec * 1000 + Math.floor(this.hsNsec / 1e6);
    this.peer = null;
    if (!this.byKey) {
      this.dev.peers.push(peer as DevicePeer);
      return;
    }
    // Sorted in place, and only when out of order (wireguard-go prints them in trie order).
    const ips = peer.allowedIps;
    for (let i = 1; i < ips.length; i++) {
      if (ips[i - 1]! > ips[i]!) {
        ips.sort();
        break;
      }
    }
    this.byKey.set(peer.publicKey, peer as PeerState);
  }

  /** 64 hex digits into the shared 32-byte buffer (valid until the next key). */
  private hexKey(b: Buffer, from: number, to: number, line: number, what: string): Buffer {
    if (to - from !== 64) malformed(line, `${what} is not 64 hex digits`);
    const k = this.key;
    for (let i = 0; i < 32; i++) {
      const hi = HEX[b[from + 2 * i]!]!;
      const lo = HEX[b[from + 2 * i + 1]!]!;
      if ((hi | lo) > 15) malformed(line, `${what} is not 64 hex digits`);
      k[i] = (hi << 4) | lo;
    }
    return k;
  }
}

/**
 * One peer read in state mode: what an agent keeps of a device peer (its spec and counters).
 * Keys are base64; the preshared key is present only when the device holds one.
 */
export interface PeerState {
  readonly publicKey: string;
  allowedIps: string[];
  presharedKey?: string;
  lastHandshakeMs: number | null;
  rxBytes: number;
  txBytes: number;
  endpoint: string | null;
}

const ERRNO_RE = /^-?[0-9]{1,10}$/;

/** Hex digit values by byte; 255 for anything else. */
const HEX = new Uint8Array(256).fill(255);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

function malformed(line: number, reason: string): never {
  throw new FabricError('WGF_ERR_UAPI', `malformed UAPI response, line ${line}: ${reason}`, { line });
}

/** Whether `b` holds the ASCII `word` at `at` (the caller checked the length). */
function is(b: Buffer, at: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if (b[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

/** An unsigned decimal of 1..20 digits, as parseGetResponse reads it. */
function num(b: Buffer, from: number, to: number, line: number, what: string): number {
  const len = to - from;
  if (len < 1 || len > 20) malformed(line, `${what} is not an unsigned number`);
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) malformed(line, `${what} is not an unsigned number`);
    n = n * 10 + d;
  }
  // Past 2^53 the digit sum may round differently from Number(text): take Number's reading.
  return len > 15 ? Number(b.toString('latin1', from, to)) : n;
}

/** Whether b[from..to) is all ASCII '0'. */
function allZeroDigits(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0x30) return false;
  return true;
}

function isZero(k: Uint8Array): boolean {
  for (let i = 0; i < k.length; i++) if (k[i] !== 0) return false;
  return true;
}
