import { UapiClient, type UapiClientOptions } from '../wg/uapi.js';
import type { UapiPeerUpdate } from '../wg/uapi-codec.js';
import type { DeviceConfig, DevicePeerState, DeviceState, WireGuardDevice } from './device.js';
import type { PeerOp } from './diff.js';

/**
 * The agent sends each batch as one set=1 operation, however big, as `wg setconf` does:
 * wireguard-go applies its lines as they arrive, so a bulk load streams without a pause. Cut
 * into 64 KiB operations (UapiClient's default), every cut waits a round trip for errno=0,
 * with wireguard-go idle meanwhile: about 170 waits at 65k peers, long ones on a busy machine
 * (bench/agent.ts measured 1.5x `wg setconf` under load that way). The operation is validated
 * whole first (nothing is sent when a field is bad), then built in chunks while wireguard-go
 * parses the ones already written (UapiClient.set). On a refusal wireguard-go answers errno and
 * hangs up on the rest; the answer is still read (uapi.test.ts).
 */
export const DEVICE_OPERATION_BYTES = Number.POSITIVE_INFINITY;

/**
 * WireGuardDevice over the cross-platform UAPI socket (wireguard-go, boringtun). Upserts use
 * replace_allowed_ips on an existing peer, which keeps its session; configure() only writes
 * what differs, because re-setting listen_port makes wireguard-go rebind its socket.
 */
export class UapiDeviceDriver implements WireGuardDevice {
  private readonly client: UapiClient;

  /**
   * @param opts operationBytes defaults to DEVICE_OPERATION_BYTES: each batch goes as ONE set
   *   operation, validated whole before its first byte is sent (UapiClient.set).
   */
  constructor(readonly name: string, opts: UapiClientOptions = {}) {
    this.client = new UapiClient(name, { operationBytes: DEVICE_OPERATION_BYTES, ...opts });
  }

  async configure(cfg: DeviceConfig): Promise<void> {
    // Key and port are in the interface part: no need to read every peer.
    const dev = await this.client.getInterface();
    const keyDiffers = dev.privateKey !== cfg.privateKey;
    const portDiffers = cfg.listenPort !== 0 && dev.listenPort !== cfg.listenPort;
    if (!keyDiffers && !portDiffers) return;
    await this.client.set({ ...(keyDiffers ? { privateKey: cfg.privateKey } : {}), ...(portDiffers ? { listenPort: cfg.listenPort } : {}) });
  }

  /** Reads the interface part only and hangs up before the peers. */
  async publicKey(): Promise<string | null> {
    return (await this.client.getInterface()).publicKey ?? null;
  }

  async state(): Promise<DeviceState> {
    // Each peer parsed straight into its state (allowed IPs sorted), keyed as it arrives.
    const dev = await this.client.getState();
    const peers: Map<string, DevicePeerState> = dev.peers;
    return { publicKey: dev.publicKey ?? null, listenPort: dev.listenPort, peers };
  }

  async apply(ops: readonly PeerOp[]): Promise<void> {
    if (ops.length === 0) return;
    await this.client.set({ peers: uapiUpdates(ops) });
  }
}

/**
 * A batch as the driver writes it: upserts replace the peer's allowed IPs; preshared_key is
 * written unless the peer is `added` without one (the all-zero key, null, removes one an
 * existing peer had; a peer the device did not have has none, and 65k such lines cost
 * wireguard-go about 0.08 s of a bulk load, timed by hand).
 */
export function uapiUpdates(ops: readonly PeerOp[]): UapiPeerUpdate[] {
  return ops.map((o) => (o.op === 'remove'
    ? { publicKey: o.publicKey, remove: true }
    : { publicKey: o.spec.publicKey, replaceAllowedIps: true, allowedIps: o.spec.allowedIps, presharedKey: o.spec.presharedKey ?? (o.added ? undefined : null) }));
}
