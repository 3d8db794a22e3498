import { FabricError } from '../protocol/errors.js';
import { parseKey, publicKeyOf, toBase64 } from '../wg/keys.js';
import type { DeviceConfig, DevicePeerState, DeviceState, WireGuardDevice } from './device.js';
import type { PeerOp } from './diff.js';

/** In-memory device for fast tests; `down = true` makes every call fail like a vanished socket. */
export class FakeDevice implements WireGuardDevice {
  readonly peerStates = new Map<string, DevicePeerState>();
  /** Number of state() calls: each is one full read of a real device. */
  stateReads = 0;
  config: DeviceConfig | null = null;
  down = false;
  /** Number of apply() calls: each is one set operation on a real device. */
  setOperations = 0;

  constructor(readonly name = 'fake0') {}

  async configure(cfg: DeviceConfig): Promise<void> {
    this.check();
    this.config = cfg;
  }

  async publicKey(): Promise<string | null> {
    this.check();
    return this.config ? toBase64(publicKeyOf(parseKey(this.config.privateKey))) : null;
  }

  async state(): Promise<DeviceState> {
    this.check();
    this.stateReads++;
    return { publicKey: await this.publicKey(), listenPort: this.config?.listenPort ?? 0, peers: new Map(this.peerStates) };
  }

  async apply(ops: readonly PeerOp[]): Promise<void> {
    this.check();
    if (ops.length === 0) return;
    this.setOperations++;
    for (const o of ops) {
      if (o.op === 'remove') this.peerStates.delete(o.publicKey);
      else {
        const prev = this.peerStates.get(o.spec.publicKey);
        this.peerStates.set(o.spec.publicKey, {
          ...o.spec, lastHandshakeMs: prev?.lastHandshakeMs ?? null, rxBytes: prev?.rxBytes ?? 0, txBytes: prev?.txBytes ?? 0, endpoint: prev?.endpoint ?? null,
        });
      }
    }
  }

  private check(): void {
    if (this.down) throw new FabricError('WGF_ERR_DEVICE_UNAVAILABLE', `device ${this.name} is not reachable`);
  }
}
