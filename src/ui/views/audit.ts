import { useEffect, useState } from 'preact/hooks';
import type { AuditEntry } from '../../protocol/types.js';
import { html } from '../html.js';
import { auditAfterIdFor } from '../model.js';
import type { Session } from '../main.js';
import { ErrorLine, errorText } from './common.js';

const KINDS = ['', 'pool', 'node', 'peer', 'token', 'store'];
const ACTIONS = ['', 'create', 'update', 'delete', 'read', 'compact'];
const PAGE = 100;

/** datetime-local value of a time ("2026-12-04T17:30" in local time). */
function localValue(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/**
 * The audit timeline, oldest first from the chosen time: actor, kind, action and object
 * prefix are filtered by the server; "from" becomes the server's afterId (audit ids start
 * with their time), "until" ends the listing in the browser. Each entry shows the revision
 * of the change it records.
 */
export function AuditView({ session }: { session: Session }) {
  const { api } = session;
  const [f, setF] = useState({ actor: '', kind: '', action: '', object: '', from: localValue(Date.now() - 24 * 3600_000), until: '' });
  const [items, setItems] = useState<AuditEntry[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const untilMs = f.until ? Date.parse(f.until) : Infinity;

  const fetchPage = async (cursor: string | undefined, signal?: AbortSignal) => {
    const fromMs = f.from ? Date.parse(f.from) : NaN;
    const page = await api.audit({
      limit: PAGE, actor: f.actor, kind: f.kind, action: f.action, object: f.object, cursor,
      ...(cursor === undefined && !Number.isNaN(fromMs) ? { afterId: auditAfterIdFor(fromMs) } : {}),
    }, signal);
    const kept = page.items.filter((e) => Date.parse(e.time) <= untilMs);
    const ended = kept.length < page.items.length;
    return { kept, next: ended ? null : page.next };
  };

  useEffect(() => {
    const ctl = new AbortController();
    const t = setTimeout(() => {
      fetchPage(undefined, ctl.signal).then((r) => {
        setItems(r.kept);
        setNext(r.next);
        setError(null);
      }, (e) => { if (!ctl.signal.aborted) setError(errorText(e)); });
    }, 200);
    return () => { clearTimeout(t); ctl.abort(); };
  }, [api, f.actor, f.kind, f.action, f.object, f.from, f.until]);

  const more = async () => {
    try {
      const r = await fetchPage(next ?? undefined);
      setItems((i) => [...i, ...r.kept]);
      setNext(r.next);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const field = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value });

  return html`<section class="audit">
    <div class="bar">
      <label>Actor <input name="actor" value=${f.actor} onInput=${field('actor')} placeholder="token name" /></label>
      <label>Kind <select name="kind" value=${f.kind} onChange=${field('kind')}>${KINDS.map((k) => html`<option value=${k}>${k || 'any'}</option>`)}</select></label>
      <label>Action <select name="action" value=${f.action} onChange=${field('action')}>${ACTIONS.map((k) => html`<option value=${k}>${k || 'any'}</option>`)}</select></label>
      <label>Object starts with <input name="object" value=${f.object} onInput=${field('object')} placeholder="pools/demo/" /></label>
      <label>From <input name="from" type="datetime-local" value=${f.from} onInput=${field('from')} /></label>
      <label>Until <input name="until" type="datetime-local" value=${f.until} onInput=${field('until')} /></label>
    </div>
    <${ErrorLine} error=${error} />
    <table class="audit-list"><thead><tr><th>Time</th><th class="num">Revision</th><th>Actor</th><th>Action</th><th>Kind</th><th>Object</th></tr></thead><tbody>
      ${items.map((e) => html`<tr data-audit=${e.id}><td>${e.time}</td><td class="num">${e.revision}</td><td>${e.actor}</td><td>${e.action}</td><td>${e.kind}</td><td class="mono">${e.object}</td></tr>`)}
    </tbody></table>
    <div class="bar"><span class="muted">${items.length} entries</span>${next && html`<button data-action="more" onClick=${more}>Load more</button>`}</div>
  </section>`;
}
