import type { AuditListFilter } from '../protocol/api.js';
import type { AuditEntry, Page } from '../protocol/types.js';
import type { Ctx } from './context.js';
import { AUDIT_PREFIX } from './keys.js';
import { encodeCursor, pageLimit, scanPage } from './paging.js';
import { auditEntity } from './records.js';

/**
 * The audit log, oldest first (ids sort by time). Filters: exact actor, kind and action, and
 * an object path prefix (e.g. "pools/demo/"). Entries are written by context.commit in the
 * same txn as the change they describe; this module only reads them.
 */
export function listAudit(ctx: Ctx, filter: Omit<AuditListFilter, 'limit'> & { limit?: number | undefined }): Promise<Page<AuditEntry>> {
  // afterId resumes after a known entry (a follower's last one); an explicit cursor wins.
  const cursor = filter.cursor ?? (filter.afterId !== undefined ? encodeCursor(AUDIT_PREFIX + filter.afterId) : undefined);
  return scanPage(ctx.store, AUDIT_PREFIX, AUDIT_PREFIX, { limit: pageLimit(filter.limit), ...(cursor ? { cursor } : {}) }, (kv) => {
    const e = auditEntity(kv, kv.key.slice(AUDIT_PREFIX.length));
    if (filter.actor !== undefined && e.actor !== filter.actor) return null;
    if (filter.kind !== undefined && e.kind !== filter.kind) return null;
    if (filter.action !== undefined && e.action !== filter.action) return null;
    if (filter.object !== undefined && !e.object.startsWith(filter.object)) return null;
    return e;
  });
}
