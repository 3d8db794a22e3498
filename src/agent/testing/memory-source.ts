import { FabricError } from '../../protocol/errors.js';
import type { NodeStatus, Peer, PoolChange, PoolSnapshot } from '../../protocol/types.js';
import type { DesiredStateSource } from '../source.js';

/**
 * A scriptable in-memory control plane for agent tests: holds one pool's peers and a change
 * log, can go down (every call rejects) and can compact its log.
 */
export class MemorySource implements DesiredStateSource {
  revision = 1;
  down = false;
  compactedBelow = 0;
  readonly statuses: NodeStatus[] = [];
  private readonly peers = new Map<string, Peer>();
  private readonly log: PoolChange[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(private readonly privateKeyB64: string, private readonly listenPort = 0) {}

  put(peer: Omit<Peer, 'revision' | 'pool' | 'createdAt' | 'updatedAt' | 'labels' | 'expiresAt' | 'allowedIps' | 'enabled'> & Partial<Peer>): void {
    const full: Peer = { pool: 'p', labels: {}, expiresAt: null, allowedIps: [], enabled: true, createdAt: '', updatedAt: '', ...peer, revision: ++this.revision };
    this.peers.set(full.name, full);
    this.log.push({ type: 'peer.put', revision: this.revision, peer: full });
    this.notify();
  }

  delete(name: string): void {
    const p = this.peers.get(name);
    if (!p) return;
    this.peers.delete(name);
    this.log.push({ type: 'peer.delete', revision: ++this.revision, name, publicKey: p.publicKey });
    this.notify();
  }

  async snapshot(): Promise<PoolSnapshot> {
    this.check();
    return { revision: this.revision, pool: { listenPort: this.listenPort, publicKey: '' } as PoolSnapshot['pool'], nodes: [], peers: [...this.peers.values()] };
  }

  async privateKey(): Promise<string> {
    this.check();
    return this.privateKeyB64;
  }

  async reportStatus(_pool: string, _node: string, status: NodeStatus): Promise<void> {
    this.check();
    this.statuses.push(status);
  }

  async follow(_pool: string, since: number, h: { onChanges: (c: readonly PoolChange[]) => Promise<void> }, signal: AbortSignal): Promise<void> {
    this.check();
    if (since < this.compactedBelow) throw new FabricError('WGF_ERR_STORE_COMPACTED', 'compacted');
    let sent = since;
    while (!signal.aborted) {
      this.check();
      const batch = this.log.filter((c) => c.revision > sent);
      if (batch.length > 0) {
        await h.onChanges(batch);
        sent = batch[batch.length - 1]!.revision;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          this.listeners.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.listeners.add(done);
        signal.addEventListener('abort', done);
      });
    }
  }

  /** Simulates an outage: open streams break, calls reject until `up()`. */
  goDown(): void {
    this.down = true;
    this.notify();
  }

  up(): void {
    this.down = false;
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private check(): void {
    if (this.down) throw new FabricError('WGF_ERR_UNAVAILABLE', 'control plane down');
  }
}
