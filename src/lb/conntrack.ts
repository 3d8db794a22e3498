/**
 * Thin I/O shell around the `conntrack` tool: deletes the connection-tracking entries (and so the
 * NAT bindings) of the flows the LB sent to one backend. nftables NATs only the first packet of a
 * flow; later packets follow the conntrack entry, so without this a backend that left the table
 * would keep its established flows until they idle out (UDP stream timeout, refreshed by every
 * WireGuard keepalive). After the delete, the flow's next packet is new and is hashed again.
 *
 * It also lists where the flows of a VIP:port go (the reply source of each entry), so an LB that
 * (re)starts can find entries left by a previous ruleset that point to backends no longer in
 * its table. parseFlows is the one reader of `conntrack -L` output; tests and benches use it too.
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

/** One direction of a conntrack entry: addresses in canonical text (parseIp), ports 0..65535. */
export interface FlowTuple {
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
}

/**
 * One UDP conntrack entry. `original` is the tuple as the first packet arrived (client ->
 * VIP:port); `reply` is what the answer must look like (after DNAT its source is the backend,
 * and for a flow that was not NATed it is the original destination).
 */
export interface ConntrackFlow {
  readonly original: FlowTuple;
  readonly reply: FlowTuple;
  /** The bracketed flags of the line in order, without brackets, e.g. ['UNREPLIED'] or ['ASSURED']. */
  readonly flags: readonly string[];
}

/** What parseFlows read: the UDP entries, and every other non-blank line with why it was not read. */
export interface FlowListing {
  readonly flows: ConntrackFlow[];
  readonly skipped: { readonly line: string; readonly reason: string }[];
}

type TupleKey = 'src' | 'dst' | 'sport' | 'dport';
const TUPLE_KEYS: readonly string[] = ['src', 'dst', 'sport', 'dport'] satisfies TupleKey[];
const FLAG = /^\[([A-Z_]+)\]$/;

function readAddress(v: string): string | undefined {
  try {
    return parseIp(v).text;
  } catch {
    return undefined;
  }
}

function readPort(v: string): number | undefined {
  return /^\d{1,5}$/.test(v) && Number(v) <= 65535 ? Number(v) : undefined;
}

function readTuple(t: Partial<Record<TupleKey, string>>, which: 'original' | 'reply'): FlowTuple | string {
  const { src, dst, sport, dport } = t;
  if (src === undefined || dst === undefined || sport === undefined || dport === undefined) {
    return `the ${which} tuple lacks one of src=, dst=, sport=, dport=`;
  }
  const [srcText, dstText, sportNum, dportNum] = [readAddress(src), readAddress(dst), readPort(sport), readPort(dport)];
  if (srcText === undefined) return `bad ${which} source address ${JSON.stringify(src)}`;
  if (dstText === undefined) return `bad ${which} destination address ${JSON.stringify(dst)}`;
  if (sportNum === undefined) return `bad ${which} source port ${JSON.stringify(sport)}`;
  if (dportNum === undefined) return `bad ${which} destination port ${JSON.stringify(dport)}`;
  return { src: srcText, dst: dstText, sport: sportNum, dport: dportNum };
}

/**
 * One line of `conntrack -L` as a UDP entry, or the reason it is not one. Formats read: the
 * default (`udp 17 TIMEOUT src= dst= sport= dport= [UNREPLIED] src= dst= sport= dport= [ASSURED]
 * mark=0 use=1`) and the extended one (`ipv4 2 udp 17 ...`), IPv4 and IPv6. Other fields
 * (mark=, zone=, use=, secctx=, id=, packets= and bytes= within a tuple, ...) are ignored.
 */
function readFlow(line: string): ConntrackFlow | string {
  const fields = line.trim().split(/\s+/);
  const at = fields[0] === 'ipv4' || fields[0] === 'ipv6' ? 2 : 0;
  if (fields[at] !== 'udp' || fields[at + 1] !== '17') return 'not a UDP entry';
  const tuples: Partial<Record<TupleKey, string>>[] = [];
  const flags: string[] = [];
  for (const f of fields.slice(at + 2)) {
    const flag = FLAG.exec(f);
    if (flag) {
      flags.push(flag[1]!);
      continue;
    }
    const eq = f.indexOf('=');
    if (eq < 0 || !TUPLE_KEYS.includes(f.slice(0, eq))) continue;
    const key = f.slice(0, eq) as TupleKey;
    if (key === 'src') tuples.push({}); // every tuple opens with src=
    const tuple = tuples.at(-1);
    if (tuple === undefined) return `${key}= before the first src=`;
    if (tuple[key] !== undefined) return `${key}= twice in one tuple`;
    tuple[key] = f.slice(eq + 1);
  }
  if (tuples.length !== 2) return 'expected an original and a reply tuple';
  const original = readTuple(tuples[0]!, 'original');
  if (typeof original === 'string') return original;
  const reply = readTuple(tuples[1]!, 'reply');
  if (typeof reply === 'string') return reply;
  return { original, reply, flags };
}

/**
 * The UDP entries in the output of `conntrack -L` (one entry per line; formats as readFlow
 * above), in input order. Pure; never throws. Blank lines are ignored; every other line that
 * is not a readable UDP entry (another protocol, a summary line, a tuple field missing or
 * repeated, a bad address or port) is returned in `skipped` with the reason, so a caller
 * decides whether an unknown format is an error (it must not be read as "no flows").
 */
export function parseFlows(text: string): FlowListing {
  const flows: ConntrackFlow[] = [];
  const skipped: { line: string; reason: string }[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const flow = readFlow(line);
    if (typeof flow === 'string') skipped.push({ line, reason: flow });
    else flows.push(flow);
  }
  return { flows, skipped };
}

/**
 * The flow targets in the output of `conntrack -L` (see parseFlows): the reply source of each
 * entry, i.e. the backend it was DNATed to. Distinct targets with their entry counts, sorted by
 * address text, then port. Blank lines are skipped; a line parseFlows cannot read, or a reply
 * source port 0, throws WGF_ERR_CONNTRACK (a format this code does not know must not be read as
 * "no flows").
 */
export function parseFlowTargets(text: string): FlowTarget[] {
  const { flows, skipped } = parseFlows(text);
  if (skipped.length > 0) throw badOutput(skipped[0]!.reason, skipped[0]!.line);
  const counts = new Map<string, { address: string; port: number; flows: number }>();
  for (const { reply } of flows) {
    if (reply.sport === 0) throw badOutput('bad reply source port "0"', `src=${reply.src} sport=0`);
    const key = `${reply.src}|${reply.sport}`;
    const t = counts.get(key) ?? { address: reply.src, port: reply.sport, flows: 0 };
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
