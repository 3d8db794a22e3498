import { write as fsWrite, writeSync } from 'node:fs';

/**
 * The server's log destination: lines are written to a file descriptor (stdout by default)
 * asynchronously, one write in flight at a time, so a log that cannot be written (a full
 * disk, a stuck pipe) never blocks the event loop. Up to maxBytes wait in memory; lines
 * beyond that, and lines whose write failed (ENOSPC, EIO, EPIPE), are dropped and counted
 * (`dropped`, exported as wgfabric_log_lines_dropped_total). Writing resumes by itself once
 * the fd takes data again.
 */
export class LogSink {
  /** Lines dropped so far (never written). */
  dropped = 0;
  private queue: string[] = [];
  private queuedBytes = 0;
  private inFlight = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly fd = 1, private readonly maxBytes = 1024 * 1024) {}

  /** pino's destination interface: takes one serialized line. Never throws, never blocks. */
  write(line: string): boolean {
    if (this.queuedBytes + line.length > this.maxBytes) {
      this.dropped++;
      return true;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    this.pump();
    return true;
  }

  /**
   * Best-effort synchronous write of what is queued (at exit); drops it if the fd refuses. With
   * a write in flight it writes nothing (that would put the queued lines before the in-flight
   * ones): the in-flight write's completion writes them, as long as the process lives on (the
   * server's close() lets the event loop end by itself; see `idle`).
   */
  flushSync(): void {
    if (this.queue.length === 0 || this.inFlight) return;
    const lines = this.takeAll();
    try {
      writeSync(this.fd, lines.join(''));
    } catch {
      this.dropped += lines.length;
    }
  }

  /** No write in flight and nothing waiting: every line given so far was written or dropped. */
  get idle(): boolean {
    return !this.inFlight && this.queue.length === 0;
  }

  /** Bytes waiting to be written. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  private takeAll(): string[] {
    const lines = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    return lines;
  }

  private pump(): void {
    if (this.inFlight || this.retryTimer || this.queue.length === 0) return;
    this.inFlight = true;
    const lines = this.takeAll();
    const data = Buffer.from(lines.join(''));
    fsWrite(this.fd, data, 0, data.length, null, (err, written) => {
      this.inFlight = false;
      if (err && (err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK')) {
        this.requeue(lines, data.toString());
      } else if (err) {
        // ENOSPC, EIO, EPIPE, EBADF…: these lines are lost; try again with later lines.
        this.dropped += lines.length;
        this.backoff();
        return;
      } else if (written < data.length) {
        this.requeue([data.subarray(written).toString()], data.subarray(written).toString());
      }
      if (err) this.backoff();
      else this.pump();
    });
  }

  /** Puts unwritten text back in front, dropping it whole when over maxBytes. */
  private requeue(lines: string[], text: string): void {
    if (text.length + this.queuedBytes > this.maxBytes) {
      this.dropped += lines.length;
      return;
    }
    this.queue.unshift(text);
    this.queuedBytes += text.length;
  }

  /** After a failed write, waits a little before the next (no busy loop on a full disk). */
  private backoff(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, 200);
    this.retryTimer.unref();
  }
}
