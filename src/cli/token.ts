/**
 * `wgfabric token create|list|rm`: API tokens for people and services. The secret is shown
 * once, at creation (printed, or written 0600 with --out); the control plane keeps only a hash.
 */
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ApiClient } from '../client/api-client.js';
import { FabricError } from '../protocol/errors.js';
import type { Role, TokenInfo } from '../protocol/types.js';
import { apiClient, apiOptions, type ApiFlags } from './context.js';
import { emit, renderFields, renderTable } from './output.js';

const ROLES: readonly Role[] = ['admin', 'operator', 'read-only', 'node'];
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * An expiry given as an RFC 3339 time or as a duration from `now` (`90s`, `30m`, `12h`, `30d`);
 * returns the ISO time. Throws WGF_ERR_VALIDATION naming the flag.
 */
export function parseExpiry(text: string, now: number = Date.now()): string {
  const d = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (d) return new Date(now + Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS]).toISOString();
  if (/^\d{4}-\d{2}-\d{2}T/.test(text) && Number.isFinite(Date.parse(text))) return new Date(Date.parse(text)).toISOString();
  throw new FabricError('WGF_ERR_VALIDATION', `--expires "${text}" must be a duration like 30d, 12h, 45m or an RFC 3339 time like 2030-01-01T00:00:00Z`);
}

/** Claims the --out file (0600, must not exist) before the token is made, so a bad path loses nothing. */
function claimOut(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new FabricError('WGF_ERR_VALIDATION', `cannot write the token to ${path}: ${code}${code === 'EEXIST' ? ' (the file exists; choose another path or remove it)' : ''}`);
  }
}

/** Finds a token by id or by name. */
async function findToken(api: ApiClient, idOrName: string): Promise<TokenInfo> {
  for await (const t of ApiClient.all((c) => api.listTokens({ limit: 1000, ...(c ? { cursor: c } : {}) }))) {
    if (t.id === idOrName || t.name === idOrName) return t;
  }
  throw new FabricError('WGF_ERR_NOT_FOUND', `no token with id or name "${idOrName}"; see wgfabric token list`);
}

function expiryText(t: TokenInfo, now = Date.now()): string {
  if (t.expiresAt === null) return 'never';
  return Date.parse(t.expiresAt) <= now ? `${t.expiresAt} (expired)` : t.expiresAt;
}

interface CreateFlags extends ApiFlags { role: Role; pool?: string; node?: string; expires?: string; out?: string }

export function registerTokenCommands(program: Command): Command {
  const token = program.command('token').description('API tokens: create (secret shown once), list, remove');

  apiOptions(token.command('create').description('create an API token; its secret is shown once (or written 0600 with --out)')
    .argument('<name>', 'unique name, recorded as the actor in the audit log')
    .addOption(new Option('--role <role>', 'what it may do').choices([...ROLES]).makeOptionMandatory())
    .option('--pool <pool>', "role node: the node's pool")
    .option('--node <node>', 'role node: the node')
    .option('--expires <when>', 'duration (30d, 12h, 45m) or RFC 3339 time; default never')
    .option('--out <file>', 'write the secret here (mode 0600, must not exist) instead of printing it'))
    .action(async (name: string, f: CreateFlags) => {
      const expiresAt = f.expires !== undefined ? parseExpiry(f.expires) : undefined;
      const api = apiClient(f);
      if (f.out) claimOut(f.out);
      let created;
      try {
        created = await api.createToken({ name, role: f.role, ...(f.pool ? { pool: f.pool } : {}), ...(f.node ? { node: f.node } : {}), ...(expiresAt ? { expiresAt } : {}) });
      } catch (e) {
        if (f.out) rmSync(f.out, { force: true });
        throw e;
      }
      if (f.out) {
        try {
          writeFileSync(f.out, created.secret + '\n', { mode: 0o600 });
        } catch (e) {
          // The secret exists nowhere else: take the token back rather than leave one nobody holds.
          await api.deleteToken(created.token.id).catch(() => {});
          throw new FabricError('WGF_ERR_VALIDATION', `cannot write the token to ${f.out}: ${(e as NodeJS.ErrnoException).code ?? 'error'}; the token was removed again`);
        }
      }
      const shown = f.out ? { token: created.token, file: f.out } : created;
      emit(Boolean(f.json), shown, () => renderFields([
        ['id', created.token.id], ['name', created.token.name], ['role', created.token.role], ['pool', created.token.pool], ['node', created.token.node],
        ['expires', expiryText(created.token)],
      ]) + (f.out ? `secret written to ${f.out} (mode 0600); it is not shown again\n` : `secret (shown once, store it now): ${created.secret}\n`));
    });

  apiOptions(token.command('list').description('list tokens (never their secrets)'))
    .action(async (f: ApiFlags) => {
      const api = apiClient(f);
      const items: TokenInfo[] = [];
      for await (const t of ApiClient.all((c) => api.listTokens({ limit: 1000, ...(c ? { cursor: c } : {}) }))) items.push(t);
      emit(Boolean(f.json), { items }, () => renderTable(items, [
        { header: 'ID', get: (t) => t.id }, { header: 'NAME', get: (t) => t.name }, { header: 'ROLE', get: (t) => t.role },
        { header: 'POOL', get: (t) => t.pool }, { header: 'NODE', get: (t) => t.node }, { header: 'CREATED', get: (t) => t.createdAt },
        { header: 'EXPIRES', get: (t) => expiryText(t) },
      ]));
    });

  apiOptions(token.command('rm').description('remove a token (by id or name); the last admin token cannot go')
    .argument('<token>', 'id or name'))
    .action(async (idOrName: string, f: ApiFlags) => {
      const api = apiClient(f);
      const t = await findToken(api, idOrName);
      await api.deleteToken(t.id);
      emit(Boolean(f.json), { removed: t }, () => `token ${t.name} (${t.id}, ${t.role}) removed\n`);
    });
  return token;
}
