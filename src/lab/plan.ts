import { FabricError } from '../protocol/errors.js';
import type { LabControlPlanes } from './plan-cp.js';
import { planReturnRouter } from './dsr.js';

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
  /** Present when the lab runs load balancers in front of the backends (clients then sit on their own bridge). */
  readonly lb?: LabLbTier;
  /** Present with `--store etcd`: etcd members and server replicas (plan-cp.ts); serverUrl is the first replica's. */
  readonly controlPlanes?: LabControlPlanes;
  /** Present with `lab up --anycast` (see src/lab/anycast.ts): clients sit behind a BGP router. */
  readonly anycast?: import('./anycast.js').LabAnycast;
}

/**
 * The load-balancer tier of a lab. Clients sit on their own bridge and reach the pool through
 * one VIP.
 * - One instance: the LB namespace owns the clients' gateway (.1) and the VIP on its client leg;
 *   replies return through it (`via-lb`: backends route the client subnet via the LB, and see
 *   real client addresses).
 * - Two or more instances: a router namespace owns the clients' gateway and spreads flows to
 *   the VIP over the LBs with an ECMP route (L4 hash), the way a data-centre router in front of
 *   an LB tier (or anycast) would. Each LB has a leg on a transit bridge towards the router.
 *   Because the router may move a flow to another LB at any time (an LB fails, a route is
 *   withdrawn), replies must come back through whichever LB now forwards the flow: the tier
 *   uses the `snat` return path (see src/lb/nft.ts), so backends answer the LB's own address.
 */
export interface LabLbTier {
  readonly clientBridge: string;
  readonly clientSubnet: string;
  /** The clients' default gateway: the LB (one instance) or the router. */
  readonly gateway: string;
  readonly vip: string;
  readonly returnPath: 'via-lb' | 'snat' | 'dsr';
  readonly instances: readonly LabLb[];
  /** Present with returnPath 'dsr' (one instance): the router backends answer clients through (src/lab/dsr.ts). */
  readonly returnRouter?: LabReturnRouter;
  /** Present with two or more instances. */
  readonly router?: LabRouter;
  /** 'bgp' (`lab up --anycast --lb`): the instances announce the VIP to the router's bird (anycast-lb.ts) instead of static ECMP. */
  readonly announce?: 'bgp';
}

/** One LB instance: a namespace with a leg on the backend bridge and one towards the clients. */
export interface LabLb {
  /** `lb-<i>`; also names its log, key and process in the lab state. */
  readonly name: string;
  /** `--instance` of `wgfabric lb run` (names its probe peer lbprobe-<instance>). */
  readonly instance: string;
  readonly netns: string;
  /** Leg on the backend bridge: host side, namespace side, address (no prefix length). */
  readonly vethHost: string;
  readonly vethNs: string;
  readonly address: string;
  /** Leg towards the clients: on the client bridge (one instance) or the transit bridge (router). */
  readonly clientVethHost: string;
  readonly clientVethNs: string;
  readonly frontAddress: string;
  /** The LB's /status and /metrics, on its backend-bridge address. */
  readonly statusUrl: string;
  readonly listen: string;
}

/** The ECMP router in front of two or more LB instances. */
export interface LabRouter {
  readonly netns: string;
  /** Leg on the client bridge, with the clients' gateway address. */
  readonly clientVethHost: string;
  readonly clientVethNs: string;
  /** Leg on the transit bridge towards the LBs. */
  readonly transitVethHost: string;
  readonly transitVethNs: string;
  readonly transitBridge: string;
  readonly transitSubnet: string;
  readonly transitAddress: string;
}

