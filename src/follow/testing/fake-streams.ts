/**
 * A control plane whose pool streams (change stream + readiness stream) a test drives by hand:
 * for StreamSource's own tests and for every role that follows a pool through it (LB, DNS).
 */
import type { WatchOptions } from '../../client/api-client.js';
import { FabricError } from '../../protocol/errors.js';
import type { ReadinessEvent } from '../../protocol/readiness.js';
import type { Node, Page, Pool, PoolChange } from '../../protocol/types.js';
import { fakeNode, fakePool } from '../../lb/testing/fake-api.js';
import type { StreamApi } from '../stream.js';

/** `n` as written at `revision` (with `over` applied). */
export const at = (n: Node, revision: number, over: Partial<Node> = {}): Node => ({ ...n, ...over, revision });
const unavailable = () => new FabricError('WGF_ERR_UNAVAILABLE', 'control plane down');

export interface Open<T> { readonly since: number; readonly push: (x: T) => void; readonly o: WatchOptions; readonly fail: (e: Error) => void }

/** A control plane whose streams the test drives by hand. */
export class FakeStreams implements StreamApi {
  pool: Pool = { ...fakePool('p', 1), revision: 3 };
  nodes: Node[] = [at(fakeNode('p', 'a', '198.18.0.10:51820'), 4), at(fakeNode('p', 'b', '198.18.0.11:51820'), 5)];
  revision = 10;
  down = false;
  reads = 0;
  /** `since` of every change-stream attempt, failed ones included. */
  readonly attempts: number[] = [];
  watch: Open<PoolChange[]> | undefined;
  readiness: Open<ReadinessEvent> | undefined;

  listNodes = async (): Promise<Page<Node>> => {
    if (this.down) throw unavailable();
    this.reads++;
    return { items: this.nodes, next: null, revision: this.revision };
  };
  getPool = async (): Promise<Pool> => {
    if (this.down) throw unavailable();
    return this.pool;
  };
  watchPoolBatches = (_pool: string, since: number, onChanges: (c: PoolChange[]) => void | Promise<void>, o: WatchOptions): Promise<void> => {
    this.attempts.push(since);
    return this.open(o, (open) => (this.watch = { since, push: (c) => void onChanges(c), o, fail: open }));
  };
  watchReadiness = (_pool: string, _age: number, onEvent: (e: ReadinessEvent) => void, o: WatchOptions): Promise<void> =>
    this.open(o, (open) => (this.readiness = { since: 0, push: onEvent, o, fail: open }));

  private open(o: WatchOptions, keep: (fail: (e: Error) => void) => void): Promise<void> {
    if (this.down) return Promise.reject(unavailable());
    return new Promise<void>((resolve, reject) => {
      keep(reject);
      o.signal.addEventListener('abort', () => resolve());
      o.onOpen?.('http://fake');
    });
  }

  /** Cuts both open streams. */
  cut(e: Error = unavailable()): void {
    this.watch?.fail(e);
    this.readiness?.fail(e);
    this.watch = undefined;
    this.readiness = undefined;
  }
}
