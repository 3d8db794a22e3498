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
  /** Present when the lab runs a load balancer in front of the backends (clients then sit on its client bridge). */
  readonly lb?: LabLb;
}

/**
 * The load balancer of a lab: a namespace with one leg on the backend bridge and one on a
 * separate client bridge, where it owns the client gateway (.1) and the VIP.
 */
export interface LabLb {
  readonly netns: string;
  /** Leg on the backend bridge: host side, namespace side, address (no prefix length). */
  readonly vethHost: string;
  readonly vethNs: string;
  readonly address: string;
  /** Leg on the client bridge. */
  readonly clientVethHost: string;
  readonly clientVethNs: string;
  readonly clientBridge: string;
  readonly clientSubnet: string;
  /** The LB's address on the client bridge: the clients' gateway. */
  readonly gateway: string;
  readonly vip: string;
  /** The LB's /status and /metrics, on its backend-bridge address. */
  readonly statusUrl: string;
  readonly listen: string;
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
  /** The bridge this host attaches to when not the lab bridge (clients behind a load balancer). */
  readonly bridge?: string;
  /** Default gateway of this host (clients behind a load balancer). */
  readonly gateway?: string;
  /** Fixed WireGuard listen port (clients behind a load balancer, so their flow hash is predictable). */
  readonly listenPort?: number;
}

export const LAB_PREFIX = 'wgl';
export const MAX_BACKENDS = 40;
export const MAX_CLIENTS = 150;

/**
 * @param tag 4 hex chars (unique per lab)
 * @param octet third octet of 198.18.<octet>.0/24 used for the lab segment (1..254)
 */
export function planLab(tag: string, octet: number, backends: number, clients: number, lb?: { readonly clientOctet: number }): LabPlan {
  if (!/^[0-9a-f]{4}$/.test(tag)) throw new FabricError('WGF_ERR_VALIDATION', 'lab tag must be 4 hex characters');
  if (!Number.isInteger(octet) || octet < 1 || octet > 254) throw new FabricError('WGF_ERR_VALIDATION', 'lab subnet octet must be 1..254');
  if (!Number.isInteger(backends) || backends < 1 || backends > MAX_BACKENDS) {
    throw new FabricError('WGF_ERR_VALIDATION', `--backends must be 1..${MAX_BACKENDS}`);
  }
  if (!Number.isInteger(clients) || clients < 0 || clients > MAX_CLIENTS) {
    throw new FabricError('WGF_ERR_VALIDATION', `--clients must be 0..${MAX_CLIENTS}`);
  }
  if (lb && (!Number.isInteger(lb.clientOctet) || lb.clientOctet < 1 || lb.clientOctet > 254 || lb.clientOctet === octet)) {
    throw new FabricError('WGF_ERR_VALIDATION', 'lab client subnet octet must be 1..254 and differ from the lab segment');
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
  const cbase = lb ? `198.18.${lb.clientOctet}` : undefined;
  const labLb: LabLb | undefined = cbase === undefined ? undefined : {
    netns: `${LAB_PREFIX}${tag}lb`,
    vethHost: `${LAB_PREFIX}${tag}lbh`,
    vethNs: `${LAB_PREFIX}${tag}lbn`,
    address: `${base}.5`,
    clientVethHost: `${LAB_PREFIX}${tag}lch`,
    clientVethNs: `${LAB_PREFIX}${tag}lcn`,
    clientBridge: `${LAB_PREFIX}${tag}cb`,
    clientSubnet: `${cbase}.0/24`,
    gateway: `${cbase}.1`,
    vip: `${cbase}.2`,
    statusUrl: `http://${base}.5:7090`,
    listen: `${base}.5:7090`,
  };
  const clientHost = (i: number): LabHost => (labLb === undefined
    ? host('c', i, `${base}.${100 + i - 1}`)
    : { ...host('c', i, `${cbase}.${100 + i - 1}`), bridge: labLb.clientBridge, gateway: labLb.gateway, listenPort: 40000 + i });
  return {
    tag,
    bridge: `${LAB_PREFIX}${tag}br`,
    subnet: `${base}.0/24`,
    hostAddress: `${base}.1`,
    serverUrl: `http://${base}.1:7080`,
    pool: { name: 'lab', ipv4Prefix: '10.77.0.0/16', ipv6Prefix: 'fd77::/64', listenPort: 51820, serverTunnelIp: '10.77.0.1' },
    backends: Array.from({ length: backends }, (_, i) => host('b', i + 1, `${base}.${10 + i}`)),
    clients: Array.from({ length: clients }, (_, i) => clientHost(i + 1)),
    ...(labLb ? { lb: labLb } : {}),
  };
}
