import type { DevicePeerSpec } from './desired.js';

/** One change to a device's peer set. A batch of these goes to the device as one set operation. */
export type PeerOp =
  | { readonly op: 'upsert'; readonly spec: DevicePeerSpec }
  | { readonly op: 'remove'; readonly publicKey: string };

function sameIps(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sb = [...b].sort();
  return [...a].sort().every((x, i) => x === sb[i]);
}

/**
 * The minimal ops that turn `actual` into `desired` (both keyed by public key). Pure and
 * idempotent: diffing a device against its own state yields no ops. Only the keys in
 * `scope` are considered when given (incremental changes); otherwise everything (reconcile).
 * A peer whose allowed IPs or preshared key differ is upserted (both are set on the device).
 */
export function diffPeers(
  desired: ReadonlyMap<string, DevicePeerSpec | undefined>,
  actual: ReadonlyMap<string, DevicePeerSpec>,
  scope?: Iterable<string>,
): PeerOp[] {
  const ops: PeerOp[] = [];
  const keys = scope ? new Set(scope) : new Set([...desired.keys(), ...actual.keys()]);
  for (const key of [...keys].sort()) {
    const want = desired.get(key);
    const have = actual.get(key);
    if (want && (!have || !sameIps(want.allowedIps, have.allowedIps) || (want.presharedKey ?? null) !== (have.presharedKey ?? null))) ops.push({ op: 'upsert', spec: want });
    else if (!want && have) ops.push({ op: 'remove', publicKey: key });
  }
  return ops;
}
