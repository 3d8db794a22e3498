import type { DevicePeerSpec } from './desired.js';
import type { PeerOp } from './diff.js';

/** Interface-level settings the agent owns. */
export interface DeviceConfig {
  /** Pool private key, base64. Never logged. */
  readonly privateKey: string;
  readonly listenPort: number;
}

/** A peer as the device reports it: the spec plus live counters. */
export interface DevicePeerState extends DevicePeerSpec {
  /** Unix ms of the last handshake, null if none. */
  readonly lastHandshakeMs: number | null;
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly endpoint: string | null;
}

/** What one read of a device returns: its key and every peer. */
export interface DeviceState {
  /** Derived from the device's private key; null when it has none (a fresh or restarted device). */
  readonly publicKey: string | null;
  /** The UDP port the device listens on (0 = none yet), so a restart can tell "already configured" from the same read. */
  readonly listenPort: number;
  /** Keyed by base64 public key. */
  readonly peers: Map<string, DevicePeerState>;
}

/**
 * One WireGuard device as the agent sees it. Drivers: `uapi` (wireguard-go, boringtun) and
 * `kernel` (wg(8)); all held to agent/device-contract.ts.
 */
export interface WireGuardDevice {
  readonly name: string;
  /** Sets private key and listen port without touching peers. Idempotent. */
  configure(cfg: DeviceConfig): Promise<void>;
  /**
   * Public key the device currently has (derived from its private key), null when unset. Cheap
   * whatever the number of peers: the agent calls it before every status report.
   */
  publicKey(): Promise<string | null>;
  /** The key and every peer, from ONE read of the device (a reconcile reads it once). */
  state(): Promise<DeviceState>;
  /**
   * Applies a batch as ONE set operation. `upsert` replaces the peer's allowed IPs and keeps
   * its session (no handshake is lost); `remove` of an absent peer is not an error.
   */
  apply(ops: readonly PeerOp[]): Promise<void>;
}
