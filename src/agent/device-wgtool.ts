import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../sys/exec.js';
import { parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import type { DeviceConfig, DevicePeerState, DeviceState, WireGuardDevice } from './device.js';
import type { PeerOp } from './diff.js';

/** Peers per `wg set` invocation, to stay far below the kernel's argument-size limit. */
const PEERS_PER_CALL = 1000;

/**
 * WireGuardDevice through wg(8): the driver for kernel WireGuard (wg speaks netlink to the
 * module). wg(8) also talks to userspace devices through their UAPI socket, which is how this
 * driver is held to the device contract on hosts without the module. The private key goes
 * through a 0600 file in a private directory, never argv.
 */
export class WgToolDeviceDriver implements WireGuardDevice {
  constructor(readonly name: string, private readonly netns?: string) {}

  private wg(args: string[], input?: string) {
    return run('wg', args, { errorCode: 'WGF_ERR_UAPI', ...(this.netns ? { netns: this.netns } : {}), ...(input !== undefined ? { input } : {}) });
  }

  async configure(cfg: DeviceConfig): Promise<void> {
    const { stdout } = await this.wg(['show', this.name, 'dump']);
    const [priv, , port] = (stdout.split('\n')[0] ?? '').split('\t');
    const args = ['set', this.name];
    if (cfg.listenPort !== 0 && Number(port) !== cfg.listenPort) args.push('listen-port', String(cfg.listenPort));
    if (priv === cfg.privateKey) {
      if (args.length > 2) await this.wg(args);
      return;
    }
    // wg(8) reads keys from a file only; a private 0700 directory keeps it from other users.
    const dir = await mkdtemp(join(tmpdir(), 'wgf-key-'));
    try {
      const file = join(dir, 'key');
      await writeFile(file, cfg.privateKey + '\n', { mode: 0o600 });
      await this.wg([...args, 'private-key', file]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async publicKey(): Promise<string | null> {
    const { stdout } = await this.wg(['show', this.name, 'private-key']);
    const text = stdout.trim();
    return text === '(none)' || text === '' ? null : toBase64(publicKeyOf(parseKey(text)));
  }

  /** One `wg show dump`: its first line is the interface (private key, public key, port, fwmark), then one line per peer. */
  async state(): Promise<DeviceState> {
    const { stdout } = await this.wg(['show', this.name, 'dump']);
    const lines = stdout.split('\n');
    const [, publicKey, port] = (lines[0] ?? '').split('\t');
    const out = new Map<string, DevicePeerState>();
    for (const line of lines.slice(1)) {
      const f = line.split('\t');
      if (f.length < 8) continue;
      const [publicKey, psk, endpoint, ips, hs, rx, tx] = f as [string, string, string, string, string, string, string];
      out.set(publicKey, {
        ...(psk !== '(none)' && psk !== '' ? { presharedKey: psk } : {}),
        publicKey, allowedIps: ips === '(none)' ? [] : ips.split(',').sort(), endpoint: endpoint === '(none)' ? null : endpoint,
        lastHandshakeMs: hs === '0' ? null : Number(hs) * 1000, rxBytes: Number(rx), txBytes: Number(tx),
      });
    }
    return { publicKey: publicKey === undefined || publicKey === '(none)' || publicKey === '' ? null : publicKey, listenPort: Number(port) || 0, peers: out };
  }

  async apply(ops: readonly PeerOp[]): Promise<void> {
    if (ops.length === 0) return;
    // wg(8) reads preshared keys from files only (never argv): one 0600 file per key in a
    // private 0700 directory; /dev/null removes a key the peer had.
    const withPsk = ops.some((o) => o.op === 'upsert' && o.spec.presharedKey !== undefined);
    const dir = withPsk ? await mkdtemp(join(tmpdir(), 'wgf-psk-')) : null;
    try {
      for (let i = 0; i < ops.length; i += PEERS_PER_CALL) {
        const args = ['set', this.name];
        for (const [j, o] of ops.slice(i, i + PEERS_PER_CALL).entries()) {
          if (o.op === 'remove') {
            args.push('peer', o.publicKey, 'remove');
            continue;
          }
          let psk = '/dev/null';
          if (o.spec.presharedKey !== undefined) {
            psk = join(dir!, `psk-${i + j}`);
            await writeFile(psk, o.spec.presharedKey + '\n', { mode: 0o600 });
          }
          args.push('peer', o.spec.publicKey, 'preshared-key', psk, 'allowed-ips', o.spec.allowedIps.join(','));
        }
        await this.wg(args);
      }
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }
}
