import { FabricError } from '../protocol/errors.js';
import { LAB_PREFIX } from './plan.js';

/**
 * The lab's highly available control plane (`lab up --store etcd --control-planes N`): N etcd
 * members, each in a namespace of its own on the lab bridge (a "machine" that can be killed or
 * cut off), and N `wgfabric server` replicas on the host, one port each, all on that cluster.
 * Pure: names and addresses only.
 */
export interface LabControlPlanes {
  readonly store: 'etcd';
  readonly members: readonly LabEtcdMember[];
  readonly replicas: readonly LabReplica[];
  /** The fabric's key prefix in etcd (the driver's default). */
  readonly prefix: string;
}

/** One etcd member: a namespace with a leg on the lab bridge. */
export interface LabEtcdMember {
  /** `etcd-<i>`; names its process, log and data dir in the lab state. */
  readonly name: string;
  /** `--name` of the member in the cluster (carries the lab tag). */
  readonly memberName: string;
  readonly netns: string;
  readonly vethHost: string;
  readonly vethNs: string;
  readonly address: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
}

/** One control-plane replica (`wgfabric server --store etcd`) on the host. */
export interface LabReplica {
  /** `server-<i>`; names its process, log and data dir. */
  readonly name: string;
  readonly listen: string;
  readonly url: string;
}

export const MAX_CONTROL_PLANES = 5;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

/**
 * @param base the lab segment's first three octets ("198.18.7"); members take .61.. (free of
 *   the host .1, LBs .5.., backends .10.., clients .100..)
 * @param hostAddress where the replicas listen (the lab CA's certificate names it)
 */
export function planControlPlanes(tag: string, base: string, hostAddress: string, count: number, scheme: 'http' | 'https'): LabControlPlanes {
  if (!Number.isInteger(count) || count < 1 || count > MAX_CONTROL_PLANES) {
    throw new FabricError('WGF_ERR_VALIDATION', `--control-planes must be 1..${MAX_CONTROL_PLANES}`, { field: 'controlPlanes' });
  }
  const n = (suffix: string): string => `${LAB_PREFIX}${tag}${suffix}`;
  return {
    store: 'etcd',
    prefix: 'wgfabric/',
    members: Array.from({ length: count }, (_, k): LabEtcdMember => {
      const i = k + 1;
      const address = `${base}.${60 + i}`;
      return {
        name: `etcd-${i}`, memberName: n(`-etcd-${i}`), netns: n(`e${i}`), vethHost: n(`e${i}h`), vethNs: n(`e${i}n`), address,
        clientUrl: `http://${address}:${ETCD_CLIENT_PORT}`, peerUrl: `http://${address}:${ETCD_PEER_PORT}`,
      };
    }),
    replicas: Array.from({ length: count }, (_, k): LabReplica => ({
      name: `server-${k + 1}`, listen: `${hostAddress}:${7080 + k}`, url: `${scheme}://${hostAddress}:${7080 + k}`,
    })),
  };
}

/**
 * The `--server` value of the lab's k-th agent or LB: every replica's URL, starting at replica
 * k mod N, so the lab's clients spread over the replicas and each knows all of them. Without
 * replicas: the one control plane's URL.
 */
export function serverUrlsFor(plan: { readonly serverUrl: string; readonly controlPlanes?: LabControlPlanes }, k = 0): string {
  const urls = plan.controlPlanes?.replicas.map((r) => r.url) ?? [plan.serverUrl];
  return urls.map((_, j) => urls[(k + j) % urls.length]!).join(',');
}

/** `--initial-cluster` of the members: name=peerUrl,... */
export function initialCluster(cp: LabControlPlanes): string {
  return cp.members.map((m) => `${m.memberName}=${m.peerUrl}`).join(',');
}

/** The etcd client URLs, comma-separated (`--etcd-endpoints`, etcdctl `--endpoints`). */
export function etcdEndpoints(cp: LabControlPlanes): string {
  return cp.members.map((m) => m.clientUrl).join(',');
}
