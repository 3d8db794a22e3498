/**
 * The I/O shell of the DNS side: sends queries and TSIG-signed RFC 2136 updates to one
 * authoritative server over UDP (retrying on loss) and checks the answers. Everything it
 * encodes and checks is in the pure wire.ts, tsig.ts and plan.ts.
 */
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import { FabricError } from '../protocol/errors.js';
import { decodeMessage, encodeMessage, RCODE_NAMES, TYPE, type Message } from './wire.js';
import { queryMessage, recordSetOf, updateMessage, type RecordSet, type UpdatePlan } from './plan.js';
import { signMessage, verifyAnswer, type TsigKey } from './tsig.js';

export interface DnsServer {
  readonly host: string;
  readonly port: number;
}

export interface DnsClientOptions {
  readonly server: DnsServer;
  readonly key: TsigKey;
  /** Per attempt (default 1000 ms); an update is sent at most `attempts` times (default 3). */
  readonly timeoutMs?: number;
  readonly attempts?: number;
  /** Wall clock in seconds (TSIG time signed); injectable for tests. */
  readonly nowS?: () => number;
}

/** Sends one datagram and waits for the answer with the same ID; retries on timeout. */
async function exchange(server: DnsServer, bytes: Uint8Array, id: number, timeoutMs: number, attempts: number): Promise<Uint8Array> {
  const sock = createSocket(isIP(server.host) === 6 ? 'udp6' : 'udp4');
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const send = (): void => {
        if (tries++ >= attempts) {
          reject(new FabricError('WGF_ERR_DNS_TIMEOUT', `no answer from the DNS server ${server.host}:${server.port} after ${attempts} tries of ${timeoutMs} ms`));
          return;
        }
        sock.send(bytes, server.port, server.host, (e) => e && reject(new FabricError('WGF_ERR_DNS_TIMEOUT', `cannot send to ${server.host}:${server.port}: ${e.message}`)));
        timer = setTimeout(send, timeoutMs);
      };
      sock.on('message', (msg, from) => {
        // Only the server's answer to this ID counts; anything else is ignored.
        if (from.port !== server.port || msg.length < 2 || ((msg[0]! << 8) | msg[1]!) !== id) return;
        clearTimeout(timer);
        resolve(new Uint8Array(msg));
      });
      sock.on('error', (e) => { clearTimeout(timer); reject(new FabricError('WGF_ERR_DNS_TIMEOUT', `DNS socket error: ${e.message}`)); });
      send();
    });
  } finally {
    sock.close();
  }
}

function refused(what: string, m: Message): FabricError {
  const rcode = RCODE_NAMES[m.rcode] ?? String(m.rcode);
  return new FabricError('WGF_ERR_DNS_REFUSED', `the DNS server answered the ${what} with ${rcode}`, { rcode });
}

/** Queries and updates one name on one authoritative server. */
export class DnsClient {
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly nowS: () => number;

  constructor(private readonly o: DnsClientOptions) {
    this.timeoutMs = o.timeoutMs ?? 1000;
    this.attempts = o.attempts ?? 3;
    this.nowS = o.nowS ?? (() => Date.now() / 1000);
  }

  /** The A and AAAA records of `name` as the server holds them now (empty when it has none). */
  async records(name: string): Promise<RecordSet> {
    const sets = await Promise.all([TYPE.A, TYPE.AAAA].map(async (type) => {
      const id = randomInt(0x10000);
      const answer = decodeMessage(await exchange(this.o.server, encodeMessage(queryMessage(id, name, type)), id, this.timeoutMs, this.attempts)).message;
      if (answer.tc) throw new FabricError('WGF_ERR_DNS_BAD_REPLY', `the answer for ${name} was truncated even with EDNS0 (4096 bytes)`);
      if (answer.rcode === 3) return { addresses: [], ttl: null }; // NXDOMAIN: the name has no records at all
      if (answer.rcode !== 0) throw refused(`query for ${name}`, answer);
      return recordSetOf(answer.answer, name);
    }));
    const addresses = sets.flatMap((s) => s.addresses);
    const ttls = sets.map((s) => s.ttl).filter((t): t is number => t !== null);
    return { addresses, ttl: ttls.length ? Math.min(...ttls) : null };
  }

  /** Sends the plan as one signed UPDATE and checks the signed answer; throws unless NOERROR. */
  async update(zone: string, name: string, plan: UpdatePlan, ttl: number): Promise<void> {
    const id = randomInt(0x10000);
    const { bytes, mac } = signMessage(encodeMessage(updateMessage(id, zone, name, plan, ttl)), this.o.key, this.nowS());
    // A retry re-sends the same signed bytes; a server that already applied them answers the same.
    const answer = verifyAnswer(await exchange(this.o.server, bytes, id, this.timeoutMs, this.attempts), this.o.key, mac, this.nowS());
    if (answer.message.rcode !== 0) throw refused(`update of ${name} in zone ${zone}${answer.signed ? '' : ' (unsigned answer)'}`, answer.message);
  }
}
