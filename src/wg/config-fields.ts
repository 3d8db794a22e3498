import { FabricError } from '../protocol/errors.js';
import { parseKey, parsePublicKey } from './keys.js';
import { ipFamily, isHostname, parseCidr, parseEndpoint } from './addr.js';

/**
 * Value checks shared by the config parser (which reports a line number) and the renderer
 * (which reports a field path). Each check returns null when the value is fine, or a reason
 * that never contains the value itself: values may be keys.
 */
export type Check = (value: string) => string | null;

/** Control characters other than tab: they break the line structure of a file (or smuggle lines). */
export const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/;
const INTEGER_RE = /^[0-9]{1,10}$/;
const HEX_INTEGER_RE = /^0x[0-9a-f]{1,8}$/i;
const TABLE_RE = /^(?:off|auto|[0-9]{1,10}|[A-Za-z_][A-Za-z0-9_.-]{0,63})$/i;
/** Names an unknown key may have to be kept; anything else in key position is an error. */
export const EXTRA_KEY_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const BOOL_RE = /^(?:true|false)$/i;

/** Keys of an [Interface] section (wg(8) and wg-quick); lower case. */
export const INTERFACE_KEYS: ReadonlySet<string> = new Set(['privatekey', 'listenport', 'fwmark', 'address', 'dns', 'mtu', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig']);
/** Keys of a [Peer] section; lower case. */
export const PEER_KEYS: ReadonlySet<string> = new Set(['publickey', 'presharedkey', 'allowedips', 'endpoint', 'persistentkeepalive']);
/** Keys that may repeat, their values adding up. */
export const MULTI_KEYS: ReadonlySet<string> = new Set(['address', 'dns', 'preup', 'postup', 'predown', 'postdown', 'allowedips']);
/** Canonical spelling of each known key (lower case in), for messages and rendering. */
export const KEY_NAMES: ReadonlyMap<string, string> = new Map([
  ['privatekey', 'PrivateKey'], ['listenport', 'ListenPort'], ['fwmark', 'FwMark'], ['address', 'Address'], ['dns', 'DNS'],
  ['mtu', 'MTU'], ['table', 'Table'], ['preup', 'PreUp'], ['postup', 'PostUp'], ['predown', 'PreDown'],
  ['postdown', 'PostDown'], ['saveconfig', 'SaveConfig'], ['publickey', 'PublicKey'], ['presharedkey', 'PresharedKey'],
  ['allowedips', 'AllowedIPs'], ['endpoint', 'Endpoint'], ['persistentkeepalive', 'PersistentKeepalive'],
]);

/** True when `key` (any case) is a key this module models; such keys cannot be `extra`. */
export function isKnownKey(key: string): boolean {
  const k = key.toLowerCase();
  return INTERFACE_KEYS.has(k) || PEER_KEYS.has(k);
}

/** MTU bounds accepted in config files (IPv4 minimum .. largest IP packet). */
export const MTU_MIN = 68;
export const MTU_MAX = 65535;

/** An unsigned decimal integer in [min, max], or a reason. */
export function parseUint(value: string, min: number, max: number, offWord = false): number | string {
  if (offWord && value.toLowerCase() === 'off') return 0;
  if (!INTEGER_RE.test(value)) return `must be a whole number from ${min} to ${max}${offWord ? ' or off' : ''}`;
  const n = Number(value);
  return n >= min && n <= max ? n : `must be from ${min} to ${max}`;
}

/** A firewall mark as wg(8) reads it: off, decimal or 0x-hex, at most 32 bits. */
export function parseFwMark(value: string): number | string {
  if (value.toLowerCase() === 'off') return 0;
  if (HEX_INTEGER_RE.test(value)) return Number.parseInt(value.slice(2), 16);
  const n = parseUint(value, 0, 0xffffffff);
  return typeof n === 'number' ? n : 'must be off, a decimal number or 0x-hex of at most 32 bits';
}

/** true/false in any case, as wg-quick reads SaveConfig. */
export function parseBool(value: string): boolean | string {
  return BOOL_RE.test(value) ? value.toLowerCase() === 'true' : 'must be true or false';
}

function keyReason(e: unknown): string {
  // keys.ts messages name the field and the expected form, never the value.
  return e instanceof FabricError ? e.message : 'is not a valid key';
}

/** A base64 key as config files hold it (wg(8) does not read hex there). */
export const checkPrivateKey: Check = (v) => {
  if (v.length !== 44) return 'is not a 32-byte key in base64 (44 chars)';
  try {
    parseKey(v, 'key');
    return null;
  } catch (e) {
    return keyReason(e);
  }
};

/** A base64 public key that is not all-zero or of low order. */
export const checkPublicKey: Check = (v) => {
  if (v.length !== 44) return 'is not a 32-byte key in base64 (44 chars)';
  try {
    parsePublicKey(v, 'public key');
    return null;
  } catch (e) {
    return keyReason(e);
  }
};

/** An interface address or AllowedIPs entry: IP or IP/prefix. */
export const checkCidr: Check = (v) => (parseCidr(v) ? null : 'is not a valid IP address or prefix (CIDR)');

/** A DNS entry: a resolver IP or a search domain (wg-quick tells them apart the same way). */
export const checkDns: Check = (v) =>
  ipFamily(v) !== null || isHostname(v) ? null : 'is neither an IP address nor a valid search domain';

/** host:port, [v6]:port or name:port. */
export const checkEndpoint: Check = (v) =>
  parseEndpoint(v) ? null : 'is not host:port, [IPv6]:port or name:port with a port from 1 to 65535';

/** A routing table: off, auto, a number or a name from rt_tables. */
export const checkTable: Check = (v) => (TABLE_RE.test(v) ? null : 'must be off, auto, a table number or a table name');

/** A free-text value (hook command, unknown key's value): one line, no '#'. */
export const checkText: Check = (v) => {
  if (CONTROL_RE.test(v)) return 'contains control characters or a line break';
  if (v.includes('#')) return "contains '#', which starts a comment in config files";
  if (v !== v.trim()) return 'has leading or trailing whitespace';
  return null;
};

/** A comment line as kept in the model: starts with '#', one line. */
export const checkComment: Check = (v) => {
  if (!v.startsWith('#')) return "must start with '#'";
  if (CONTROL_RE.test(v)) return 'contains control characters or a line break';
  return v === v.trim() ? null : 'has leading or trailing whitespace';
};

/** A peer name, stored in a `# Name = ...` comment. */
export const checkName: Check = (v) => {
  if (v.length === 0 || v !== v.trim()) return 'must be non-empty without leading or trailing whitespace';
  return CONTROL_RE.test(v) ? 'contains control characters or a line break' : null;
};

const NAME_COMMENT_RE = /^#\s*name\s*=\s*(\S(?:.*\S)?)\s*$/i;

/** The peer name held by a `# Name = alice` comment line, or null. */
export function nameFromComment(line: string): string | null {
  const m = NAME_COMMENT_RE.exec(line);
  return m ? m[1]! : null;
}
