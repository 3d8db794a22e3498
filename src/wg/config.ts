import { FabricError } from '../protocol/errors.js';
import {
  CONTROL_RE, EXTRA_KEY_RE, INTERFACE_KEYS, KEY_NAMES, MTU_MAX, MTU_MIN, MULTI_KEYS, PEER_KEYS, checkCidr, checkDns, checkEndpoint, checkPrivateKey, checkPublicKey,
  checkTable, nameFromComment, parseBool, parseFwMark, parseUint, type Check,
} from './config-fields.js';

export { renderConfig, renderSetconf } from './config-render.js';

/**
 * wg-quick / wg(8) config files as a typed model. Keys are kept as written (base64), IP
 * prefixes and endpoints as written (validated, not normalised), so render(parse(text))
 * changes layout and key spelling but not meaning.
 *
 * Comments survive a round trip, attached to the section they describe: comment lines before
 * a section header, and inside it before or between its keys, belong to that section and are
 * rendered just above its header; comments after the last key of the file are `trailing`.
 * A peer's `# Name = alice` comment becomes `name`. Inline comments (`Key = v # note`) are
 * kept as comment lines of their section.
 */
export interface WgConfig {
  interface: InterfaceSection;
  peers: PeerSection[];
  /** Comment lines after the last key of the file. */
  trailingComments?: string[];
}

/** The [Interface] section: wg(8) keys plus the wg-quick ones (Address .. SaveConfig). */
export interface InterfaceSection {
  /** base64 */
  privateKey?: string;
  listenPort?: number;
  fwMark?: number;
  addresses: string[];
  /** Resolver IPs and search domains, in file order. */
  dns: string[];
  mtu?: number;
  table?: string;
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
  saveConfig?: boolean;
  /** Comment lines, each starting with '#'. */
  comments?: string[];
  /** Valid `Key = Value` lines with keys this parser does not know (kept unless `strict`). */
  extra?: ExtraLine[];
}

/** A [Peer] section. */
export interface PeerSection {
  /** base64 */
  publicKey: string;
  presharedKey?: string;
  allowedIps: string[];
  endpoint?: string;
  persistentKeepalive?: number;
  /** From a `# Name = ...` comment. */
  name?: string;
  comments?: string[];
  extra?: ExtraLine[];
}

/** A line with an unknown key, kept verbatim (key spelling included). */
export interface ExtraLine {
  key: string;
  value: string;
}

/** How parseConfig treats what wg(8) would refuse and how much it reads. */
export interface ParseOptions {
  /** Refuse unknown keys as wg(8) does, instead of keeping them in `extra`. Default false. */
  readonly strict?: boolean;
  /** Refuse longer inputs (in UTF-16 units). Default 32 MiB, enough for about 200k peers. */
  readonly maxLength?: number;
}

/** An [Interface] with every list empty and nothing set. */
export function newInterface(fields: Partial<InterfaceSection> = {}): InterfaceSection {
  return { addresses: [], dns: [], preUp: [], postUp: [], preDown: [], postDown: [], ...fields };
}

/** A [Peer] with the given public key and no allowed IPs unless `fields` says otherwise. */
export function newPeer(publicKey: string, fields: Partial<PeerSection> = {}): PeerSection {
  return { publicKey, allowedIps: [], ...fields };
}

const DEFAULT_MAX_LENGTH = 32 * 1024 * 1024;
const HEADER_RE = /^\[(interface|peer)\]$/i;
interface OpenSection {
  readonly kind: 'interface' | 'peer';
  readonly line: number;
  readonly seen: Map<string, number>;
  comments: string[];
  extra: ExtraLine[];
  iface?: InterfaceSection;
  peer?: Partial<PeerSection> & { allowedIps: string[] };
}

function fail(line: number, reason: string, key?: string): never {
  throw new FabricError('WGF_ERR_CONFIG_PARSE', `line ${line}: ${reason}`, { line, ...(key ? { key } : {}) });
}

/**
 * Parses a wg-quick or wg(8) config file. Section headers and keys are case-insensitive;
 * AllowedIPs, Address, DNS and the hooks may repeat and add up; other keys may appear once
 * per section. CRLF line endings and a leading BOM are accepted.
 * Throws WGF_ERR_CONFIG_PARSE whose message and details name the line and the reason but
 * never the value (values may be keys).
 */
