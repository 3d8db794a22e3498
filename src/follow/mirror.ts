import type { Node, Pool, PoolChange } from '../protocol/types.js';

/**
 * The LB's copy of its pool's desired state (pool record and nodes), fed by reads and by the
 * change stream. Pure. Every entity carries the revision it was last written at, so a change
 * the mirror already holds a newer version of (a read overlapping the stream) is skipped:
 * feeding a read and the stream in any overlap never moves an entity backwards.
 */
export class PoolMirror {
  private poolRec: Pool | undefined;
  private readonly nodeMap = new Map<string, Node>();
  /** Revision the mirror is complete up to (the stream resumes after it). */
  revision = 0;
  /** Set when the stream delivered the pool's deletion (the mirror keeps the last state). */
  deleted = false;

  get pool(): Pool | undefined {
    return this.poolRec;
  }

  /** Nodes in name order. */
  get nodes(): Node[] {
    return [...this.nodeMap.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Takes a read of the pool and all its nodes, made at `revision` or later (the node list's
   * first page). A read older than what the mirror holds is ignored (returns false). It resets
   * the resume point only when `resume` (a fresh start or a re-snapshot after compaction).
   */
  applyRead(pool: Pool, nodes: readonly Node[], revision: number, resume: boolean): boolean {
    if (!resume && revision < this.revision) return false;
    if (!this.poolRec || pool.revision >= this.poolRec.revision || resume) this.poolRec = pool;
    this.nodeMap.clear();
    for (const n of nodes) this.nodeMap.set(n.name, n);
    if (resume) this.revision = revision;
    this.deleted = false;
    return true;
  }

  /**
   * Applies a batch of whole revisions (as watchPoolBatches delivers them) in order. Returns
   * true when the pool record or a node changed. Peer changes are ignored.
   */
  applyChanges(changes: readonly PoolChange[]): boolean {
    let changed = false;
    // The revision that deletes the pool also deletes its nodes: as when a read of a deleted pool
    // fails, the LB keeps its last table, so that revision is not applied (only noted).
    const deletions = new Set(changes.filter((c) => c.type === 'pool.delete').map((c) => c.revision));
    for (const c of changes) {
      if (deletions.has(c.revision)) {
        this.deleted = true;
        continue;
      }
      if (c.type === 'node.put') {
        const old = this.nodeMap.get(c.node.name);
        if (old && old.revision >= c.node.revision) continue;
        this.nodeMap.set(c.node.name, c.node);
        changed = true;
      } else if (c.type === 'node.delete') {
        const old = this.nodeMap.get(c.name);
        if (!old || old.revision > c.revision) continue;
        this.nodeMap.delete(c.name);
        changed = true;
      } else if (c.type === 'pool.put') {
        if (this.poolRec && this.poolRec.revision >= c.pool.revision) continue;
        this.poolRec = c.pool;
        this.deleted = false;
        changed = true;
      }
    }
    const last = changes[changes.length - 1];
    if (last && last.revision > this.revision) this.revision = last.revision;
    return changed;
  }

  /** A heartbeat: the stream is complete up to `revision`. */
  advance(revision: number): void {
    if (revision > this.revision) this.revision = revision;
  }
}
