import { FabricError } from '../protocol/errors.js';

/**
 * Limits of the agents' feed (watch streams and waiting long polls), so that no number of
 * slow or never-reading clients can grow the server's memory without bound.
 *
 * Memory per open watch is at most `bufferBytes` queued in the response plus one backlog page
 * (`pageEvents` changes) or one live revision, whichever is larger; the server holds at most
 * `maxTotal` watches. A watch whose queued output stays above `bufferBytes` (live) or makes
 * no progress for `stallMs` (backlog) is cut with a last `event: error`
 * (WGF_ERR_WATCH_TOO_SLOW); the client resumes from the last `id:` it read.
 */
export interface WatchLimits {
  /** Open watches and waiting long polls, all tokens together. */
  readonly maxTotal: number;
  /** Open watches and waiting long polls of one token. */
  readonly maxPerToken: number;
  /** Bytes a watch may have queued (unread by its client) before it is paused (backlog) or cut (live). */
  readonly bufferBytes: number;
  /** Changes read from the store per backlog page. */
  readonly pageEvents: number;
  /** A backlog page that the client does not take within this time cuts the stream. */
  readonly stallMs: number;
}

export const DEFAULT_WATCH_LIMITS: WatchLimits = {
  maxTotal: 512, maxPerToken: 32, bufferBytes: 256 * 1024, pageEvents: 64, stallMs: 30_000,
};

/** Checks limits given by flags; WGF_ERR_VALIDATION naming the field otherwise. */
export function validateWatchLimits(l: WatchLimits): WatchLimits {
  const check = (field: keyof WatchLimits, min: number) => {
    if (!Number.isSafeInteger(l[field]) || l[field] < min) {
      throw new FabricError('WGF_ERR_VALIDATION', `${field} must be an integer >= ${min}, got ${String(l[field])}`, { field });
    }
  };
  check('maxTotal', 1);
  check('maxPerToken', 1);
  check('bufferBytes', 1024);
  check('pageEvents', 1);
  check('stallMs', 100);
  if (l.maxPerToken > l.maxTotal) throw new FabricError('WGF_ERR_VALIDATION', `maxPerToken (${l.maxPerToken}) must not exceed maxTotal (${l.maxTotal})`, { field: 'maxPerToken' });
  return l;
}

/**
 * Counts open watches per token and in total. acquire() throws WGF_ERR_TOO_MANY_WATCHES
 * (429) past a limit, else returns an idempotent release.
 */
export class WatchSlots {
  private readonly byToken = new Map<string, number>();
  private total = 0;

  constructor(private readonly limits: Pick<WatchLimits, 'maxTotal' | 'maxPerToken'>) {}

  acquire(tokenId: string): () => void {
    const mine = this.byToken.get(tokenId) ?? 0;
    if (mine >= this.limits.maxPerToken) {
      throw new FabricError('WGF_ERR_TOO_MANY_WATCHES', `this token already holds ${mine} watches (limit ${this.limits.maxPerToken} per token); close one first`,
        { scope: 'token', limit: this.limits.maxPerToken });
    }
    if (this.total >= this.limits.maxTotal) {
      throw new FabricError('WGF_ERR_TOO_MANY_WATCHES', `the server already holds ${this.total} watches (limit ${this.limits.maxTotal}); retry later`,
        { scope: 'server', limit: this.limits.maxTotal });
    }
    this.byToken.set(tokenId, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.byToken.get(tokenId) ?? 1) - 1;
      if (n === 0) this.byToken.delete(tokenId);
      else this.byToken.set(tokenId, n);
    };
  }

  get size(): number {
    return this.total;
  }
}