export function parseConfig(text: string, opts: ParseOptions = {}): WgConfig {
  const maxLength = opts.maxLength ?? DEFAULT_MAX_LENGTH;
  if (typeof text !== 'string') throw new FabricError('WGF_ERR_CONFIG_PARSE', 'config must be text', { line: 0 });
  if (text.length > maxLength) {
    throw new FabricError('WGF_ERR_CONFIG_PARSE', `config is longer than ${maxLength} characters`, { line: 0, length: text.length });
  }
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = src.split('\n');

  let iface: { section: InterfaceSection; line: number } | undefined;
  const peers: PeerSection[] = [];
  const peerLines = new Map<string, number>();
  let cur: OpenSection | undefined;
  let pending: string[] = [];

  const close = (): void => {
    if (!cur) return;
    if (cur.kind === 'interface') {
      const s = cur.iface!;
      if (cur.comments.length) s.comments = cur.comments;
      if (cur.extra.length) s.extra = cur.extra;
    } else {
      const p = cur.peer!;
      if (p.publicKey === undefined) fail(cur.line, '[Peer] section has no PublicKey');
      const first = peerLines.get(p.publicKey);
      if (first !== undefined) fail(cur.line, `[Peer] repeats the PublicKey of the peer at line ${first}`);
      peerLines.set(p.publicKey, cur.line);
      const nameAt = cur.comments.findIndex((c) => nameFromComment(c) !== null);
      if (nameAt >= 0) {
        p.name = nameFromComment(cur.comments[nameAt]!)!;
        cur.comments.splice(nameAt, 1);
      }
      if (cur.comments.length) p.comments = cur.comments;
      if (cur.extra.length) p.extra = cur.extra;
      peers.push(p as PeerSection);
    }
    cur = undefined;
  };

  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    let raw = lines[i]!;
    if (raw.endsWith('\r')) raw = raw.slice(0, -1);
    if (CONTROL_RE.test(raw)) fail(n, 'contains control characters (a binary file, or a stray carriage return?)');
    const hash = raw.indexOf('#');
    const body = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (hash >= 0) pending.push(raw.slice(hash).trim());
    if (body === '') continue;

    if (body.startsWith('[')) {
      const m = HEADER_RE.exec(body);
      if (!m) fail(n, 'unknown section header: expected [Interface] or [Peer]');
      // A comment on the header line belongs to the new section, like those above it.
      close();
      const kind = m[1]!.toLowerCase() as 'interface' | 'peer';
      cur = { kind, line: n, seen: new Map(), comments: pending, extra: [] };
      pending = [];
      if (kind === 'interface') {
        if (iface) fail(n, `second [Interface] section (the first is at line ${iface.line})`);
        cur.iface = newInterface();
        iface = { section: cur.iface, line: n };
      } else {
        cur.peer = { allowedIps: [] };
      }
      continue;
    }

    const eq = body.indexOf('=');
    if (eq < 0) fail(n, 'expected "Key = Value", a [Section] header or a # comment');
    const key = body.slice(0, eq).trim();
    const value = body.slice(eq + 1).trim();
    if (key === '') fail(n, 'missing key before "="');
    if (!cur) fail(n, 'a key before any [Interface] or [Peer] header');
    cur.comments.push(...pending);
    pending = [];
    applyKey(cur, key, value, n, opts.strict ?? false);
  }
  close();
  if (!iface) throw new FabricError('WGF_ERR_CONFIG_PARSE', 'no [Interface] section', { line: 0 });
  return { interface: iface.section, peers, ...(pending.length ? { trailingComments: pending } : {}) };
}

function applyKey(sec: OpenSection, key: string, value: string, n: number, strict: boolean): void {
  const k = key.toLowerCase();
  const name = KEY_NAMES.get(k);
  const own = sec.kind === 'interface' ? INTERFACE_KEYS : PEER_KEYS;
  if (name === undefined) {
    // Long names are not echoed: a pasted key would otherwise end up in the error message.
    const shown = key.length <= 32 && EXTRA_KEY_RE.test(key) ? ` "${key}"` : '';
    if (strict || !EXTRA_KEY_RE.test(key)) fail(n, `unknown key${shown}`);
    sec.extra.push({ key, value });
    return;
  }
  if (!own.has(k)) {
    fail(n, `${name} belongs in the [${sec.kind === 'interface' ? 'Peer' : 'Interface'}] section`, name);
  }
  if (!MULTI_KEYS.has(k)) {
    const first = sec.seen.get(k);
    if (first !== undefined) fail(n, `${name} is set twice in one section (first at line ${first})`, name);
    sec.seen.set(k, n);
  }
  const check = (c: Check, v: string): string => {
    const why = c(v);
    if (why !== null) fail(n, `${name} ${why}`, name);
    return v;
  };
  const num = (r: number | string): number => (typeof r === 'number' ? r : fail(n, `${name} ${r}`, name));
  const words = (): string[] => value.split(/[\s,]+/).filter((w) => w !== '');

  if (sec.kind === 'peer') {
    const p = sec.peer!;
    switch (k) {
      case 'publickey': p.publicKey = check(checkPublicKey, value); return;
      case 'presharedkey': p.presharedKey = check(checkPrivateKey, value); return;
      case 'endpoint': p.endpoint = check(checkEndpoint, value); return;
      case 'persistentkeepalive': p.persistentKeepalive = num(parseUint(value, 0, 65535, true)); return;
      case 'allowedips':
        // wg(8) splits on commas only; an empty value is allowed and adds nothing.
        if (value === '') return;
        for (const part of value.split(',')) {
          const cidr = part.trim();
          if (cidr === '') fail(n, `${name} has an empty entry`, name);
          p.allowedIps.push(check(checkCidr, cidr));
        }
        return;
    }
    return;
  }
  const s = sec.iface!;
  switch (k) {
    case 'privatekey': s.privateKey = check(checkPrivateKey, value); return;
    case 'listenport': s.listenPort = num(parseUint(value, 0, 65535)); return;
    case 'fwmark': s.fwMark = num(parseFwMark(value)); return;
    case 'mtu': s.mtu = num(parseUint(value, MTU_MIN, MTU_MAX)); return;
    case 'table': s.table = check(checkTable, value); return;
    case 'saveconfig': {
      const b = parseBool(value);
      s.saveConfig = typeof b === 'boolean' ? b : fail(n, `${name} ${b}`, name);
      return;
    }
    // wg-quick splits Address and DNS on commas and whitespace.
    case 'address': for (const w of words()) s.addresses.push(check(checkCidr, w)); return;
    case 'dns': for (const w of words()) s.dns.push(check(checkDns, w)); return;
    case 'preup': s.preUp.push(value); return;
    case 'postup': s.postUp.push(value); return;
    case 'predown': s.preDown.push(value); return;
    case 'postdown': s.postDown.push(value); return;
  }
}
