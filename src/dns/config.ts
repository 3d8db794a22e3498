/**
 * Settings of `wgfabric dns run`, validated in one place (WGF_ERR_VALIDATION naming the flag).
 * Pure except readTsigKeyFile, which reads the key file.
 */
import { readFileSync, statSync } from 'node:fs';
import { FabricError } from '../protocol/errors.js';
import { parseIpPort } from '../lb/addr.js';
import { inZone, normalizeName } from './wire.js';
import { parseTsigKey, type TsigKey } from './tsig.js';
import type { DnsServer } from './client.js';

export const DEFAULT_DNS_TTL = 10;
export const MAX_DNS_TTL = 86_400;

export interface DnsRunFlags {
  readonly zone: string;
  readonly name: string;
  readonly server: string;
  readonly ttl: number;
  readonly source: string;
}

export interface DnsRunSettings {
  readonly zone: string;
  readonly name: string;
  readonly server: DnsServer;
  readonly ttl: number;
  readonly source: 'nodes' | 'lbs';
}

const invalid = (field: string, message: string, value?: unknown): FabricError =>
  new FabricError('WGF_ERR_VALIDATION', message, { field, ...(value === undefined ? {} : { value }) });

/** The DNS server: IPv4, [IPv6], either with :PORT (default 53). A host name is refused (the updater must not depend on resolving it). */
export function parseDnsServer(text: string): DnsServer {
  const t = text.trim();
  const withPort = /^\[.*\]:\d+$/.test(t) || /^[0-9.]+:\d+$/.test(t) ? t : t.includes(':') && !t.startsWith('[') ? `[${t}]:53` : `${t.replace(/^\[(.*)\]$/, '[$1]')}:53`;
  try {
    const { address, port } = parseIpPort(withPort, '--dns-server');
    return { host: address, port };
  } catch {
    throw invalid('dnsServer', `--dns-server must be IP, IP:PORT or [IPv6]:PORT of the authoritative server, got "${text}"`, text);
  }
}

/** Validates the flags of `dns run` (see DnsRunFlags). */
export function dnsRunSettings(f: DnsRunFlags): DnsRunSettings {
  const zone = normalizeName(f.zone, '--zone');
  if (zone === '') throw invalid('zone', '--zone must name a zone, not the root');
  const name = normalizeName(f.name, '--name');
  if (!inZone(name, zone)) throw invalid('name', `--name ${name} is not in --zone ${zone}`, name);
  if (!Number.isInteger(f.ttl) || f.ttl < 1 || f.ttl > MAX_DNS_TTL) throw invalid('ttl', `--ttl must be 1..${MAX_DNS_TTL} seconds, got ${f.ttl}`, f.ttl);
  if (f.source !== 'nodes' && f.source !== 'lbs') throw invalid('source', `--source must be nodes or lbs, got "${f.source}"`, f.source);
  return { zone, name, server: parseDnsServer(f.server), ttl: f.ttl, source: f.source };
}

/** Reads and parses the TSIG key file; `warn` hears when group or others may read it. */
export function readTsigKeyFile(file: string, warn: (msg: string) => void = () => {}): TsigKey {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
    if ((statSync(file).mode & 0o077) !== 0) warn(`the TSIG key file ${file} is readable by group or others; chmod 600 it`);
  } catch (e) {
    throw invalid('tsigKeyFile', `cannot read the TSIG key file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
  return parseTsigKey(text, file);
}
