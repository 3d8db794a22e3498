import { SseParser } from '../client/sse.js';
import type { PoolChange } from '../protocol/types.js';
import type { Api } from './api.js';

/**
 * Follows a pool's change stream (GET /v1/pools/{pool}/watch, server-sent events) with fetch,
 * because EventSource cannot send the Authorization header. Resumes from the last revision
 * seen after a cut (a wait of 1..15 s); on 410 (compacted, or a revision ahead) it asks the
 * view to reload (`onReset`) and follows from the revision that reload returns.
 */
export interface WatchHandlers {
  /** A whole revision's changes. */
  onChanges(changes: PoolChange[], revision: number): void;
  /** The stream is complete up to `revision` (heartbeat). */
  onRevision?(revision: number): void;
  /** The stream state for the page's "live" badge. */
  onState?(state: 'live' | 'reconnecting'): void;
  /** The view must reload everything; resolves with the revision to follow from. */
  onReset(): Promise<number>;
}

export function watchPool(api: Api, pool: string, since: number, h: WatchHandlers): () => void {
  const stop = new AbortController();
  let rev = since;
  let delay = 1000;
  const run = async () => {
    while (!stop.signal.aborted) {
      try {
        const res = await fetch(api.url(`/v1/pools/${encodeURIComponent(pool)}/watch?since=${rev}`), {
          headers: { ...api.headers(), accept: 'text/event-stream' }, cache: 'no-store', credentials: 'omit', signal: stop.signal,
        });
        if (res.status === 410) {
          rev = await h.onReset();
          continue;
        }
        if (!res.ok || !res.body) throw new Error(`watch: HTTP ${res.status}`);
        h.onState?.('live');
        delay = 1000;
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let batch: PoolChange[] = [];
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const ev of parser.push(value)) {
            if (ev.event === 'change') {
              batch.push(JSON.parse(ev.data) as PoolChange);
              // The last change of a revision carries its id: the batch is a whole revision.
              if (ev.id !== undefined) {
                rev = Number(ev.id);
                h.onChanges(batch, rev);
                batch = [];
              }
            } else if (ev.event === 'heartbeat') {
              rev = Math.max(rev, Number(ev.id ?? rev));
              h.onRevision?.(rev);
            } else if (ev.event === 'error') {
              const code = (JSON.parse(ev.data) as { error?: { code?: string } }).error?.code;
              if (code === 'WGF_ERR_STORE_COMPACTED') rev = await h.onReset();
              throw new Error(code ?? 'watch error');
            }
          }
        }
      } catch {
        if (stop.signal.aborted) return;
      }
      h.onState?.('reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
  };
  void run();
  return () => stop.abort();
}
