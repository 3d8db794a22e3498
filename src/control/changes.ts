import type { Node, Peer, Pool, PoolChange, PoolSnapshot } from '../protocol/types.js';
import type { ChangeEvent, KeyValue } from '../store/store.js';
import { classifyPoolKey } from './keys.js';
import { decode, nodeEntity, peerEntity, poolEntity, type NodeRecord, type PeerRecord, type PoolRecord, type PskOpener } from './records.js';

/**
 * Pure mapping from store events and ranges under pools/<pool>/ to what agents consume.
 * Entities go through the explicit mappers of records.ts, so the sealed private key never
 * appears in a change or a snapshot. Nodes carry `status: null` here (desired state only).
 * Peers' preshared keys are opened only when `openPsk` is given: the views of the pool's
 * node tokens, whose agents set them on the devices.
 */

/** Maps a batch of store events (revision order) to pool changes; other keys are skipped. */
export function mapEvents(pool: string, events: readonly ChangeEvent[], openPsk?: PskOpener): PoolChange[] {
  const out: PoolChange[] = [];
  for (const e of events) {
    const c = mapEvent(pool, e, openPsk);
    if (c) out.push(c);
  }
  return out;
}

/** Maps one store event under pools/<pool>/ to a pool change, or null for other keys. */
export function mapEvent(pool: string, e: ChangeEvent, openPsk?: PskOpener): PoolChange | null {
  const k = classifyPoolKey(pool, e.key);
  if (!k) return null;
  const revision = e.revision;
  if (e.type === 'put' && e.value !== undefined) {
    const kv = { key: e.key, value: e.value };
    if (k.kind === 'pool') return { type: 'pool.put', revision, pool: poolEntity(decode<PoolRecord>(kv), revision) };
    if (k.kind === 'node') return { type: 'node.put', revision, node: nodeEntity(decode<NodeRecord>(kv), revision, null) };
    return { type: 'peer.put', revision, peer: peerEntity(decode<PeerRecord>(kv), revision, openPsk) };
  }
  if (e.type === 'delete') {
    if (k.kind === 'pool') return { type: 'pool.delete', revision, name: pool };
    if (k.kind === 'node') return { type: 'node.delete', revision, name: k.name };
    // The public key comes from the value before the delete: agents remove peers by key.
    const prev = e.prevValue === undefined ? null : decode<PeerRecord>({ key: e.key, value: e.prevValue });
    return prev ? { type: 'peer.delete', revision, name: k.name, publicKey: prev.publicKey } : null;
  }
  return null;
}

/** Builds a snapshot from one range over pools/<pool>/, or null when the pool is absent. */
export function snapshotFrom(pool: string, kvs: readonly KeyValue[], revision: number, openPsk?: PskOpener): PoolSnapshot | null {
  let p: Pool | null = null;
  const nodes: Node[] = [];
  const peers: Peer[] = [];
  for (const kv of kvs) {
    const k = classifyPoolKey(pool, kv.key);
    if (k?.kind === 'pool') p = poolEntity(decode<PoolRecord>(kv), kv.modRevision);
    else if (k?.kind === 'node') nodes.push(nodeEntity(decode<NodeRecord>(kv), kv.modRevision, null));
    else if (k?.kind === 'peer') peers.push(peerEntity(decode<PeerRecord>(kv), kv.modRevision, openPsk));
  }
  return p ? { revision, pool: p, nodes, peers } : null;
}
