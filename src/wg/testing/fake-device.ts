import { createServer, type Server, type Socket } from 'node:net';
import { normalizeCidr } from '../addr.js';
import { publicKeyOf } from '../keys.js';
import type { Device, DevicePeer } from '../uapi-codec.js';

/**
 * An in-memory stand-in for a wireguard-go device, speaking UAPI over a real Unix socket, for
 * tests of code that drives a device (no root, no TUN). It follows wireguard-go's observable
 * behaviour closely enough for clients: lines are applied one by one until the first bad one
 * (no rollback), errno values are wireguard-go's (-22 EINVAL, -71 EPROTO), an unknown
 * operation closes the connection, a peer with the device's own public key is ignored, and
 * an allowed IP belongs to one peer only.
 */
export class FakeDevice {
  privateKey: string | undefined;
  listenPort = 0;
  fwmark = 0;
  readonly peers = new Map<string, DevicePeer>(); // by hex public key
  private readonly owner = new Map<string, DevicePeer>(); // allowed IP -> peer
  /** Every operation line received (`get=1`, `set=1`), for assertions. */
  readonly ops: string[] = [];
  /** When set, responses are written in slices of this many bytes (exercises framing). */
  chunkSize = 0;
  /** When set, the device accepts connections but never answers. */
  hang = false;
  /** When set and it returns an errno for a set line, the device refuses that line with it. */
  refuseLine: ((line: string) => number | undefined) | undefined;
  /** When set, each answer is written this many ms after its request arrived. */
  answerDelayMs = 0;
  /** The most requests that were waiting for their answer at the same time (1 for a serial client). */
  maxPendingRequests = 0;
  private pending = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  /** Renders the state as a get=1 response, the way wireguard-go prints it. */
  renderGet(): string {
    const out: string[] = [];
    if (this.privateKey) out.push(`private_key=${this.privateKey}`);
    if (this.listenPort) out.push(`listen_port=${this.listenPort}`);
    if (this.fwmark) out.push(`fwmark=${this.fwmark}`);
    for (const [hex, p] of this.peers) out.push(...renderPeer(hex, p));
    out.push('errno=0', '', '');
    return out.join('\n');
  }

