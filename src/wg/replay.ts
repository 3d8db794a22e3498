/**
 * Sliding-window replay protection for transport counters (RFC 6479 style ring of bitmap
 * blocks, as the whitepaper section 5.4.6 asks): accepts each counter at most once, and
 * rejects counters more than WINDOW_SIZE behind the highest one seen.
 */

const BLOCK_BITS = 32n;
const RING_BLOCKS = 64n; // 2048 bits, of which one block is always being cleared
/** How far behind the highest accepted counter a counter may still be accepted. */
export const WINDOW_SIZE = (RING_BLOCKS - 1n) * BLOCK_BITS;
/** Counters at or above this are never accepted (the reference implementation's limit). */
export const REJECT_AFTER_MESSAGES = (1n << 64n) - (1n << 13n) - 1n;

/** The receive-side window of one session. Starts empty; counters start at 0. */
export class ReplayWindow {
  private readonly ring = new Uint32Array(Number(RING_BLOCKS));
  private last = 0n;

  /** True when `counter` would be accepted now; does not record it. */
  wouldAccept(counter: bigint): boolean {
    if (counter < 0n || counter >= REJECT_AFTER_MESSAGES) return false;
    if (counter > this.last) return true;
    if (this.last - counter > WINDOW_SIZE) return false;
    const { block, bit } = position(counter);
    return (this.ring[block]! & bit) === 0;
  }

  /**
   * Records `counter` if it is new and inside the window; returns false for a replay, a
   * counter too far behind, or one beyond the limit. Call only after the packet authenticated.
   */
  accept(counter: bigint): boolean {
    if (!this.wouldAccept(counter)) return false;
    if (counter > this.last) {
      const current = this.last / BLOCK_BITS;
      let diff = counter / BLOCK_BITS - current;
      if (diff > RING_BLOCKS) diff = RING_BLOCKS;
      for (let i = current + 1n; i <= current + diff; i++) this.ring[Number(i % RING_BLOCKS)] = 0;
      this.last = counter;
    }
    const { block, bit } = position(counter);
    this.ring[block] = (this.ring[block]! | bit) >>> 0;
    return true;
  }
}

function position(counter: bigint): { block: number; bit: number } {
  return { block: Number((counter / BLOCK_BITS) % RING_BLOCKS), bit: (1 << Number(counter % BLOCK_BITS)) >>> 0 };
}
