/**
 * keepalived (VRRP) configuration for the LB tier: every host that runs `wgfabric lb run` for
 * a VIP also runs keepalived with this file, and VRRP elects the one host that carries the VIP
 * address (answers ARP/ND for it). The nftables rules of `lb run` match on the VIP as a
 * destination and do not need the address locally, so every LB keeps its table loaded and a
 * takeover only moves the address.
 *
 * Choices baked into the rendering (and why):
 * - `state BACKUP` + `nopreempt` on every host by default. A host that boots or restarts does
 *   not claim the VIP before it has heard the current master for the master-down interval,
 *   and a recovered higher-priority host does not take the VIP back. Every move of the VIP
 *   re-homes all client flows onto an LB without their conntrack entries (Maglev sends them
 *   to the same backends, but packets in flight are lost and with the snat return path every
 *   backend sees new endpoints), so one move per failure is better than two. Priority then
 *   only decides the first election.
 * - The track script has `weight 0` and `init_fail`: a failing check puts the instance into
 *   FAULT, which removes the VIP and advertises priority 0 so a peer takes over at once (a
 *   priority weight would do nothing under nopreempt), and a host is never master before its
 *   LB has answered `rise` times.
 * - VRRP version 3 (RFC 5798) for both families: sub-second advert intervals, and IPv6 VIPs
 *   need it anyway. IPv4 and IPv6 VIPs get one vrrp_instance each (keepalived requires one
 *   family per instance) joined in a vrrp_sync_group so they always move together.
 * - `enable_script_security` with an explicit `script_user`, so keepalived never silently
 *   falls back to running the check as root, and refuses a check binary that non-root users
 *   could replace.
 *
 * Injection safety: every value that reaches the file is validated against a narrow
 * character set or parsed (addresses via addr.ts, numbers by range); nothing user-supplied
 * goes into comments. keepalived reads `"` as the end of a quoted string, `'` and `\` as
 * quoting inside the script command, `$` as a definition, and `#`/`!` as comments, so none of
 * these can appear in a check command argument.
 */
import ipaddr from 'ipaddr.js';
import { FabricError } from '../protocol/errors.js';
import { parseIp, type IpLiteral } from './addr.js';

/** The health check keepalived runs to decide whether this host may hold the VIP. */
export interface KeepalivedCheckSpec {
  /** Program and arguments (no shell); the program must be an absolute path. See healthzCheckCommand. */
  readonly command: readonly string[];
  /** Seconds between runs (keepalived: whole seconds, 1..4294). Default 2. */
  readonly intervalS?: number;
  /** Seconds after which a run counts as failed (1..4294). Default 2. */
  readonly timeoutS?: number;
  /** Consecutive failures that put the instance into FAULT (gives up the VIP). Default 2. */
  readonly fall?: number;
  /** Consecutive successes that make it eligible again. Default 2. */
  readonly rise?: number;
}

/** Input of renderKeepalivedConfig. Every host of one VIP uses the same values except priority and unicast source/peers. */
export interface KeepalivedSpec {
  /** Names the instances (`<name>_v4`, `<name>_v6`), the sync group and the script: a letter, then up to 23 of A-Z a-z 0-9 _ -. */
  readonly name: string;
  /** Interface that sends and receives VRRP adverts and carries the VIPs. */
  readonly interface: string;
  /**
   * VIPs as `ADDRESS/PREFIX`, optionally `ADDRESS/PREFIX@IFACE` to put one on another
   * interface (e.g. a floating gateway on the backend side for the via-lb return path); such
   * interfaces are tracked (link down = FAULT). At most 20 per family.
   */
  readonly vips: readonly string[];
  /** VRRP virtual router id, 1..255, unique per segment (per family). */
  readonly routerId: number;
  /** 1..254; the highest wins the first election. */
  readonly priority: number;
  /** Default BACKUP (see the file header). MASTER requires preempt. */
  readonly initialState?: 'BACKUP' | 'MASTER';
  /** Default false: render `nopreempt`. */
  readonly preempt?: boolean;
  /** VRRPv3 advert interval in ms, a multiple of 10 in 10..40950. Default 1000. */
  readonly advertIntervalMs?: number;
  /** Unicast source address, at most one per family (default: the interface's primary address). */
  readonly unicastSources?: readonly string[];
  /** Unicast peers (the other LB hosts); a family with peers uses unicast, one without uses multicast. */
  readonly unicastPeers?: readonly string[];
  readonly check: KeepalivedCheckSpec;
  /** User the check runs as. Default root (keepalived 2.2.7 `--config-test` kills itself with any other script_user). */
  readonly scriptUser?: string;
}

