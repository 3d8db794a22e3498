/**
 * Thin I/O shell around the `conntrack` tool: deletes the connection-tracking entries (and so the
 * NAT bindings) of the flows the LB sent to one backend. nftables NATs only the first packet of a
 * flow; later packets follow the conntrack entry, so without this a backend that left the table
 * would keep its established flows until they idle out (UDP stream timeout, refreshed by every
 * WireGuard keepalive). After the delete, the flow's next packet is new and is hashed again.
 *
 * It also lists where the flows of a VIP:port go (the reply source of each entry), so an LB that
 * (re)starts can find entries left by a previous ruleset that point to backends no longer in
 * its table.
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
  /**
   * The distinct targets of the UDP conntrack entries whose original destination is vip:port:
   * each reply source address:port (the backend a flow was DNATed to, or vip:port itself for a
   * flow that was not NATed) with its number of entries. Addresses in canonical text (parseIp).
   * Resolves with [] when there are none; rejects with WGF_ERR_CONNTRACK when the tool fails or
   * its output cannot be read.
   */
  listFlowTargets(vip: string, port: number): Promise<FlowTarget[]>;
}

/** Where a set of conntrack entries goes: a reply source address:port and how many entries. */
export interface FlowTarget {
  readonly address: string;
  readonly port: number;
  readonly flows: number;
}

/** Where and how to run conntrack. */
export interface ConntrackOptions {
  /** Run inside this network namespace (`ip netns exec NAME conntrack ...`). */
  readonly netns?: string;
  /** Kill conntrack after this long (default 10 s). */
  readonly timeoutMs?: number;
}

const DELETED = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/;
const SHOWN = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been shown/;

/**
 * The count in conntrack's summary line ("conntrack v1.4.7 (conntrack-tools): N flow entries
 * have been deleted."), or undefined when the text has no such line.
 */
export function parseDeletedCount(text: string): number | undefined {
  const m = DELETED.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * The count in conntrack's summary line of a listing ("... : N flow entries have been shown."),
 * or undefined when the text has no such line.
 */
export function parseShownCount(text: string): number | undefined {
  const m = SHOWN.exec(text);
  return m ? Number(m[1]) : undefined;
}

function badOutput(message: string, line: string): FabricError {
  return new FabricError('WGF_ERR_CONNTRACK', `cannot read the conntrack listing: ${message}`, { line: line.slice(0, 500) });
}

/**
 * The flow targets in the output of `conntrack -L` (default format; one entry per line, e.g.
 * `udp 17 29 src=C dst=VIP sport=P dport=51820 [UNREPLIED] src=B dst=C sport=51820 dport=P mark=0 use=1`):
 * the reply tuple is the second `src=`/`sport=` of a line. Distinct targets with their entry
 * counts, sorted by address text, then port. Blank lines are skipped; a line without two
 * src=/sport= fields, or with a bad address or port, throws WGF_ERR_CONNTRACK (a format this
 * code does not know must not be read as "no flows").
 */
export function parseFlowTargets(text: string): FlowTarget[] {
  const counts = new Map<string, { address: string; port: number; flows: number }>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.trim().split(/\s+/);
    const srcs = fields.filter((f) => f.startsWith('src=')).map((f) => f.slice(4));
    const sports = fields.filter((f) => f.startsWith('sport=')).map((f) => f.slice(6));
    if (srcs.length !== 2 || sports.length !== 2) throw badOutput('expected an original and a reply tuple', line);
    let address: string;
    try {
      address = parseIp(srcs[1]!).text;
    } catch {
      throw badOutput(`bad reply source address ${JSON.stringify(srcs[1])}`, line);
    }
    const port = /^\d{1,5}$/.test(sports[1]!) ? Number(sports[1]) : NaN;
    if (!(port >= 1 && port <= 65535)) throw badOutput(`bad reply source port ${JSON.stringify(sports[1])}`, line);
    const key = `${address}|${port}`;
    const t = counts.get(key) ?? { address, port, flows: 0 };
    t.flows++;
    counts.set(key, t);
  }
  return [...counts.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

/**
 * The argument list of `conntrack -L` for the UDP entries whose original destination is
 * vip:port (IPv6 adds `-f ipv6`). Throws WGF_ERR_VALIDATION.
 */
export function listArgs(vip: string, port: number): string[] {
  const v = parseIp(vip, 'vip');
  return ['-L', ...(v.family === 6 ? ['-f', 'ipv6'] : []), '-p', 'udp', '--orig-dst', v.text, '--orig-port-dst', String(checkPort(port, 'port'))];
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
 * conntrack exits 1 when nothing matched (some versions, for -D and -L); with a summary line
 * saying 0 entries that is a count of 0 / an empty list, not an error.
 */
export function conntrackPort(opts: ConntrackOptions = {}): ConntrackPort {
  const conntrack = (args: string[]) => run('conntrack', args, {
    ...(opts.netns === undefined ? {} : { netns: opts.netns }),
    timeoutMs: opts.timeoutMs ?? 10_000,
    errorCode: 'WGF_ERR_CONNTRACK',
    allowFailure: true,
  });
  const failed = (args: string[], res: { code: number; stderr: string }) => new FabricError(
    'WGF_ERR_CONNTRACK', `conntrack ${args.join(' ')} failed with exit code ${res.code}`,
    { exitCode: res.code, stderr: res.stderr.trim().slice(0, 4000), netns: opts.netns },
  );
  return {
    async deleteFlowsTo(vip, port, backendAddr, backendPort) {
      const args = deleteArgs(vip, port, backendAddr, backendPort);
      const res = await conntrack(args);
      const count = parseDeletedCount(res.stderr);
      if (count === undefined || (res.code !== 0 && count !== 0)) throw failed(args, res);
      return count;
    },
    async listFlowTargets(vip, port) {
      const args = listArgs(vip, port);
      const res = await conntrack(args);
      if (res.code === 0) return parseFlowTargets(res.stdout);
      if (res.code === 1 && parseShownCount(res.stderr) === 0 && res.stdout.trim() === '') return [];
      throw failed(args, res);
    },
  };
}
