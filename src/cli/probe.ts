/**
 * `wgfabric probe HOST:PORT --server-key PUBKEY --key-file FILE [--psk-file FILE]
 *   [--ping TUNNEL_IP --source OUR_TUNNEL_IP] [--timeout MS] [--json]`
 *
 * Health-checks one WireGuard server with a real handshake (and optionally an ICMP echo
 * through the tunnel). Failures are thrown as FabricError for main() to report; the private
 * key is read from a file and never printed.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Command, Option } from 'commander';
import { FabricError } from '../protocol/errors.js';
import { parseKey, parsePublicKey } from '../wg/keys.js';
import { fmt } from '../probe/machine.js';
import { probe as realProbe, type ProbeOptions, type ProbeResult } from '../probe/probe.js';

export interface ProbeCommandDeps {
  /** Where results go (default process.stdout). */
  readonly write?: (text: string) => void;
  /** The probe to run (tests substitute a fake). */
  readonly probe?: (o: ProbeOptions) => Promise<ProbeResult>;
}

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/**
 * Parses "HOST:PORT" where HOST is an IPv4 literal, a host name, or an IPv6 literal in
 * brackets ("[fd00::1]:51820"). Throws WGF_ERR_VALIDATION naming what is wrong.
 */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) throw new FabricError('WGF_ERR_VALIDATION', `endpoint "${text}" must be HOST:PORT or [IPv6]:PORT`);
  const host = m[1]!;
  const port = Number(m[2]);
  const bracketed = text.startsWith('[');
  if (bracketed ? isIP(host) !== 6 : isIP(host) !== 4 && !HOSTNAME_RE.test(host)) {
    throw new FabricError('WGF_ERR_VALIDATION', `endpoint host "${host}" is not ${bracketed ? 'an IPv6 address' : 'an IPv4 address or host name'}`);
  }
  if (port < 1 || port > 65535) throw new FabricError('WGF_ERR_VALIDATION', `endpoint port ${m[2]} is not in 1..65535`);
  return { host, port };
}

async function readKeyFile(path: string, what: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new FabricError('WGF_ERR_VALIDATION', `cannot read the ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  // parseKey never echoes the input, so a malformed secret does not leak into the message.
  return parseKey(text, `${what} in ${path}`);
}

function parseTimeout(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 600_000) throw new FabricError('WGF_ERR_VALIDATION', `--timeout must be 1..600000 milliseconds, got "${v}"`);
  return n;
}

interface Flags {
  serverKey: string;
  keyFile: string;
  pskFile?: string;
  ping?: string;
  source?: string;
  timeout: number;
  json?: boolean;
}

/** Registers `probe` on a commander program. The action resolves on success and throws FabricError on failure. */
export function registerProbeCommand(program: Command, deps: ProbeCommandDeps = {}): Command {
  const write = deps.write ?? ((t: string) => void process.stdout.write(t));
  const run = deps.probe ?? realProbe;
  return program
    .command('probe')
    .description('health-check a WireGuard server with a real handshake (and optionally an ICMP echo through the tunnel)')
    .argument('<endpoint>', 'server HOST:PORT or [IPv6]:PORT')
    .requiredOption('--server-key <pubkey>', "the server's public key (base64 or hex)")
    .requiredOption('--key-file <file>', "file holding the probe's private key (its public key must be a peer on the server)")
    .option('--psk-file <file>', 'file holding the preshared key, if the peer has one')
    .option('--ping <tunnel-ip>', 'after the handshake, ping this address through the tunnel')
    .option('--source <tunnel-ip>', 'our tunnel address for --ping (inside our allowed-ips on the server)')
    .addOption(new Option('--timeout <ms>', 'budget for the whole probe').default(5000).argParser(parseTimeout))
    .option('--json', 'print the result as JSON')
    .action(async (endpointText: string, f: Flags) => {
      const { host, port } = parseHostPort(endpointText);
      const serverPublicKey = parsePublicKey(f.serverKey, '--server-key');
      if ((f.ping === undefined) !== (f.source === undefined)) throw new FabricError('WGF_ERR_VALIDATION', '--ping and --source go together');
      if (f.ping !== undefined && f.source !== undefined && (isIP(f.ping) === 0 || isIP(f.ping) !== isIP(f.source))) {
        throw new FabricError('WGF_ERR_VALIDATION', '--ping and --source must be IP addresses of the same family');
      }
      const privateKey = await readKeyFile(f.keyFile, 'private key');
      const presharedKey = f.pskFile !== undefined ? await readKeyFile(f.pskFile, 'preshared key') : undefined;
      const result = await run({
        host,
        port,
        serverPublicKey,
        privateKey,
        ...(presharedKey ? { presharedKey } : {}),
        ...(f.ping !== undefined && f.source !== undefined ? { ping: { target: f.ping, source: f.source } } : {}),
        timeoutMs: f.timeout,
      });
      write(f.json ? JSON.stringify({ ok: true, ...result }) + '\n' : formatResult(result) + '\n');
    });
}

/** One line for people: "handshake with H:P ok in 1.8 ms; echo reply from 10.0.0.1 in 0.9 ms". */
export function formatResult(r: ProbeResult): string {
  const echo = r.echoMs !== undefined ? `; echo reply from ${r.echoFrom} in ${fmt(r.echoMs)} ms` : '';
  const notes = [r.attempts > 1 ? `${r.attempts} initiations` : '', r.cookieUsed ? 'server under load, cookie used' : ''].filter(Boolean);
  return `handshake with ${r.endpoint} ok in ${fmt(r.handshakeMs)} ms${echo}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}
