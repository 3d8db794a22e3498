import { FabricError } from '../protocol/errors.js';

/**
 * The pure layout of a local fabric lab: every name and address it will create, derived from
 * a short unique tag so a test lab and a demo lab never collide. All names fit the 15-byte
 * interface limit; all link addresses are in 198.18.0.0/15 (reserved for benchmarking).
 */
export interface LabPlan {
  readonly tag: string;
  /** Host bridge joining every lab namespace, with the control plane's address. */
  readonly bridge: string;
  readonly subnet: string;
  readonly hostAddress: string;
  readonly serverUrl: string;
  readonly pool: { readonly name: string; readonly ipv4Prefix: string; readonly ipv6Prefix: string; readonly listenPort: number; readonly serverTunnelIp: string };
  readonly backends: readonly LabHost[];
  readonly clients: readonly LabHost[];
}

export interface LabHost {
  readonly name: string;
  readonly netns: string;
  /** Interface names: host side of the veth, namespace side, WireGuard device. */
  readonly vethHost: string;
  readonly vethNs: string;
  readonly wgIface: string;
  /** Address on the lab bridge segment, without prefix length. */
  readonly address: string;
}

export const LAB_PREFIX = 'wgl';
export const MAX_BACKENDS = 40;
export const MAX_CLIENTS = 150;

/**
 * @param tag 4 hex chars (unique per lab)
 * @param octet third octet of 198.18.<octet>.0/24 used for the lab segment (1..254)
 */
export function planLab(tag: string, octet: number, backends: number, clients: number): LabPlan {
  if (!/^[0-9a-f]{4}$/.test(tag)) throw new FabricError('WGF_ERR_VALIDATION', 'lab tag must be 4 hex characters');
  if (!Number.isInteger(octet) || octet < 1 || octet > 254) throw new FabricError('WGF_ERR_VALIDATION', 'lab subnet octet must be 1..254');
  if (!Number.isInteger(backends) || backends < 1 || backends > MAX_BACKENDS) {
    throw new FabricError('WGF_ERR_VALIDATION', `--backends must be 1..${MAX_BACKENDS}`);
  }
  if (!Number.isInteger(clients) || clients < 0 || clients > MAX_CLIENTS) {
    throw new FabricError('WGF_ERR_VALIDATION', `--clients must be 0..${MAX_CLIENTS}`);
  }
  const base = `198.18.${octet}`;
  const host = (role: 'b' | 'c', i: number, addr: string): LabHost => {
    const id = `${role}${i}`;
    return {
      name: role === 'b' ? `backend-${i}` : `client-${i}`,
      netns: `${LAB_PREFIX}${tag}${id}`,
      vethHost: `${LAB_PREFIX}${tag}${id}h`,
      vethNs: `${LAB_PREFIX}${tag}${id}n`,
      wgIface: `${LAB_PREFIX}${tag}${id}w`,
      address: addr,
    };
  };
  return {
    tag,
    bridge: `${LAB_PREFIX}${tag}br`,
    subnet: `${base}.0/24`,
    hostAddress: `${base}.1`,
    serverUrl: `http://${base}.1:7080`,
    pool: { name: 'lab', ipv4Prefix: '10.77.0.0/16', ipv6Prefix: 'fd77::/64', listenPort: 51820, serverTunnelIp: '10.77.0.1' },
    backends: Array.from({ length: backends }, (_, i) => host('b', i + 1, `${base}.${10 + i}`)),
    clients: Array.from({ length: clients }, (_, i) => host('c', i + 1, `${base}.${100 + i}`)),
  };
}
