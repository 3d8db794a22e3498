/** Output for people (aligned tables, key: value blocks) and for scripts (--json). */

export interface Column<T> {
  readonly header: string;
  readonly get: (row: T) => string | number | boolean | null | undefined;
}

/** Renders rows as an aligned text table with a header line. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => cellText(c.get(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: readonly string[]) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** Renders an object as `key: value` lines, in the given order. */
export function renderFields(fields: readonly (readonly [string, unknown])[]): string {
  const w = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${(k + ':').padEnd(w + 1)} ${cellText(v)}`).join('\n') + '\n';
}

function cellText(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length ? v.join(',') : '-';
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    return entries.length ? entries.map(([k, x]) => `${k}=${String(x)}`).join(',') : '-';
  }
  return String(v);
}

/** Writes either JSON (stable, for scripts) or the human text. */
export function emit(json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(data, null, 2) + '\n' : human());
}
