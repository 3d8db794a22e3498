import { useEffect, useState } from 'preact/hooks';
import type { Pool } from '../../protocol/types.js';
import { ApiError, type Api } from '../api.js';
import { html } from '../html.js';

/** An error as one line for people: the stable code, then the message. */
export function errorText(err: unknown): string {
  return err instanceof ApiError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
}

export function ErrorLine({ error }: { error: string | null }) {
  return error ? html`<div class="error" role="alert">${error}</div>` : null;
}

/** The pools (first 1000) and the selected one, kept in the URL hash's `pool=` parameter. */
export function usePools(api: Api): { pools: Pool[]; pool: string | null; setPool: (p: string) => void; error: string | null } {
  const [pools, setPools] = useState<Pool[]>([]);
  const [pool, setPoolState] = useState<string | null>(new URLSearchParams(location.hash.split('?')[1] ?? '').get('pool'));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.pools().then((p) => {
      setPools([...p.items]);
      setPoolState((cur) => (cur && p.items.some((x) => x.name === cur) ? cur : p.items[0]?.name ?? null));
    }, (e) => setError(errorText(e)));
  }, [api]);
  const setPool = (p: string) => {
    setPoolState(p);
    history.replaceState(null, '', `${location.hash.split('?')[0]}?pool=${encodeURIComponent(p)}`);
  };
  return { pools, pool, setPool, error };
}

export function PoolSelect({ pools, pool, setPool }: { pools: Pool[]; pool: string | null; setPool: (p: string) => void }) {
  return html`<label>Pool
    <select name="pool" value=${pool ?? ''} onChange=${(e: Event) => setPool((e.target as HTMLSelectElement).value)}>
      ${pools.map((p) => html`<option value=${p.name}>${p.name}</option>`)}
    </select></label>`;
}
