import { FabricError } from '../protocol/errors.js';

/**
 * Client-side failover between control-plane replicas: which URLs, which one to use next, and
 * which failures may be retried on another replica. Pure (no I/O); ApiClient does the requests.
 */

/**
 * The control-plane URLs of `--server` / WGFABRIC_SERVER: one URL, or several separated by
 * commas (replicas of one control plane). Trailing slashes are dropped. WGF_ERR_VALIDATION
 * naming the bad entry for anything that is not an http(s) URL, and for an empty list.
 */
export function parseServerUrls(value: string | readonly string[]): string[] {
  const parts = (typeof value === 'string' ? value.split(',') : value).map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new FabricError('WGF_ERR_VALIDATION', 'no control-plane URL given (--server or WGFABRIC_SERVER: URL[,URL...])', { field: 'server' });
  const out: string[] = [];
  for (const p of parts) {
    let u: URL;
    // "127.0.0.1:7080" or "cp.example:7080" has no scheme (or parses as one): say what to add,
    // instead of failing later as if the server were down. Never echo credentials.
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(p)) {
      const shown = p.replace(/^[^@/]*@/, '');
      throw new FabricError('WGF_ERR_VALIDATION', `"${shown}" is not a control-plane URL: no scheme; add http:// or https:// (e.g. http://${shown})`, { field: 'server' });
    }
    try {
      u = new URL(p);
    } catch {
      throw new FabricError('WGF_ERR_VALIDATION', `"${p}" is not a control-plane URL (--server or WGFABRIC_SERVER: http(s)://HOST:PORT[,...])`, { field: 'server', value: p });
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new FabricError('WGF_ERR_VALIDATION', `"${p}" is not an http:// or https:// URL`, { field: 'server', value: p });
    }
    const base = p.replace(/\/+$/, '');
    if (!out.includes(base)) out.push(base);
  }
  return out;
}

/**
 * How a request that got no usable answer failed:
 * - 'not-sent': the connection was never made (refused, unreachable, connect timeout, TLS
 *   refused): nothing reached the replica, so any request may go to another one;
 * - 'maybe-sent': the connection broke or timed out after the request went out: a read may be
 *   repeated elsewhere, a write may already have been applied;
 * - 'refused': the replica answered 503 (not ready, its store unreachable): a read may be
 *   repeated elsewhere; a write is not, as the store may still commit it.
 */
export type FailureKind = 'not-sent' | 'maybe-sent' | 'refused';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);

/** The kind of a fetch failure (its cause chain), given whether it is a TLS problem. */
export function failureKind(e: unknown, tls: boolean): FailureKind {
  if (tls) return 'not-sent'; // the handshake failed: no request bytes went out
  for (let c: unknown = e, depth = 0; c && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_CODES.has(code)) return 'not-sent';
  }
  return 'maybe-sent';
}

/** Methods whose repetition does no harm (RFC 9110 idempotent methods, minus DELETE whose second try answers 404). */
export function repeatable(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'PUT';
}

/** Whether a failure of this kind may be retried on another replica for this method. */
export function mayFailOver(kind: FailureKind, method: string): boolean {
  return kind === 'not-sent' || repeatable(method);
}

/** Failover settings of ApiClient. */
export interface FailoverOptions {
  /**
   * Extra rounds over every URL after a round where all failed (default: 2 with several URLs,
   * 0 with one, as before replicas existed).
   */
  readonly rounds?: number;
  /** Backoff before round k is uniform in [cap/2, cap], cap = min(max, min * 2^k) (defaults 200 ms, 2 s). */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
}

/**
 * The replicas and the one in use. Sticky: a client keeps using the replica that last
 * answered, and moves on only when it fails, so one agent's watch and its reports stay on one
 * replica while it lives.
 */
export class Endpoints {
  private current = 0;

  constructor(readonly urls: readonly string[]) {
    if (urls.length === 0) throw new Error('Endpoints needs at least one URL');
  }

  /** The URL in use. */
  get active(): string {
    return this.urls[this.current]!;
  }

  /** Every URL once, the one in use first, then the others in their order after it. */
  order(): string[] {
    return this.urls.map((_, k) => this.urls[(this.current + k) % this.urls.length]!);
  }

  /** `url` answered: use it from now on. */
  succeeded(url: string): void {
    const i = this.urls.indexOf(url);
    if (i >= 0) this.current = i;
  }

  /** `url` failed: when it is the one in use, move on to the next. */
  failed(url: string): void {
    if (this.active === url) this.current = (this.current + 1) % this.urls.length;
  }
}

/** The wait before failover round `round` (1, 2, ...): full jitter on the upper half of the cap. */
export function backoffMs(round: number, o: FailoverOptions, random: () => number = Math.random): number {
  const cap = Math.min(o.backoffMaxMs ?? 2000, (o.backoffMinMs ?? 200) * 2 ** Math.max(0, round - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}
