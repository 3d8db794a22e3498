import type { ServerResponse } from 'node:http';
import { FabricError } from '../protocol/errors.js';
import type { PoolChange } from '../protocol/types.js';
import type { Watcher } from '../store/store.js';
import type { StreamGuard } from './revocation.js';
import type { WatchLimits } from './stream-limits.js';

/** What a watch stream needs from the control plane (ControlPlane satisfies it). */
export interface WatchFeed {
  poolBacklog(pool: string, since: number, limit: number): Promise<{ changes: PoolChange[]; through: number; caughtUp: boolean }>;
  watchPool(pool: string, since: number, onChanges: (changes: PoolChange[], revision: number) => void, onError: (err: Error) => void): Watcher;
  resumeRevision(pool: string, delivered: number): Promise<number>;
}

/** How long a cut stream may keep its last bytes queued for its client before the socket is destroyed. */
const CUT_GRACE_MS = 5_000;

/** SSE text of a batch of changes: the last change of each revision carries `id: <revision>`. */
export function formatChanges(changes: readonly PoolChange[]): string {
  let out = '';
  changes.forEach((c, i) => {
    const lastOfRevision = i === changes.length - 1 || changes[i + 1]!.revision !== c.revision;
    out += `${lastOfRevision ? `id: ${c.revision}\n` : ''}event: change\ndata: ${JSON.stringify(c)}\n\n`;
  });
  return out;
}

/**
 * Runs one SSE watch on an already started response: the backlog after `since` in pages of
 * limits.pageEvents under back-pressure (the next page is read only once the client took
 * the previous one), then live changes; heartbeats every heartbeatMs. A client that falls
 * limits.bufferBytes behind on live changes, or takes no backlog page for limits.stallMs, is
 * cut with a last `event: error` WGF_ERR_WATCH_TOO_SLOW. With a guard, the stream ends
 * after a revision that revokes it and when its credential is refused on a heartbeat
 * (revocation.ts). Returns the stream's close().
 */
export function runWatch(
  res: ServerResponse, feed: WatchFeed, pool: string, since: number, limits: WatchLimits, heartbeatMs: number, guard?: StreamGuard,
): () => void {
  let delivered = since;
  let closed = false;
  let watcher: Watcher | null = null;
  let drainWait: { resolve: () => void; timer: NodeJS.Timeout } | null = null;

  const write = (chunk: string) => {
    if (!closed) res.write(chunk);
  };
  const close = () => {
    if (closed) return;
    closed = true;
    watcher?.cancel();
    clearInterval(heartbeat);
    untrack();
    if (drainWait) {
      clearTimeout(drainWait.timer);
      drainWait.resolve();
    }
    res.end();
    // A client that never reads would keep the queued bytes (and its socket) forever.
    if (!res.writableFinished) setTimeout(() => res.destroy(), CUT_GRACE_MS).unref();
  };
  const fail = (err: unknown) => {
    const fe = err instanceof FabricError ? err : new FabricError('WGF_ERR_UNAVAILABLE', 'the watch broke; reconnect');
    write(`event: error\ndata: ${JSON.stringify(fe.toJSON())}\n\n`);
    close();
  };
  const untrack = guard?.track(fail) ?? (() => {});
  /** Writes changes up to the revision that revokes the stream, if any, then ends it. */
  const deliver = (all: PoolChange[], through: number) => {
    const end = guard?.endsAfter(all) ?? null;
    write(formatChanges(end ? all.filter((c) => c.revision <= end.revision) : all));
    delivered = end ? end.revision : through;
    if (end) fail(end.error);
  };
  const tooSlow = (why: string) => fail(new FabricError('WGF_ERR_WATCH_TOO_SLOW', `${why}; reconnect from the last id read`,
    { delivered, bufferBytes: limits.bufferBytes }));

  /** Resolves once the queued output is below the page threshold; cuts the stream if that takes stallMs. */
  const roomForAPage = () => new Promise<void>((resolve) => {
    if (closed || res.writableLength < Math.min(64 * 1024, limits.bufferBytes)) return resolve();
    const timer = setTimeout(() => {
      drainWait = null;
      tooSlow(`the client took no data for ${limits.stallMs} ms`);
      resolve();
    }, limits.stallMs);
    drainWait = { resolve, timer };
    res.once('drain', () => {
      clearTimeout(timer);
      drainWait = null;
      resolve();
    });
  });

  const pump = async () => {
    for (;;) {
      await roomForAPage();
      if (closed) return;
      const page = await feed.poolBacklog(pool, delivered, limits.pageEvents);
      if (closed) return;
      if (page.caughtUp) break;
      deliver(page.changes, page.through);
      if (closed) return;
    }
    watcher = feed.watchPool(pool, delivered, (changes, revision) => {
      if (closed) return;
      deliver(changes, revision);
      if (!closed && res.writableLength > limits.bufferBytes) tooSlow(`the client is more than ${limits.bufferBytes} bytes behind`);
    }, fail);
  };

  const heartbeat = setInterval(() => {
    if (res.writableLength > limits.bufferBytes) return; // a stalled client gets no more bytes
    // The credential is checked again on every heartbeat (see revocation.ts for the bound).
    const checked = guard ? guard.recheck().then(() => true, async (e: unknown) => {
      // A pool or node deletion not yet delivered by the watch is delivered first (up to its
      // revision only), so the stream still ends on the event that revoked it.
      const page = await feed.poolBacklog(pool, delivered, limits.pageEvents).catch(() => null);
      const end = page && !closed ? guard.endsAfter(page.changes) : null;
      if (end && page) deliver(page.changes.filter((c) => c.revision <= end.revision), end.revision);
      fail(e instanceof FabricError ? e : new FabricError('WGF_ERR_UNAUTHORIZED', 'the credential of this stream could not be checked again'));
      return false;
    }) : Promise.resolve(true);
    checked.then((ok) => (ok ? feed.resumeRevision(pool, delivered) : null)).then((r) => {
      if (r === null || closed) return;
      const rev = Math.max(r, delivered);
      write(`id: ${rev}\nevent: heartbeat\ndata: ${JSON.stringify({ revision: rev })}\n\n`);
    }, () => close());
  }, heartbeatMs);
  heartbeat.unref();
  res.once('close', close);
  write('retry: 2000\n\n');
  pump().catch(fail);
  return close;
}
