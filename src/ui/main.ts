import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { TokenInfo } from '../protocol/types.js';
import { Api, ApiError } from './api.js';
import { html } from './html.js';
import { AuditView } from './views/audit.js';
import { FleetView } from './views/fleet.js';
import { PeersView } from './views/peers.js';

/**
 * The dashboard shell: login (the token stays in memory: see api.ts), the signed-in token's
 * role, and hash routes #/fleet, #/peers, #/audit (one page, no reloads).
 */
export interface Session {
  readonly api: Api;
  readonly me: TokenInfo;
}

const ROUTES = { fleet: 'Fleet', peers: 'Peers', audit: 'Audit' } as const;
type Route = keyof typeof ROUTES;

function routeOf(hash: string): Route {
  const r = hash.replace(/^#\/?/, '').split('?')[0] ?? '';
  return r in ROUTES ? (r as Route) : 'fleet';
}

function Login({ onLogin }: { onLogin: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const api = new Api(token.trim());
      const me = await api.whoami();
      if (me.role === 'node') throw new ApiError(403, 'WGF_ERR_FORBIDDEN', 'a node token cannot use the dashboard: use an admin, operator or read-only token');
      setToken('');
      onLogin({ api, me });
    } catch (err) {
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="login" onSubmit=${submit} autocomplete="off">
    <h2>wgfabric dashboard</h2>
    <p class="muted">Sign in with an API token (admin, operator or read-only). It is kept in this page's memory only: a reload signs you out.</p>
    <input type="password" name="token" autocomplete="off" placeholder="wgf_…" value=${token} onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} autofocus />
    <button class="primary" type="submit" disabled=${busy || token.trim() === ''}>Sign in</button>
    ${error && html`<div class="error" role="alert">${error}</div>`}
  </form>`;
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [route, setRoute] = useState<Route>(routeOf(location.hash));
  useEffect(() => {
    const on = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  if (!session) return html`<${Login} onLogin=${setSession} />`;
  const View = { fleet: FleetView, peers: PeersView, audit: AuditView }[route];
  return html`<header>
      <h1>wgfabric</h1>
      <nav>${(Object.keys(ROUTES) as Route[]).map((r) => html`<a href=${`#/${r}`} class=${r === route ? 'active' : ''}>${ROUTES[r]}</a>`)}</nav>
      <span class="who" data-role=${session.me.role}>${session.me.name} (${session.me.role})</span>
      <button onClick=${() => setSession(null)}>Sign out</button>
    </header>
    <${View} session=${session} />`;
}

render(html`<${App} />`, document.getElementById('app')!);
