import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient, type ApiClientOptions } from '../client/api-client.js';
import { readCaFile } from '../client/tls.js';
import { FabricError } from '../protocol/errors.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:7080';
export const DEFAULT_TOKEN_FILE = './.wgfabric/token';

/** Flags every API command takes. */
export interface ApiFlags {
  server?: string;
  tokenFile?: string;
  caFile?: string;
  json?: boolean;
}

/** Help text of `--server`, shared by every command that talks to the API. */
export const SERVER_HELP = 'control plane URL, or the URLs of its replicas comma-separated (fails over between them)';

/** Help text of `--ca-file`, shared by every command that talks to the API. */
export const CA_FILE_HELP = 'PEM CA certificate(s) to trust for an https:// server instead of the public roots';

/** Adds --server, --token-file, --ca-file and --json to a command. */
export function apiOptions(cmd: Command): Command {
  return cmd
    .option('--server <url[,url...]>', `${SERVER_HELP} (default ${DEFAULT_SERVER})`)
    .option('--token-file <file>', `API token file (env WGFABRIC_TOKEN or WGFABRIC_TOKEN_FILE, default ${DEFAULT_TOKEN_FILE})`)
    .option('--ca-file <file>', CA_FILE_HELP)
    .option('--json', 'machine-readable JSON output');
}

/** Resolves the token: --token-file, WGFABRIC_TOKEN, WGFABRIC_TOKEN_FILE, then the default file. */
export function resolveToken(flags: ApiFlags, env: NodeJS.ProcessEnv = process.env): string {
  if (!flags.tokenFile && env.WGFABRIC_TOKEN) return env.WGFABRIC_TOKEN.trim();
  const file = flags.tokenFile ?? env.WGFABRIC_TOKEN_FILE ?? DEFAULT_TOKEN_FILE;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new FabricError('WGF_ERR_UNAUTHORIZED', `no API token: cannot read ${file}; pass --token-file or set WGFABRIC_TOKEN`);
  }
}

/** The CA to trust: --ca-file, then WGFABRIC_CA_FILE; undefined (public roots) without either. */
export function resolveCa(flags: ApiFlags, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = flags.caFile || env.WGFABRIC_CA_FILE;
  return file ? readCaFile(file) : undefined;
}

/**
 * The API client of a command: server(s), token and CA from its flags or the environment;
 * `extra` adds client options (e.g. a failover log line for long-running roles).
 */
export function apiClient(flags: ApiFlags, env: NodeJS.ProcessEnv = process.env, extra: Pick<ApiClientOptions, 'onFailover' | 'fetch'> = {}): ApiClient {
  const ca = resolveCa(flags, env);
  return new ApiClient({ baseUrl: flags.server ?? env.WGFABRIC_SERVER ?? DEFAULT_SERVER, token: resolveToken(flags, env), ...(ca !== undefined ? { ca } : {}), ...extra });
}

/** Collects repeatable `--label k=v` options into a record. */
export function collectLabel(value: string, prev: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf('=');
  if (i <= 0) throw new FabricError('WGF_ERR_VALIDATION', `--label must be KEY=VALUE, got "${value}"`);
  return { ...prev, [value.slice(0, i)]: value.slice(i + 1) };
}

export function commaList(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new FabricError('WGF_ERR_VALIDATION', `${name} must be a non-negative integer, got "${value}"`);
    return n;
  };
}
