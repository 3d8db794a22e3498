import type { Node, Pool } from '../protocol/types.js';

/**
 * What an LB service or the DNS updater knows of its pool: the pool (its LB and anycast settings), the nodes
 * (desired state: endpoint, weight, admin state) and each node's readiness.
 */
export interface PoolState {
  readonly pool: Pool;
  readonly nodes: readonly Node[];
  /** Node name -> agent ready (a fresh `ready` report); a node missing here is not ready. */
  readonly ready: ReadonlyMap<string, boolean>;
}

/**
 * Where an LB service's view of its pool comes from: the change stream (stream.ts, the
 * default) or the old 500 ms polling (poll.ts, kept for comparison in bench/). A source hands
 * every new state to its `onState` (whole revisions only) and keeps the last one while the
 * control plane is gone: it never hands over an empty state because a read failed.
 */
export interface PoolSource {
  /** Reads the pool once (a failure is logged, not thrown: following goes on), then follows it. */
  start(): Promise<void>;
  stop(): void;
}

export type FollowMode = 'stream' | 'poll';
export const FOLLOW_MODES: readonly FollowMode[] = ['stream', 'poll'];