/** With direct server return: a router between the backend bridge and the client bridge. */
export interface LabReturnRouter {
  readonly netns: string;
  /** Leg on the backend (lab) bridge. */
  readonly vethHost: string;
  readonly vethNs: string;
  readonly address: string;
  /** Leg on the client bridge. */
  readonly clientVethHost: string;
  readonly clientVethNs: string;
  readonly clientAddress: string;
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
export const MAX_LBS = 4;

/** Options of the LB tier of planLab. */
export interface LabLbOptions {
  /** Third octet of the client bridge's 198.18.<octet>.0/24. */
  readonly clientOctet: number;
  /** LB instances (default 1); two or more add the ECMP router. */
  readonly instances?: number;
  /** Third octet of the transit segment between router and LBs (needed with two or more instances). */
  readonly transitOctet?: number;
  /** 'dsr': direct server return (one instance; backends answer through a return router, src/lab/dsr.ts). */
  readonly returnPath?: 'dsr';
}

/**
 * @param tag 4 hex chars (unique per lab)
 * @param octet third octet of 198.18.<octet>.0/24 used for the lab segment (1..254)
 * @param scheme of plan.serverUrl: the lab's control plane serves HTTPS unless told otherwise
 */
export function planLab(tag: string, octet: number, backends: number, clients: number, lb?: LabLbOptions, scheme: 'http' | 'https' = 'https'): LabPlan {
  if (!/^[0-9a-f]{4}$/.test(tag)) throw new FabricError('WGF_ERR_VALIDATION', 'lab tag must be 4 hex characters');
  if (!Number.isInteger(octet) || octet < 1 || octet > 254) throw new FabricError('WGF_ERR_VALIDATION', 'lab subnet octet must be 1..254');
  if (!Number.isInteger(backends) || backends < 1 || backends > MAX_BACKENDS) {
    throw new FabricError('WGF_ERR_VALIDATION', `--backends must be 1..${MAX_BACKENDS}`);
  }
  if (!Number.isInteger(clients) || clients < 0 || clients > MAX_CLIENTS) {
    throw new FabricError('WGF_ERR_VALIDATION', `--clients must be 0..${MAX_CLIENTS}`);
  }
  const octetOk = (o: number | undefined): boolean => Number.isInteger(o) && o! >= 1 && o! <= 254 && o !== octet;
  if (lb && !octetOk(lb.clientOctet)) {
    throw new FabricError('WGF_ERR_VALIDATION', 'lab client subnet octet must be 1..254 and differ from the lab segment');
  }
  const lbCount = lb?.instances ?? 1;
  if (!Number.isInteger(lbCount) || lbCount < 1 || lbCount > MAX_LBS) throw new FabricError('WGF_ERR_VALIDATION', `--lb-instances must be 1..${MAX_LBS}`);
  if (lb && lbCount > 1 && !(octetOk(lb.transitOctet) && lb.transitOctet !== lb.clientOctet)) {
    throw new FabricError('WGF_ERR_VALIDATION', 'two or more LB instances need a transit segment octet (1..254) distinct from the other segments');
  }
  if (lb?.returnPath === 'dsr' && lbCount > 1) throw new FabricError('WGF_ERR_VALIDATION', 'the lab\'s direct server return tier has one LB instance', { field: 'lbInstances' });
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
  const labLb = lb === undefined ? undefined : planLbTier(tag, base, lb, lbCount);
  const clientHost = (i: number): LabHost => (labLb === undefined
    ? host('c', i, `${base}.${100 + i - 1}`)
    : { ...host('c', i, `198.18.${lb!.clientOctet}.${100 + i - 1}`), bridge: labLb.clientBridge, gateway: labLb.gateway, listenPort: 40000 + i });
  return {
    tag,
    bridge: `${LAB_PREFIX}${tag}br`,
    subnet: `${base}.0/24`,
    hostAddress: `${base}.1`,
    serverUrl: `${scheme}://${base}.1:7080`,
    pool: { name: 'lab', ipv4Prefix: '10.77.0.0/16', ipv6Prefix: 'fd77::/64', listenPort: 51820, serverTunnelIp: '10.77.0.1' },
    backends: Array.from({ length: backends }, (_, i) => host('b', i + 1, `${base}.${10 + i}`)),
    clients: Array.from({ length: clients }, (_, i) => clientHost(i + 1)),
    ...(labLb ? { lb: labLb } : {}),
  };
}

/** The LB tier's names and addresses (see LabLbTier). */
function planLbTier(tag: string, base: string, o: LabLbOptions, count: number): LabLbTier {
  const cbase = `198.18.${o.clientOctet}`;
  const tbase = `198.18.${o.transitOctet ?? 0}`;
  const n = (suffix: string): string => `${LAB_PREFIX}${tag}${suffix}`;
  const routed = count > 1;
  const instances = Array.from({ length: count }, (_, k): LabLb => {
    const i = k + 1;
    const address = `${base}.${4 + i}`;
    return {
      name: `lb-${i}`, instance: `lab${tag}-${i}`, netns: n(`l${i}`), vethHost: n(`l${i}h`), vethNs: n(`l${i}n`), address,
      clientVethHost: n(`l${i}ch`), clientVethNs: n(`l${i}cn`), frontAddress: routed ? `${tbase}.${10 + i}` : `${cbase}.1`,
      statusUrl: `http://${address}:7090`, listen: `${address}:7090`,
    };
  });
  return {
    clientBridge: n('cb'), clientSubnet: `${cbase}.0/24`, gateway: `${cbase}.1`,
    // Behind the router the VIP is assigned to no interface: the router's /32 ECMP route sends it
    // to the LBs (as anycast would), and each LB DNATs it in prerouting.
    vip: routed ? `198.18.${o.transitOctet}.2` : `${cbase}.2`,
    returnPath: o.returnPath === 'dsr' ? 'dsr' : routed ? 'snat' : 'via-lb',
    instances,
    ...(o.returnPath === 'dsr' ? { returnRouter: planReturnRouter(n, base, cbase) } : {}),
    ...(routed ? {
      router: {
        netns: n('rt'), clientVethHost: n('rtch'), clientVethNs: n('rtcn'), transitVethHost: n('rtth'), transitVethNs: n('rttn'),
        transitBridge: n('tb'), transitSubnet: `${tbase}.0/24`, transitAddress: `${tbase}.1`,
      },
    } : {}),
  };
}