export const KEEPALIVED_DEFAULTS = {
  initialState: 'BACKUP',
  preempt: false,
  advertIntervalMs: 1000,
  intervalS: 2,
  timeoutS: 2,
  fall: 2,
  rise: 2,
  scriptUser: 'root',
} as const;

const NAME_RE = /^[A-Za-z][A-Za-z0-9_-]{0,23}$/;
/** Linux allows more, but these are enough for real interface names and safe in the file. */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
/** Printable ASCII without the characters keepalived's parser treats specially (see the header). */
const ARG_RE = /^[\x20-\x7e]+$/;
const ARG_FORBIDDEN = /["'\\$#!]/;
/** Arguments made only of these are written bare; others are wrapped in single quotes. */
const BARE_ARG_RE = /^[A-Za-z0-9_./:=,+%@-]+$/;
/** keepalived reads lines into a 1024-byte buffer. */
const MAX_SCRIPT_LINE = 900;
const MAX_VIPS_PER_FAMILY = 20;
const MAX_PEERS = 32;
const NON_VIP_RANGES = new Set(['unspecified', 'multicast', 'loopback', 'broadcast']);

function invalid(field: string, message: string, value: unknown): FabricError {
  return new FabricError('WGF_ERR_VALIDATION', `${field} ${message}`, { field, value });
}

function intIn(value: unknown, min: number, max: number, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(field, `must be an integer ${min}..${max}`, value);
  }
  return value;
}

function matches(value: unknown, re: RegExp, field: string, what: string): string {
  if (typeof value !== 'string' || !re.test(value)) throw invalid(field, `must be ${what}`, value);
  return value;
}

/** Validates an interface name (1..15 of A-Z a-z 0-9 _ . -, not `.` or `..`). */
export function checkInterfaceName(value: unknown, field = 'interface'): string {
  const name = matches(value, IFNAME_RE, field, 'an interface name: 1 to 15 of A-Z a-z 0-9 _ . -');
  if (name === '.' || name === '..') throw invalid(field, 'must be an interface name, not . or ..', value);
  return name;
}

interface Vip {
  readonly ip: IpLiteral;
  readonly prefix: number;
  /** Set only when the VIP lives on another interface than the VRRP one. */
  readonly dev: string | undefined;
}

function parseVip(text: unknown, vrrpInterface: string, field: string): Vip {
  if (typeof text !== 'string') throw invalid(field, 'must be ADDRESS/PREFIX[@IFACE]', text);
  const at = text.indexOf('@');
  const cidr = at < 0 ? text : text.slice(0, at);
  const dev = at < 0 ? undefined : checkInterfaceName(text.slice(at + 1), field);
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) throw invalid(field, 'must be ADDRESS/PREFIX[@IFACE], e.g. 198.18.9.2/32', text);
  const ip = parseIp(m[1]!, field);
  const prefix = Number(m[2]);
  const max = ip.family === 4 ? 32 : 128;
  if (prefix < 1 || prefix > max) throw invalid(field, `prefix must be 1..${max} for IPv${ip.family}`, text);
  const range = ipaddr.fromByteArray([...ip.bytes]).range();
  if (NON_VIP_RANGES.has(range)) throw invalid(field, `must be a unicast address, not ${range}`, text);
  return { ip, prefix, dev: dev === vrrpInterface ? undefined : dev };
}

function checkArg(arg: unknown, field: string): string {
  if (typeof arg !== 'string' || !ARG_RE.test(arg) || ARG_FORBIDDEN.test(arg) || arg.trim() !== arg) {
    throw invalid(field, 'must be printable ASCII without quotes, backslash, $, # or ! and without leading or trailing spaces', arg);
  }
  return arg;
}

/** The `script` value: one double-quoted string keepalived splits into argv itself (no shell). */
function scriptLine(command: unknown): string {
  if (!Array.isArray(command) || command.length === 0) throw invalid('check.command', 'must be a non-empty argument list', command);
  const args = command.map((a, i) => checkArg(a, `check.command[${i}]`));
  if (!args[0]!.startsWith('/') || !BARE_ARG_RE.test(args[0]!)) {
    throw invalid('check.command[0]', 'must be an absolute program path of A-Z a-z 0-9 _ . / : = , + % @ -', args[0]);
  }
  const line = args.map((a) => (BARE_ARG_RE.test(a) ? a : `'${a}'`)).join(' ');
  if (line.length > MAX_SCRIPT_LINE) throw invalid('check.command', `must be at most ${MAX_SCRIPT_LINE} characters`, line.length);
  return line;
}

/**
 * The default check: the node binary fetches the LB's /healthz (`lb run --listen`) and exits
 * 0 only on HTTP 200. Uses node because wgfabric needs it anyway (curl is not on a stock
 * Debian); a run costs about 0.1-0.2 s of CPU, which is why the default interval is 2 s.
 * Only http: URLs (the LB serves plain HTTP); no credentials or fragment.
 */
