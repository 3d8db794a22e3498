/**
 * BIRD's control socket (the one `birdc -s PATH` talks to): a line protocol. The server greets
 * with `0001 BIRD x.y ready.`; every reply line starts with a 4-digit code, followed by '-'
 * when more lines of the reply follow or ' ' on the last one; lines starting with a space
 * continue the previous code. Codes 8xxx (runtime) and 9xxx (syntax) are errors.
 * parseBirdReply is pure; birdCommand opens the socket, sends one command and reads one reply.
 */
import { createConnection } from 'node:net';
import { FabricError } from '../protocol/errors.js';

export interface BirdReply {
  /** Code of the final line. */
  readonly code: number;
  /** Every line's text without its code, in order. */
  readonly lines: readonly string[];
}

/**
 * Returns the first complete reply in `buf` and the number of characters it used, or null
 * when the reply is not complete yet.
 */
export function parseBirdReply(buf: string): { reply: BirdReply; used: number } | null {
  const lines: string[] = [];
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf('\n', pos);
    if (nl < 0) return null;
    const line = buf.slice(pos, nl);
    pos = nl + 1;
    if (line.startsWith(' ')) {
      lines.push(line.slice(1));
      continue;
    }
    const m = /^(\d{4})([ -])(.*)$/.exec(line);
    if (!m) {
      lines.push(line);
      continue;
    }
    lines.push(m[3]!);
    if (m[2] === ' ') return { reply: { code: Number(m[1]), lines }, used: pos };
  }
}

/** True for BIRD's error codes (8xxx runtime, 9xxx parse). */
export function isBirdError(code: number): boolean {
  return code >= 8000;
}

/**
 * Sends one command over the control socket and resolves with its reply. Rejects with
 * WGF_ERR_ANNOUNCE when the socket is unreachable, the reply is an error, or no reply comes
 * within timeoutMs.
 */
export function birdCommand(socketPath: string, command: string, timeoutMs = 5_000): Promise<BirdReply> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    let buf = '';
    let greeted = false;
    const fail = (msg: string, cause?: unknown) => {
      sock.destroy();
      reject(new FabricError('WGF_ERR_ANNOUNCE', `bird ${socketPath}: ${command}: ${msg}`, { socket: socketPath, command }, { cause }));
    };
    sock.setTimeout(timeoutMs, () => fail(`no reply within ${timeoutMs} ms`));
    sock.on('error', (e) => fail(e.message, e));
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (;;) {
        const r = parseBirdReply(buf);
        if (!r) return;
        buf = buf.slice(r.used);
        if (!greeted) {
          greeted = true;
          sock.write(`${command}\n`);
          continue;
        }
        sock.destroy();
        if (isBirdError(r.reply.code)) return fail(`error ${r.reply.code}: ${r.reply.lines.join(' ').trim()}`);
        return resolve(r.reply);
      }
    });
    sock.on('close', () => fail('the socket closed before a reply'));
  });
}
