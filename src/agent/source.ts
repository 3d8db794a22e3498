import type { NodeStatus, PoolChange, PoolSnapshot } from '../protocol/types.js';

/**
 * What the agent needs from the control plane, and nothing more (the node credential allows
 * exactly this). The HTTP implementation wraps ApiClient; tests use an in-memory one.
 */
export interface DesiredStateSource {
  snapshot(pool: string): Promise<PoolSnapshot>;
  /**
   * Streams changes with revision > since until the signal aborts or the stream breaks
   * (then it rejects; WGF_ERR_STORE_COMPACTED when `since` is too old). `onHeartbeat`
   * carries the control plane's current revision, for the lag figure. With several replicas,
   * a follow after a broken one may be served by another replica, from the same `since`.
   */
  follow(
    pool: string,
    since: number,
    handlers: {
      onChanges: (changes: readonly PoolChange[]) => Promise<void>;
      onHeartbeat: (revision: number) => void;
      /** The stream is open (before any change of it), served by this control-plane replica. */
      onOpen?: (server: string) => void;
    },
    signal: AbortSignal,
  ): Promise<void>;
  /** The pool's private key (base64). Never logged. */
  privateKey(pool: string): Promise<string>;
  reportStatus(pool: string, node: string, status: NodeStatus): Promise<void>;
}
