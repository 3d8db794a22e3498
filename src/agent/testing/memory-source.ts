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
  /** Every call answers WGF_ERR_UNAUTHORIZED (the node's token is gone), as after `node rm`. */
  refused = false;
  /** Calls made while refused. */
  refusedCalls = 0;
  compactedBelow = 0;
  readonly statuses: NodeStatus[] = [];
  private readonly peers = new Map<string, Peer>();
  private readonly log: PoolChange[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(private readonly privateKeyB64: string, private readonly listenPort = 0) {}

  put(peer: Omit<Peer, 'revision' | 'pool' | 'createdAt' | 'updatedAt' | 'labels' | 'expiresAt' | 'allowedIps' | 'enabled' | 'hasPresharedKey'> & Partial<Peer>): void {
    const full: Peer = { pool: 'p', labels: {}, expiresAt: null, allowedIps: [], enabled: true, hasPresharedKey: false, createdAt: '', updatedAt: '', ...peer, revision: ++this.revision };
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

  /** One revision carrying several peer puts and deletes (a batch or an import). */
  txn(ops: readonly ({ put: Parameters<MemorySource['put']>[0] } | { delete: string })[]): void {
    const revision = ++this.revision;
    for (const op of ops) {
      if ('put' in op) {
        const full: Peer = { pool: 'p', labels: {}, expiresAt: null, allowedIps: [], enabled: true, hasPresharedKey: false, createdAt: '', updatedAt: '', ...op.put, revision };
        this.peers.set(full.name, full);
        this.log.push({ type: 'peer.put', revision, peer: full });
      } else {
        const p = this.peers.get(op.delete);
        if (!p) continue;
        this.peers.delete(op.delete);
        this.log.push({ type: 'peer.delete', revision, name: op.delete, publicKey: p.publicKey });
      }
    }
    this.notify();
  }

  /** A forced pool delete: every peer, the node and the pool in one revision; the node token goes with it. */
  deletePool(): void {
    const revision = ++this.revision;
    for (const p of this.peers.values()) this.log.push({ type: 'peer.delete', revision, name: p.name, publicKey: p.publicKey });
    this.peers.clear();
    this.log.push({ type: 'node.delete', revision, name: 'n1' }, { type: 'pool.delete', revision, name: 'p' });
    this.notify();
  }

  /** `node rm NAME`: the node's delete event, and its token is refused from now on. */
  removeNode(name: string): void {
    this.log.push({ type: 'node.delete', revision: ++this.revision, name });
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
    if (since > this.revision) throw new FabricError('WGF_ERR_REVISION_AHEAD', 'ahead');
    let sent = since;
    while (!signal.aborted) {
      // An open stream delivers what is pending (a deletion) before it ends with the refusal.
      const batch = this.log.filter((c) => c.revision > sent);
      if (this.down || batch.length === 0) this.check();
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

  /**
   * Simulates a store restored from an older backup: the revision goes back to `revision`,
   * the peer set becomes `keep` (names), and the log is emptied.
   */
  restore(revision: number, keep: readonly string[]): void {
    for (const name of [...this.peers.keys()]) if (!keep.includes(name)) this.peers.delete(name);
    this.revision = revision;
    this.log.length = 0;
    this.notify();
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
    if (this.refused) {
      this.refusedCalls++;
      throw new FabricError('WGF_ERR_UNAUTHORIZED', 'the token is not valid');
    }
    if (this.down) throw new FabricError('WGF_ERR_UNAVAILABLE', 'control plane down');
  }
}
