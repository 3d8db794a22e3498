/**
 * A small server-sent-events parser (the WHATWG event-stream format): feed it text chunks as
 * they arrive, split anywhere, and it returns the complete events. Pure and synchronous.
 */

export interface SseEvent {
  /** Event type; "message" when the stream gave none. */
  readonly event: string;
  /** Data lines joined with "\n". */
  readonly data: string;
  /** The `id:` of this event, if it had one. */
  readonly id: string | undefined;
}

/** Incremental parser; keeps state between push() calls. */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;
  /** The last id seen, as EventSource keeps it (the resume point). */
  lastEventId = '';
  /** The last `retry:` the server asked for, in ms. */
  retryMs: number | undefined;

  /** Parses `chunk` and returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== '\n' && c !== '\r') continue;
      // A lone trailing "\r" may be the first half of "\r\n": wait for the next chunk.
      if (c === '\r' && i === this.buffer.length - 1) break;
      this.line(this.buffer.slice(start, i), out);
      if (c === '\r' && this.buffer[i + 1] === '\n') i++;
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.data = [];
      this.event = '';
      this.id = undefined;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) {
      this.id = value;
      this.lastEventId = value;
    } else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}
