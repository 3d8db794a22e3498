import type { ApiClient } from '../client/api-client.js';
import type { NodeStatus, PoolChange, PoolSnapshot } from '../protocol/types.js';
import type { DesiredStateSource } from './source.js';

/** One or more whole revisions as the stream delivered them, or a heartbeat. */
type Item = { kind: 'changes'; changes: readonly PoolChange[] } | { kind: 'heartbeat'; revision: number };

/**
 * DesiredStateSource over the control plane's REST API (node token). The stream is consumed
 * in whole revisions (ApiClient.watchPoolBatches never hands over part of one); batches
 * arriving while the agent is still applying earlier ones are queued and handed over
 * together (still whole revisions), so a burst of API writes becomes a few device set
 * operations rather than one per change. Heartbeats go through the same queue, so one is only
 * acted on after every change before it.
 */
export class HttpSource implements DesiredStateSource {
  constructor(private readonly api: ApiClient, private readonly idleTimeoutMs = 30_000) {}

  snapshot(pool: string): Promise<PoolSnapshot> {
    return this.api.poolSnapshot(pool);
  }

  privateKey(pool: string): Promise<string> {
    return this.api.poolPrivateKey(pool);
  }

  async reportStatus(pool: string, node: string, status: NodeStatus): Promise<void> {
    await this.api.putNodeStatus(pool, node, status);
  }

  async follow(
    pool: string,
    since: number,
    h: { onChanges: (changes: readonly PoolChange[]) => Promise<void>; onHeartbeat: (revision: number) => void; onOpen?: (server: string) => void },
    signal: AbortSignal,
  ): Promise<void> {
    const stop = new AbortController();
    const both = AbortSignal.any([signal, stop.signal]);
    const queue: Item[] = [];
    let draining: Promise<void> = Promise.resolve();
    let running = false;
    let failure: unknown = null;

    // `running` is set and cleared synchronously, so a drain that finishes without awaiting
    // (only heartbeats queued) cannot leave a stale "still draining" state behind.
    const drain = async () => {
      running = true;
      try {
        await drainQueue();
      } finally {
        running = false;
      }
    };
    const drainQueue = async () => {
      while (queue.length > 0 && failure === null) {
        const head = queue[0]!;
        if (head.kind === 'heartbeat') {
          queue.shift();
          h.onHeartbeat(head.revision);
          continue;
        }
        const batch: PoolChange[] = [];
        while (queue[0]?.kind === 'changes') batch.push(...(queue.shift() as { changes: readonly PoolChange[] }).changes);
        try {
          await h.onChanges(batch);
        } catch (e) {
          failure = e;
          stop.abort();
        }
      }
    };
    const push = (item: Item) => {
      queue.push(item);
      if (!running) draining = drain();
    };

    try {
      await this.api.watchPoolBatches(pool, since, (changes) => push({ kind: 'changes', changes }), {
        signal: both,
        idleTimeoutMs: this.idleTimeoutMs,
        ...(h.onOpen ? { onOpen: h.onOpen } : {}),
        onHeartbeat: (revision) => push({ kind: 'heartbeat', revision }),
      });
    } finally {
      await draining;
    }
    if (failure !== null) throw failure;
  }
}