export function healthzCheckCommand(nodePath: string, url: string, timeoutS: number = KEEPALIVED_DEFAULTS.timeoutS): string[] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalid('healthUrl', 'must be an http:// URL, e.g. http://127.0.0.1:7090/healthz', url);
  }
  if (u.protocol !== 'http:' || u.username || u.password || u.hash || !u.hostname) {
    throw invalid('healthUrl', 'must be an http:// URL without credentials or #fragment', url);
  }
  const ms = intIn(timeoutS, 1, 4294, 'check.timeoutS') * 1000;
  // Backticks instead of quotes: `"` and `'` cannot appear inside keepalived's script string.
  const js = `require(\`node:http\`).get(process.argv[1],{timeout:${ms}},r=>process.exit(r.statusCode===200?0:1))`
    + '.on(`error`,()=>process.exit(1)).on(`timeout`,()=>process.exit(1))';
  return [nodePath, '-e', js, u.href];
}

interface Instance {
  readonly suffix: 'v4' | 'v6';
  readonly vips: readonly Vip[];
  readonly source: IpLiteral | undefined;
  readonly peers: readonly IpLiteral[];
}

function byFamily<T extends { family: 4 | 6 }>(items: readonly T[], family: 4 | 6): T[] {
  return items.filter((x) => x.family === family);
}

function parseAddresses(list: readonly unknown[] | undefined, field: string): IpLiteral[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw invalid(field, 'must be a list of IP addresses', list);
  const seen = new Set<string>();
  return list.map((v, i) => {
    const ip = parseIp(v as string, `${field}[${i}]`);
    if (seen.has(ip.text)) throw invalid(`${field}[${i}]`, 'is listed twice', v);
    seen.add(ip.text);
    return ip;
  });
}

/** Validates the whole spec; returns the instances to render (one per family with VIPs). */
function plan(spec: KeepalivedSpec): Instance[] {
  const iface = checkInterfaceName(spec.interface);
  if (!Array.isArray(spec.vips) || spec.vips.length === 0) throw invalid('vips', 'must list at least one VIP', spec.vips);
  const seen = new Set<string>();
  const vips = spec.vips.map((v, i) => {
    const vip = parseVip(v, iface, `vips[${i}]`);
    if (seen.has(vip.ip.text)) throw invalid(`vips[${i}]`, 'is listed twice', v);
    seen.add(vip.ip.text);
    return vip;
  });
  const sources = parseAddresses(spec.unicastSources, 'unicastSources');
  const peers = parseAddresses(spec.unicastPeers, 'unicastPeers');
  if (peers.length > MAX_PEERS) throw invalid('unicastPeers', `must list at most ${MAX_PEERS} peers`, peers.length);
  const instances: Instance[] = [];
  for (const family of [4, 6] as const) {
    const fv = vips.filter((v) => v.ip.family === family);
    const fs = byFamily(sources, family);
    const fp = byFamily(peers, family);
    if (fs.length > 1) throw invalid('unicastSources', `must hold at most one IPv${family} address`, fs.map((s) => s.text));
    if (fv.length === 0) {
      if (fs.length + fp.length > 0) throw invalid(fs.length ? 'unicastSources' : 'unicastPeers', `has an IPv${family} address but no VIP is IPv${family}`, [...fs, ...fp].map((s) => s.text));
      continue;
    }
    if (fv.length > MAX_VIPS_PER_FAMILY) throw invalid('vips', `must hold at most ${MAX_VIPS_PER_FAMILY} IPv${family} VIPs`, fv.length);
    if (fs.length === 1 && fp.length === 0) throw invalid('unicastSources', `has an IPv${family} source but unicastPeers has no IPv${family} peer`, fs[0]!.text);
    const clash = fp.find((p) => p.text === fs[0]?.text);
    if (clash) throw invalid('unicastPeers', 'must not contain the unicast source itself', clash.text);
    const vipClash = [...fs, ...fp].find((a) => seen.has(a.text));
    if (vipClash) throw invalid(fs.some((s) => s === vipClash) ? 'unicastSources' : 'unicastPeers', 'must be a host address, not a VIP', vipClash.text);
    instances.push({ suffix: family === 4 ? 'v4' : 'v6', vips: fv, source: fs[0], peers: fp });
  }
  return instances;
}

/**
 * Renders a complete keepalived.conf (global_defs, the track script, one vrrp_instance per
 * address family, a sync group when both exist). Pure and deterministic: the same spec gives
 * the same bytes, VIPs and peers in the given order. Throws WGF_ERR_VALIDATION naming `field`
 * for any value that is out of range or could change the file's structure.
 */
