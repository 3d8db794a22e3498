import { FabricError } from '../protocol/errors.js';
import {
  EXTRA_KEY_RE, MTU_MAX, MTU_MIN, checkCidr, checkComment, checkDns, checkEndpoint, checkName, checkPrivateKey,
  checkPublicKey, checkTable, checkText, isKnownKey, type Check,
} from './config-fields.js';
import type { ExtraLine, InterfaceSection, PeerSection, WgConfig } from './config.js';

/**
 * Renders the canonical text of a config: sections separated by blank lines, keys in a fixed
 * order with canonical spelling, lists comma-separated on one line, comments above their
 * section header (a peer's name first, as `# Name = ...`). parseConfig(renderConfig(c))
 * deep-equals c for every valid c (empty optional lists omitted).
 * Validates the model first and throws WGF_ERR_VALIDATION naming the field (never the value),
 * so nothing a caller puts in a string can add lines to the file.
 */
export function renderConfig(cfg: WgConfig): string {
  return render(cfg, true);
}

/**
 * The wg(8) subset of renderConfig: exactly what `wg-quick strip` prints for that file,
 * without echo's final extra newline. wg-quick-only keys (Address, DNS, MTU, Table, the
 * hooks, SaveConfig) are dropped; comments and `extra` lines stay, as wg-quick keeps them
 * (wg(8) itself refuses unknown keys).
 */
export function renderSetconf(cfg: WgConfig): string {
  return render(cfg, false);
}

function invalid(field: string, reason: string): never {
  throw new FabricError('WGF_ERR_VALIDATION', `cannot render config: ${field} ${reason}`, { field });
}

function checked(field: string, check: Check, value: unknown): string {
  if (typeof value !== 'string') invalid(field, 'must be a string');
  const why = check(value);
  if (why !== null) invalid(field, why);
  return value;
}

function integer(field: string, value: number, min: number, max: number): string {
  if (!Number.isInteger(value) || value < min || value > max) invalid(field, `must be a whole number from ${min} to ${max}`);
  return String(value);
}

function list(field: string, check: Check, values: readonly string[]): string[] {
  if (!Array.isArray(values)) invalid(field, 'must be a list');
  return values.map((v, i) => checked(`${field}[${i}]`, check, v));
}

function comments(field: string, lines: readonly string[] | undefined): string[] {
  return list(field, checkComment, lines ?? []);
}

function extras(field: string, lines: readonly ExtraLine[] | undefined, out: string[]): void {
  (lines ?? []).forEach((x, i) => {
    if (typeof x?.key !== 'string' || !EXTRA_KEY_RE.test(x.key) || isKnownKey(x.key)) {
      invalid(`${field}[${i}].key`, 'must be an unknown key name (letters, digits, _ . -)');
    }
    const value = checked(`${field}[${i}].value`, checkText, x.value);
    out.push(value === '' ? `${x.key} =` : `${x.key} = ${value}`);
  });
}

function renderInterface(s: InterfaceSection, full: boolean, out: string[]): void {
  out.push(...comments('interface.comments', s.comments), '[Interface]');
  if (s.privateKey !== undefined) out.push(`PrivateKey = ${checked('interface.privateKey', checkPrivateKey, s.privateKey)}`);
  if (s.listenPort !== undefined) out.push(`ListenPort = ${integer('interface.listenPort', s.listenPort, 0, 65535)}`);
  if (s.fwMark !== undefined) out.push(`FwMark = ${integer('interface.fwMark', s.fwMark, 0, 0xffffffff)}`);
  // Validate the wg-quick keys even when they are not written, so both renderings agree.
  const quick: string[] = [];
  const addresses = list('interface.addresses', checkCidr, s.addresses);
  if (addresses.length) quick.push(`Address = ${addresses.join(', ')}`);
  const dns = list('interface.dns', checkDns, s.dns);
  if (dns.length) quick.push(`DNS = ${dns.join(', ')}`);
  if (s.mtu !== undefined) quick.push(`MTU = ${integer('interface.mtu', s.mtu, MTU_MIN, MTU_MAX)}`);
  if (s.table !== undefined) quick.push(`Table = ${checked('interface.table', checkTable, s.table)}`);
  for (const [key, field] of [['PreUp', 'preUp'], ['PostUp', 'postUp'], ['PreDown', 'preDown'], ['PostDown', 'postDown']] as const) {
    for (const cmd of list(`interface.${field}`, checkText, s[field])) quick.push(cmd === '' ? `${key} =` : `${key} = ${cmd}`);
  }
  if (s.saveConfig !== undefined) {
    if (typeof s.saveConfig !== 'boolean') invalid('interface.saveConfig', 'must be a boolean');
    quick.push(`SaveConfig = ${s.saveConfig}`);
  }
  if (full) out.push(...quick);
  extras('interface.extra', s.extra, out);
}

function renderPeer(p: PeerSection, i: number, out: string[]): void {
  const f = `peers[${i}]`;
  if (p.name !== undefined) out.push(`# Name = ${checked(`${f}.name`, checkName, p.name)}`);
  out.push(...comments(`${f}.comments`, p.comments), '[Peer]');
  out.push(`PublicKey = ${checked(`${f}.publicKey`, checkPublicKey, p.publicKey)}`);
  if (p.presharedKey !== undefined) out.push(`PresharedKey = ${checked(`${f}.presharedKey`, checkPrivateKey, p.presharedKey)}`);
  const ips = list(`${f}.allowedIps`, checkCidr, p.allowedIps);
  if (ips.length) out.push(`AllowedIPs = ${ips.join(', ')}`);
  if (p.endpoint !== undefined) out.push(`Endpoint = ${checked(`${f}.endpoint`, checkEndpoint, p.endpoint)}`);
  if (p.persistentKeepalive !== undefined) {
    out.push(`PersistentKeepalive = ${integer(`${f}.persistentKeepalive`, p.persistentKeepalive, 0, 65535)}`);
  }
  extras(`${f}.extra`, p.extra, out);
}

function render(cfg: WgConfig, full: boolean): string {
  if (!cfg || typeof cfg !== 'object' || !cfg.interface) invalid('interface', 'is missing');
  if (!Array.isArray(cfg.peers)) invalid('peers', 'must be a list');
  const out: string[] = [];
  renderInterface(cfg.interface, full, out);
  const seen = new Map<string, number>();
  cfg.peers.forEach((p, i) => {
    const first = seen.get(p?.publicKey);
    if (first !== undefined) invalid(`peers[${i}].publicKey`, `repeats the key of peers[${first}]`);
    seen.set(p?.publicKey, i);
    out.push('');
    renderPeer(p, i, out);
  });
  const trailing = comments('trailingComments', cfg.trailingComments);
  if (trailing.length) out.push('', ...trailing);
  return `${out.join('\n')}\n`;
}