  /** Applies the lines of one set operation; returns errno (0, -22 or -71). */
  applySet(lines: readonly string[]): number {
    let peer: DevicePeer | undefined;
    let dummy = false;
    let created = false;
    for (const line of lines) {
      const refused = this.refuseLine?.(line);
      if (refused !== undefined) return refused;
      const eq = line.indexOf('=');
      if (eq < 0) return -71;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      if (key === 'public_key') {
        if (!/^[0-9a-f]{64}$/.test(value)) return -22;
        dummy = value === this.publicHex();
        if (dummy) {
          peer = { publicKey: '', persistentKeepaliveInterval: 0, lastHandshakeMs: null, rxBytes: 0, txBytes: 0, allowedIps: [], protocolVersion: 1 };
          continue;
        }
        const existing = this.peers.get(value);
        created = !existing;
        peer = existing ?? { publicKey: Buffer.from(value, 'hex').toString('base64'), persistentKeepaliveInterval: 0, lastHandshakeMs: null, rxBytes: 0, txBytes: 0, allowedIps: [], protocolVersion: 1 };
        this.peers.set(value, peer);
        continue;
      }
      if (!peer) {
        const errno = this.deviceLine(key, value);
        if (errno !== 0) return errno;
        continue;
      }
      const hex = Buffer.from(peer.publicKey, 'base64').toString('hex');
      switch (key) {
        case 'update_only': if (value !== 'true') return -22; if (created && !dummy) { this.removePeer(hex); dummy = true; } break;
        case 'remove': if (value !== 'true') return -22; if (!dummy) this.removePeer(hex); dummy = true; break;
        case 'preshared_key':
          if (!/^[0-9a-f]{64}$/.test(value)) return -22;
          if (value === '0'.repeat(64)) delete peer.presharedKey;
          else peer.presharedKey = Buffer.from(value, 'hex').toString('base64');
          break;
        case 'endpoint': if (!/^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):\d+$/i.test(value)) return -22; peer.endpoint = value; break;
        case 'persistent_keepalive_interval': if (!/^\d+$/.test(value) || Number(value) > 65535) return -22; peer.persistentKeepaliveInterval = Number(value); break;
        case 'replace_allowed_ips':
          if (value !== 'true') return -22;
          if (!dummy) {
            for (const c of peer.allowedIps) this.owner.delete(c);
            peer.allowedIps = [];
          }
          break;
        case 'allowed_ip': {
          const norm = value.includes('/') ? normalizeCidr(value) : null;
          if (!norm) return -22;
          if (dummy) break;
          const prev = this.owner.get(norm);
          if (prev === peer) break;
          if (prev) prev.allowedIps = prev.allowedIps.filter((c) => c !== norm);
          this.owner.set(norm, peer);
          peer.allowedIps.push(norm);
          break;
        }
        case 'protocol_version': if (value !== '1') return -22; break;
        default: return -22;
      }
    }
    return 0;
  }

  private removePeer(hex: string): void {
    const p = this.peers.get(hex);
    if (!p) return;
    for (const c of p.allowedIps) this.owner.delete(c);
    this.peers.delete(hex);
  }

  private ownPublicHex: string | undefined;

  private publicHex(): string | undefined {
    if (!this.privateKey) return undefined;
    this.ownPublicHex ??= Buffer.from(publicKeyOf(new Uint8Array(Buffer.from(this.privateKey, 'hex')))).toString('hex');
    return this.ownPublicHex;
  }

  private deviceLine(key: string, value: string): number {
    switch (key) {
      case 'private_key':
        if (!/^[0-9a-f]{64}$/.test(value)) return -22;
        this.privateKey = value === '0'.repeat(64) ? undefined : value;
        this.ownPublicHex = undefined;
        return 0;
      case 'listen_port': if (!/^\d+$/.test(value) || Number(value) > 65535) return -22; this.listenPort = Number(value); return 0;
      case 'fwmark': if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) return -22; this.fwmark = Number(value); return 0;
      case 'replace_peers': if (value !== 'true') return -22; this.peers.clear(); this.owner.clear(); return 0;
      default: return -22;
    }
  }

  /** Serves UAPI on `path` until close(). */
  async listen(path: string): Promise<void> {
    this.server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(path, () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    let buf = '';
    let op: string | undefined;
    let lines: string[] = [];
    sock.on('data', (chunk: Buffer) => {
      if (this.hang) return;
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0 && !sock.destroyed; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (op === undefined) {
          if (line !== 'get=1' && line !== 'set=1') { sock.destroy(); return; }
          op = line;
          this.ops.push(line);
          continue;
        }
        if (op === 'get=1') {
          op = undefined;
          this.write(sock, line === '' ? this.renderGet() : 'errno=-22\n\n');
          continue;
        }
        if (line !== '') { lines.push(line); continue; }
        const errno = this.applySet(lines);
        op = undefined;
        lines = [];
        this.write(sock, `errno=${errno}\n\n`);
      }
    });
  }

  private write(sock: Socket, text: string): void {
    this.pending++;
    this.maxPendingRequests = Math.max(this.maxPendingRequests, this.pending);
    if (this.answerDelayMs > 0) {
      setTimeout(() => this.writeNow(sock, text), this.answerDelayMs);
      return;
    }
    this.writeNow(sock, text);
  }

  private writeNow(sock: Socket, text: string): void {
    this.pending--;
    if (sock.destroyed) return;
    if (this.chunkSize <= 0) {
      sock.write(text);
      return;
    }
    for (let i = 0; i < text.length; i += this.chunkSize) sock.write(text.slice(i, i + this.chunkSize));
  }

  /** The state as the codec's Device model would describe it (for comparisons). */
  snapshotPeers(): DevicePeer[] {
    return [...this.peers.values()].map((p) => ({ ...p, allowedIps: [...p.allowedIps] }));
  }
}

/** The get=1 lines of one peer, in wireguard-go's order. */
export function renderPeer(hex: string, p: DevicePeer): string[] {
  const psk = p.presharedKey ? Buffer.from(p.presharedKey, 'base64').toString('hex') : '0'.repeat(64);
  const hs = p.lastHandshakeMs ?? 0;
  return [
    `public_key=${hex}`, `preshared_key=${psk}`, `protocol_version=${p.protocolVersion}`,
    ...(p.endpoint ? [`endpoint=${p.endpoint}`] : []),
    `last_handshake_time_sec=${Math.floor(hs / 1000)}`, `last_handshake_time_nsec=${(hs % 1000) * 1e6}`,
    `tx_bytes=${p.txBytes}`, `rx_bytes=${p.rxBytes}`, `persistent_keepalive_interval=${p.persistentKeepaliveInterval}`,
    ...p.allowedIps.map((c) => `allowed_ip=${c}`),
  ];
}

/** A get=1 response for `dev`, as wireguard-go would print it (for codec tests). */
export function renderDevice(dev: Device, privateHex?: string): string {
  const out: string[] = [];
  if (privateHex) out.push(`private_key=${privateHex}`);
  if (dev.listenPort) out.push(`listen_port=${dev.listenPort}`);
  if (dev.fwmark) out.push(`fwmark=${dev.fwmark}`);
  for (const p of dev.peers) out.push(...renderPeer(Buffer.from(p.publicKey, 'base64').toString('hex'), p));
  out.push('errno=0', '', '');
  return out.join('\n');
}