export function renderKeepalivedConfig(spec: KeepalivedSpec): string {
  if (typeof spec !== 'object' || spec === null) throw invalid('spec', 'must be an object', spec);
  const name = matches(spec.name, NAME_RE, 'name', 'a letter followed by up to 23 of A-Z a-z 0-9 _ -');
  const iface = checkInterfaceName(spec.interface);
  const routerId = intIn(spec.routerId, 1, 255, 'routerId');
  const priority = intIn(spec.priority, 1, 254, 'priority');
  const state = spec.initialState ?? KEEPALIVED_DEFAULTS.initialState;
  if (state !== 'BACKUP' && state !== 'MASTER') throw invalid('initialState', 'must be BACKUP or MASTER', state);
  const preempt = spec.preempt ?? KEEPALIVED_DEFAULTS.preempt;
  if (typeof preempt !== 'boolean') throw invalid('preempt', 'must be a boolean', preempt);
  if (state === 'MASTER' && !preempt) throw invalid('initialState', 'MASTER needs preempt (keepalived ignores nopreempt on a MASTER)', state);
  const advertMs = intIn(spec.advertIntervalMs ?? KEEPALIVED_DEFAULTS.advertIntervalMs, 10, 40950, 'advertIntervalMs');
  if (advertMs % 10 !== 0) throw invalid('advertIntervalMs', 'must be a multiple of 10 (VRRPv3 counts centiseconds)', advertMs);
  const check = spec.check;
  if (typeof check !== 'object' || check === null) throw invalid('check', 'must be an object', check);
  const script = scriptLine(check.command);
  const intervalS = intIn(check.intervalS ?? KEEPALIVED_DEFAULTS.intervalS, 1, 4294, 'check.intervalS');
  const timeoutS = intIn(check.timeoutS ?? KEEPALIVED_DEFAULTS.timeoutS, 1, 4294, 'check.timeoutS');
  const fall = intIn(check.fall ?? KEEPALIVED_DEFAULTS.fall, 1, 100, 'check.fall');
  const rise = intIn(check.rise ?? KEEPALIVED_DEFAULTS.rise, 1, 100, 'check.rise');
  const user = matches(spec.scriptUser ?? KEEPALIVED_DEFAULTS.scriptUser, USER_RE, 'scriptUser', 'a user name: [a-z_][a-z0-9_-]{0,31}');
  const instances = plan(spec);
  const scriptName = `${name}_health`;

  const out: string[] = [
    '# keepalived.conf for a wgfabric LB host, rendered by `wgfabric lb keepalived`.',
    '# Every LB host of the VIP runs `wgfabric lb run` and keepalived with this file; only',
    '# priority and the unicast source/peers differ between hosts. Check with `keepalived -t -f FILE`.',
    '',
    'global_defs {',
    `    script_user ${user}`,
    '    enable_script_security',
    '}',
    '',
    '# The local LB must answer; failing `fall` times puts the instance into FAULT (VIP released).',
    `vrrp_script ${scriptName} {`,
    `    script "${script}"`,
    `    interval ${intervalS}`,
    `    timeout ${timeoutS}`,
    `    fall ${fall}`,
    `    rise ${rise}`,
    '    weight 0',
    '    init_fail',
    '}',
  ];
  for (const inst of instances) {
    const tracked = [...new Set(inst.vips.flatMap((v) => (v.dev ? [v.dev] : [])))].sort();
    out.push('', `vrrp_instance ${name}_${inst.suffix} {`, `    state ${state}`);
    if (!preempt) out.push('    nopreempt');
    out.push(
      `    interface ${iface}`,
      `    virtual_router_id ${routerId}`,
      `    priority ${priority}`,
      '    version 3',
      `    advert_int ${advertMs / 1000}`,
    );
    if (inst.source) out.push(`    unicast_src_ip ${inst.source.text}`);
    if (inst.peers.length > 0) out.push('    unicast_peer {', ...inst.peers.map((p) => `        ${p.text}`), '    }');
    out.push('    virtual_ipaddress {', ...inst.vips.map((v) => `        ${v.ip.text}/${v.prefix}${v.dev ? ` dev ${v.dev}` : ''}`), '    }');
    if (tracked.length > 0) out.push('    track_interface {', ...tracked.map((t) => `        ${t}`), '    }');
    out.push('    track_script {', `        ${scriptName}`, '    }', '}');
  }
  if (instances.length > 1) {
    out.push('', '# IPv4 and IPv6 VIPs always move together.', `vrrp_sync_group ${name} {`, '    group {', ...instances.map((i) => `        ${name}_${i.suffix}`), '    }', '}');
  }
  return out.join('\n') + '\n';
}
