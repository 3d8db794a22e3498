/**
 * `wgfabric audit [--since TIME|DURATION|REV] [--actor A] [--kind K] [--action X]
 *   [--object PREFIX] [--limit N] [--oldest-first] [--follow] [--json]`
 *
 * The control plane's audit trail, newest first by default. Filters by actor, kind, action
 * and object path run on the server; --since (a time, a duration back from now, or a
 * revision) here. --follow prints the matching entries, then new ones as they are written
 * (polling every --interval-ms, resuming after the last entry seen), oldest first, until
 * interrupted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { ApiClient } from '../client/api-client.js';
import { FabricError } from '../protocol/errors.js';
import type { AuditChange, AuditEntry } from '../protocol/types.js';
import type { AuditListFilter } from '../protocol/api.js';
import { apiClient, apiOptions, positiveInt, type ApiFlags } from './context.js';
import { renderTable } from './output.js';

const KINDS: readonly AuditEntry['kind'][] = ['pool', 'node', 'peer', 'token', 'store', 'master-key'];
const ACTIONS: readonly AuditEntry['action'][] = ['create', 'update', 'delete', 'read', 'compact'];
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Where an audit listing starts: after a revision, or at a time. */
export type Since = { revision: number } | { time: number };

/** Parses --since: `r123`/`123` (a revision), `15m`/`2h`/`7d` (back from now) or an RFC 3339 time. */
export function parseSince(text: string, now: number = Date.now()): Since {
  const t = text.trim();
  const rev = /^r?(\d{1,15})$/.exec(t);
  if (rev) return { revision: Number(rev[1]) };
  const d = /^(\d{1,6})([smhd])$/.exec(t);
  if (d) return { time: now - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS] };
  if (/^\d{4}-\d{2}-\d{2}T/.test(t) && Number.isFinite(Date.parse(t))) return { time: Date.parse(t) };
  throw new FabricError('WGF_ERR_VALIDATION', `--since "${text}" must be a revision (123 or r123), a duration back from now (15m, 2h, 7d) or an RFC 3339 time`);
}

/** True when the entry is at or after `since`. */
export function isSince(e: AuditEntry, since: Since | undefined): boolean {
  if (!since) return true;
  return 'revision' in since ? e.revision > since.revision : Date.parse(e.time) >= since.time;
}

/** An entry's changes in one line: `adminState: "active" -> "draining"; presharedKey: (none) -> (set)` (secrets never by value). */
export function renderChanges(changes: readonly AuditChange[] | undefined): string {
  if (!changes || changes.length === 0) return '';
  const v = (c: AuditChange, x: unknown): string => (c.secret ? String(x) : x === undefined ? '-' : JSON.stringify(x));
  return changes.map((c) => `${c.field}: ${v(c, c.before)} -> ${v(c, c.after)}`).join('; ');
}

export function renderAudit(entries: readonly AuditEntry[], header = true): string {
  const text = renderTable(entries, [
    { header: 'TIME', get: (e) => e.time }, { header: 'REV', get: (e) => e.revision }, { header: 'ACTOR', get: (e) => e.actor },
    { header: 'ACTION', get: (e) => e.action }, { header: 'KIND', get: (e) => e.kind }, { header: 'OBJECT', get: (e) => e.object },
    { header: 'CHANGES', get: (e) => renderChanges(e.changes) || null },
  ]);
  return header ? text : text.split('\n').slice(1).join('\n');
}

interface AuditFlags extends ApiFlags {
  since?: string; actor?: string; kind?: AuditEntry['kind']; action?: AuditEntry['action']; object?: string;
  limit: number; oldestFirst?: boolean; follow?: boolean; intervalMs: number;
}

/** Reads every entry after `afterId` that the server-side filter passes, oldest first. */
async function readAll(api: ApiClient, filter: Partial<AuditListFilter>, afterId?: string): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const e of ApiClient.all((c) => api.listAudit({ ...filter, limit: 1000, ...(c ? { cursor: c } : afterId ? { afterId } : {}) }))) out.push(e);
  return out;
}

export function registerAuditCommand(program: Command): Command {
  return apiOptions(program.command('audit')
    .description('the audit trail (who changed what, at which revision), newest first')
    .option('--since <when>', 'a revision (123), a duration back from now (15m, 2h, 7d) or an RFC 3339 time')
    .option('--actor <name>', 'only this actor (token name)')
    .addOption(new Option('--kind <kind>', 'only this kind of object').choices([...KINDS]))
    .addOption(new Option('--action <action>', 'only this action').choices([...ACTIONS]))
    .option('--object <prefix>', 'only objects under this path, e.g. pools/office/')
    .option('--limit <n>', 'at most this many entries (default 50; not with --follow)', positiveInt('--limit'), 50)
    .option('--oldest-first', 'oldest entries first')
    .option('--follow', 'keep printing new entries as they are written (oldest first)')
    .option('--interval-ms <ms>', 'how often --follow asks for new entries', positiveInt('--interval-ms'), 2000))
    .action(async (f: AuditFlags) => {
      const since = f.since !== undefined ? parseSince(f.since) : undefined;
      const api = apiClient(f);
      const filter: Partial<AuditListFilter> = {
        ...(f.actor ? { actor: f.actor } : {}), ...(f.kind ? { kind: f.kind } : {}), ...(f.action ? { action: f.action } : {}), ...(f.object ? { object: f.object } : {}),
      };
      const raw = await readAll(api, filter);
      const all = raw.filter((e) => isSince(e, since));
      if (!f.follow) {
        const picked = f.oldestFirst ? all.slice(0, f.limit) : all.slice(-f.limit).reverse();
        process.stdout.write(f.json ? JSON.stringify({ items: picked }, null, 2) + '\n' : renderAudit(picked));
        return;
      }
      // Follow: one JSON object per line with --json, table rows otherwise.
      const print = (items: readonly AuditEntry[], header: boolean) => {
        if (items.length === 0) return;
        process.stdout.write(f.json ? items.map((e) => JSON.stringify(e)).join('\n') + '\n' : renderAudit(items, header));
      };
      print(all, true);
      let last = raw.at(-1)?.id;
      let header = all.length === 0;
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        while (!stop.signal.aborted) {
          await sleep(f.intervalMs, undefined, { signal: stop.signal }).catch(() => {});
          if (stop.signal.aborted) break;
          const got = await readAll(api, filter, last);
          const fresh = got.filter((e) => isSince(e, since));
          print(fresh, header);
          if (fresh.length > 0) header = false;
          if (got.length > 0) last = got.at(-1)!.id;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
