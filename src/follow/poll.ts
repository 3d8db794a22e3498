import { ApiClient } from '../client/api-client.js';
import type { Node, Pool } from '../protocol/types.js';
import type { LogFn } from '../sys/log.js';
import { agentReady } from '../lb/health.js';
import type { PoolSource, PoolState } from './source.js';

/** The part of the API the poll source uses. */
export type PollApi = Pick<ApiClient, 'getPool' | 'listNodes'>;

/**
 * The LB's former way of following its pool: read the pool and all its nodes every pollMs
 * (default 500 ms), readiness from each node's last report. Kept selectable (`lb run --follow
 * poll`) so bench/ measures the stream against it in the same run. A failed read keeps the
 * last state (logged on every failure, as before).
 */
export class PollSource implements PoolSource {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: { api: PollApi; pool: string; readyMaxAgeMs: number; pollMs?: number; onState: (s: PoolState) => void; log: LogFn }) {}

  async start(): Promise<void> {
    await this.poll();
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.poll().finally(loop), this.o.pollMs ?? 500);
    };
    loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    let pool: Pool;
    let nodes: Node[];
    try {
      // Both reads at once: one round trip per poll, not two.
      [pool, nodes] = await Promise.all([this.o.api.getPool(this.o.pool), (async () => {
        const all: Node[] = [];
        for await (const n of ApiClient.all((c) => this.o.api.listNodes(this.o.pool, { limit: 1000, ...(c ? { cursor: c } : {}) }))) all.push(n);
        return all;
      })()]);
    } catch (e) {
      this.o.log('warn', 'reading the pool or its nodes failed; keeping the last known settings and set', { error: e instanceof Error ? e.message : String(e) });
      return;
    }
    if (this.stopped) return;
    const now = Date.now();
    this.o.onState({ pool, nodes, ready: new Map(nodes.map((n) => [n.name, agentReady(n.status, now, this.o.readyMaxAgeMs)])) });
  }
}
