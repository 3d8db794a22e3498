import type { AuditEntry, LbReport, Node, Page, Peer, Pool, TokenInfo } from '../protocol/types.js';

/**
 * The dashboard's API client: same origin, `Authorization: Bearer` on every call. The token
 * lives only in this object's memory (never in storage or a cookie), so a reload logs out and
 * no request the browser sends on its own (a link, a form from another site) carries it.
 */

/** An API error as the server answered it (body `{error: {code, message}}`). */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** The session summary as GET /v1/sessions/summary answers it (the fields the dashboard shows). */
export interface SessionSummary {
  readonly connected: number;
  readonly endpointChanges: number;
  readonly pools: readonly {
    readonly pool: string;
    readonly connected: number;
    readonly endpointChanges: number;
    readonly nodes: readonly { readonly node: string; readonly connected: number; readonly entries: number; readonly rxBytes: number; readonly txBytes: number; readonly reportedAt: string | null }[];
  }[];
}

/** A peer's session as the API reports it on peer resources (`session`, null: no node reported one). */
export interface PeerSessionView {
  readonly node: string;
  readonly lastHandshakeAt: string | null;
  readonly connected: boolean;
  readonly endpoint: string | null;
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly endpointChanges: number;
}

/** Query values; undefined and '' are left out. */
export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** The query string of `q` ("" when empty). Pure. */
export function queryString(q: Query = {}): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

const seg = encodeURIComponent;

export class Api {
  #token: string;
  #noSessions = false;
  constructor(token: string, private readonly base = '') {
    this.#token = token;
  }

  /** Headers of an authorised request (also used by the watch stream). */
  headers(json = false): Record<string, string> {
    return { authorization: `Bearer ${this.#token}`, ...(json ? { 'content-type': 'application/json' } : {}) };
  }

  url(path: string): string {
    return this.base + path;
  }

  async call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const res = await fetch(this.url(path), {
      method, headers: this.headers(body !== undefined), cache: 'no-store', credentials: 'omit',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}), ...(signal ? { signal } : {}),
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiError(res.status, 'WGF_ERR_INTERNAL', `HTTP ${res.status}: not JSON`);
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? 'WGF_ERR_INTERNAL', e?.message ?? `HTTP ${res.status}`);
    }
    return parsed as T;
  }

  whoami(): Promise<TokenInfo> { return this.call('GET', '/v1/whoami'); }
  pools(q: Query = {}): Promise<Page<Pool>> { return this.call('GET', `/v1/pools${queryString({ limit: 1000, ...q })}`); }
  pool(pool: string): Promise<Pool> { return this.call('GET', `/v1/pools/${seg(pool)}`); }
  nodes(pool: string, q: Query = {}): Promise<Page<Node>> { return this.call('GET', `/v1/pools/${seg(pool)}/nodes${queryString({ limit: 1000, ...q })}`); }
  updateNode(pool: string, node: string, body: Partial<Pick<Node, 'adminState'>>): Promise<Node> {
    return this.call('PATCH', `/v1/pools/${seg(pool)}/nodes/${seg(node)}`, body);
  }
  lbs(pool: string): Promise<Page<LbReport>> { return this.call('GET', `/v1/pools/${seg(pool)}/lbs?limit=1000`); }
  peers(pool: string, q: Query, signal?: AbortSignal): Promise<Page<Peer>> { return this.call('GET', `/v1/pools/${seg(pool)}/peers${queryString(q)}`, undefined, signal); }
  createPeer(pool: string, body: { name: string; publicKey: string; expiresAt?: string }): Promise<Peer> {
    return this.call('POST', `/v1/pools/${seg(pool)}/peers`, body);
  }
  updatePeer(pool: string, peer: string, body: { enabled?: boolean; expiresAt?: string | null }): Promise<Peer> {
    return this.call('PATCH', `/v1/pools/${seg(pool)}/peers/${seg(peer)}`, body);
  }
  deletePeer(pool: string, peer: string): Promise<void> { return this.call('DELETE', `/v1/pools/${seg(pool)}/peers/${seg(peer)}`); }
  changes(pool: string, since: number): Promise<{ revision: number; changes: unknown[] }> {
    return this.call('GET', `/v1/pools/${seg(pool)}/changes?since=${since}`);
  }
  /**
   * The fleet's session summary (GET /v1/sessions/summary), or null from a server that has no
   * session state (the route answers 404 there).
   */
  async sessionSummary(pool: string): Promise<SessionSummary | null> {
    if (this.#noSessions) return null; // asked once per sign-in
    try {
      return await this.call<SessionSummary>('GET', `/v1/sessions/summary${queryString({ pool })}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && e.code === 'WGF_ERR_NOT_FOUND' && /no route/.test(e.message)) {
        this.#noSessions = true;
        return null;
      }
      throw e;
    }
  }
  audit(q: Query, signal?: AbortSignal): Promise<Page<AuditEntry>> { return this.call('GET', `/v1/audit${queryString(q)}`, undefined, signal); }
}
