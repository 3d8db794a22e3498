/**
 * Thin I/O shell around the `conntrack` tool: deletes the connection-tracking entries (and so the
 * NAT bindings) of the flows the LB sent to one backend. nftables NATs only the first packet of a
 * flow; later packets follow the conntrack entry, so without this a backend that left the table
 * would keep its established flows until they idle out (UDP stream timeout, refreshed by every
 * WireGuard keepalive). After the delete, the flow's next packet is new and is hashed again.
 */
import { FabricError } from '../protocol/errors.js';
import { run } from '../sys/exec.js';
import { checkPort, parseIp } from './addr.js';

/** The narrow boundary the LB controller depends on; a fake lives in testing/fake-conntrack.ts. */
export interface ConntrackPort {
  /**
   * Deletes every UDP conntrack entry whose original destination is vip:port and whose reply
   * source is backendAddr:backendPort (the flows DNATed to that backend). Resolves with the
   * number deleted (0 when there were none); rejects with WGF_ERR_CONNTRACK when the tool fails.
   */
  deleteFlowsTo(vip: string, port: number, backendAddr: string, backendPort: number): Promise<number>;
}

/** Where and how to run conntrack. */
export interface ConntrackOptions {
  /** Run inside this network namespace (`ip netns exec NAME conntrack ...`). */
  readonly netns?: string;
  /** Kill conntrack after this long (default 10 s). */
  readonly timeoutMs?: number;
}

const DELETED = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/;

/**
 * The count in conntrack's summary line ("conntrack v1.4.7 (conntrack-tools): N flow entries
 * have been deleted."), or undefined when the text has no such line.
 */
export function parseDeletedCount(text: string): number | undefined {
  const m = DELETED.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * The argument list of `conntrack -D` for the flows of vip:port sent to backend:backendPort.
 * Addresses must be IP literals of one family (IPv6 adds `-f ipv6`); throws WGF_ERR_VALIDATION.
 */
export function deleteArgs(vip: string, port: number, backendAddr: string, backendPort: number): string[] {
  const v = parseIp(vip, 'vip');
  const b = parseIp(backendAddr, 'backendAddr');
  if (v.family !== b.family) {
    throw new FabricError('WGF_ERR_VALIDATION', 'backend address family must match the VIP', { field: 'backendAddr', value: backendAddr });
  }
  return [
    '-D', ...(v.family === 6 ? ['-f', 'ipv6'] : []), '-p', 'udp',
    '--orig-dst', v.text, '--orig-port-dst', String(checkPort(port, 'port')),
    '--reply-src', b.text, '--reply-port-src', String(checkPort(backendPort, 'backendPort')),
  ];
}

/**
 * A ConntrackPort backed by the real conntrack binary (optionally in a network namespace).
 * conntrack exits 1 when nothing matched; that is a count of 0, not an error.
 */
export function conntrackPort(opts: ConntrackOptions = {}): ConntrackPort {
  return {
    async deleteFlowsTo(vip, port, backendAddr, backendPort) {
      const args = deleteArgs(vip, port, backendAddr, backendPort);
      const res = await run('conntrack', args, {
        ...(opts.netns === undefined ? {} : { netns: opts.netns }),
        timeoutMs: opts.timeoutMs ?? 10_000,
        errorCode: 'WGF_ERR_CONNTRACK',
        allowFailure: true,
      });
      const count = parseDeletedCount(res.stderr);
      if (count === undefined || (res.code !== 0 && count !== 0)) {
        throw new FabricError('WGF_ERR_CONNTRACK', `conntrack ${args.join(' ')} failed with exit code ${res.code}`, {
          exitCode: res.code, stderr: res.stderr.trim().slice(0, 4000), netns: opts.netns,
        });
      }
      return count;
    },
  };
}
