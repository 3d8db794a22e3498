/**
 * Pool snapshots served to many agents at once without letting any client hold the store.
 *
 * A snapshot is read from the store at full speed (never paced by an HTTP client: the store's
 * paged read is a read transaction, and SQLite serves only a few at once, so a client that
 * reads slowly or not at all must not keep one) into encoded chunks, and the read ends as soon
 * as the last page is in. Requests for the same pool and view that arrive while such a read is
 * in flight or still being sent, and that would see nothing newer (no change of the pool
 * after its revision, so a client still reads its own writes), join it: the chunks are read
 * once and sent to every one of them at each client's own pace. 200 agents of one pool asking
 * together cost one read and one encoding, not 200.
 *
 * Memory: one encoded snapshot per distinct read, kept until its last client has it (or is cut
 * after `stall.ms` without taking a chunk, see Stall).
 */

export interface SharedRead {
  /** The revision of the read (known once the first chunk is in). */
  readonly revision: number;
  /** The chunks, as the clients get them. */
  readonly body: AsyncIterable<Buffer>;
}

interface Entry {
  revision: number;
  readonly chunks: Buffer[];
  done: boolean;
  error: unknown;
  readonly wake: Set<() => void>;
  clients: number;
}

/** A client that leaves a chunk untaken for `ms` is cut with `cut()` (it then holds no memory). */
export interface Stall { readonly ms: number; readonly cut: () => void }

/** Counters for tests and metrics. */
export interface ShareStats { reads: number; joins: number; open: number }

export class SnapshotShare {
  private readonly entries = new Map<string, Entry>();
  readonly stats: ShareStats = { reads: 0, joins: 0, open: 0 };

  /**
   * @param changedSince whether the pool changed after `revision` (a joiner would miss it)
   */
  constructor(private readonly changedSince: (pool: string, revision: number) => Promise<boolean>) {}

  /**
   * The snapshot of `pool` in `view` (a key: reads of different views are never shared):
   * joins a fresh read in flight, or starts `read()` (JSON text chunks whose first one starts
   * with `{"revision":N`; text or bytes). Errors before the first chunk (pool not found) are thrown here.
   */
  async open(pool: string, view: string, read: () => Promise<AsyncIterable<string | Uint8Array>>, stall?: Stall): Promise<SharedRead> {
    const key = `${pool}\u0000${view}`;
    let e = this.entries.get(key);
    if (e) {
      // Its revision is known with its first chunk; joined only if the pool did not change since.
      await this.first(e);
      if (e.error !== null || e.chunks.length === 0 || await this.changedSince(pool, e.revision).catch(() => true)) e = undefined;
    }
    if (e) this.stats.joins++;
    else {
      e = this.start(key, read);
      this.stats.reads++;
    }
    e.clients++;
    this.stats.open++;
    const entry = e;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      entry.clients--;
      this.stats.open--;
      this.forget(key, entry);
    };
    try {
      await this.first(entry);
      if (entry.chunks.length === 0 && entry.error !== null) throw entry.error;
    } catch (err) {
      release();
      throw err;
    }
    return { revision: entry.revision, body: this.follow(entry, release, stall) };
  }

  private async first(e: Entry): Promise<void> {
    while (e.chunks.length === 0 && !e.done) await new Promise<void>((r) => e.wake.add(r));
  }

  private start(key: string, read: () => Promise<AsyncIterable<string | Uint8Array>>): Entry {
    const e: Entry = { revision: 0, chunks: [], done: false, error: null, wake: new Set(), clients: 0 };
    this.entries.set(key, e);
    const wake = () => {
      const all = [...e.wake];
      e.wake.clear();
      for (const w of all) w();
    };
    void (async () => {
      try {
        for await (const chunk of await read()) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          if (e.chunks.length === 0) e.revision = Number(/^\{"revision":(\d+)/.exec(bytes.subarray(0, 40).toString('latin1'))?.[1] ?? 0);
          e.chunks.push(bytes);
          wake();
        }
      } catch (err) {
        e.error = err;
        // A failed read is never joined; clients that have part of it are cut (see follow).
        if (this.entries.get(key) === e) this.entries.delete(key);
      } finally {
        e.done = true;
        wake();
        this.forget(key, e);
      }
    })();
    return e;
  }

  /**
   * One client's view of a read: every chunk, at the client's pace. An iterator (not a
   * generator) so that ending it before the first chunk still releases the read.
   */
  private follow(e: Entry, release: () => void, stall?: Stall): AsyncIterableIterator<Buffer> {
    let i = 0;
    let timer: NodeJS.Timeout | null = null;
    const disarm = () => {
      if (timer) clearTimeout(timer);
      timer = null;
    };
    const end = () => {
      disarm();
      release();
    };
    const it: AsyncIterableIterator<Buffer> = {
      [Symbol.asyncIterator]: () => it,
      next: async () => {
        disarm();
        for (;;) {
          if (i < e.chunks.length) {
            // Armed while the chunk waits for the client to ask for the next one.
            if (stall) (timer = setTimeout(stall.cut, stall.ms)).unref();
            return { value: e.chunks[i++]!, done: false };
          }
          if (e.error !== null) {
            end();
            throw e.error;
          }
          if (e.done) {
            end();
            return { value: undefined, done: true };
          }
          await new Promise<void>((r) => e.wake.add(r));
        }
      },
      return: async () => {
        end();
        return { value: undefined, done: true };
      },
    };
    return it;
  }

  /** Drops a finished read once its last client is done with it. */
  private forget(key: string, e: Entry): void {
    if (e.done && e.clients === 0 && this.entries.get(key) === e) this.entries.delete(key);
  }
}
