/**
 * What an audited change changed: the before/after of each changed field of the object's
 * record, with secrets never shown. Pure; context.ts applies it to every audited mutation.
 */
import type { AuditChange } from '../protocol/types.js';

/** Bookkeeping fields that change with every write or say nothing to an operator. */
const NOT_SHOWN = new Set(['createdAt', 'updatedAt', 'deleting', 'nodeCreateRevision', 'nodeCreatedAt']);

/**
 * Fields holding secrets or their derivatives (sealed keys, token hashes): shown as
 * "(set)"/"(none)", and "(changed)" when a set secret was replaced, never by value.
 */
export function isSecretField(field: string): boolean {
  return /sealed$|^hash$|secret|privatekey|presharedkey|password|^token$/i.test(field);
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The changed top-level fields between two records (null: the object did not exist before /
 * does not exist after), sorted by field name. Secret fields appear under their name without
 * the "Sealed" suffix, with `secret: true` and placeholders instead of values.
 */
export function auditChanges(before: Record<string, unknown> | null, after: Record<string, unknown> | null): AuditChange[] {
  const fields = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].filter((f) => !NOT_SHOWN.has(f)).sort();
  const out: AuditChange[] = [];
  for (const f of fields) {
    const b = before?.[f];
    const a = after?.[f];
    if (same(b, a)) continue;
    if (isSecretField(f)) {
      const name = f.replace(/Sealed$/, '');
      out.push({ field: name, secret: true, before: b === undefined || b === null ? '(none)' : '(set)', after: a === undefined || a === null ? '(none)' : b === undefined || b === null ? '(set)' : '(changed)' });
      continue;
    }
    out.push({ field: f, ...(b === undefined ? {} : { before: b }), ...(a === undefined ? {} : { after: a }) });
  }
  return out;
}

/** The store key of the record an audit entry's object names (pools/<p> -> pools/<p>/pool), or null (store, reads). */
export function auditedKey(kind: string, object: string): string | null {
  if (kind === 'pool') return /^pools\/[^/]+$/.test(object) ? `${object}/pool` : null;
  if (kind === 'node' || kind === 'peer' || kind === 'token') return object;
  return null;
}
