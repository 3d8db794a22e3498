import type { Dispatcher } from 'undici';
import type {
  AuditListFilter, ChangesResponse, LbReportInput, NodeCreate, NodeStatusInput, NodeUpdate, PeerBatchItem, PeerBatchResult, PeerCreate, PeerUpdate, PoolCreate, PoolUpdate, TokenCreate, TokenCreated,
  RotateMasterKeyResponse,
} from '../protocol/api.js';
import { FabricError, fromErrorBody } from '../protocol/errors.js';
import type { ReadinessEvent } from '../protocol/readiness.js';
import type { SessionReportInput, SessionReportResult, SessionSummary } from '../protocol/sessions.js';
import type { AdminState, AuditEntry, LbReport, Node, NodeStatus, Page, Peer, Pool, PoolChange, PoolSnapshot, TokenInfo } from '../protocol/types.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs, Endpoints, failureKind, mayFailOver, parseServerUrls, repeatable, type FailoverOptions } from './failover.js';
import { type SseEvent, SseParser } from './sse.js';
import { caDispatcher, tlsProblem } from './tls.js';

/** Where the API is and how to authenticate. */
export interface ApiClientOptions {
  /**
   * e.g. "http://127.0.0.1:7080"; several replicas of one control plane as a list or
   * comma-separated ("https://a:7080,https://b:7080"): see FailoverOptions and README.
   */
  readonly baseUrl: string | readonly string[];
  /** API token text ("wgf_..."); never logged or put into error messages. */
  readonly token?: string;
  /** Per-request timeout (default 30 s; long polls add their wait). */
  readonly timeoutMs?: number;
  /** fetch implementation (default: global fetch). */
  readonly fetch?: typeof fetch;
  /**
   * PEM of the CA certificate(s) to trust for an https:// baseUrl instead of the public roots
   * (a private CA; see readCaFile). Without it https uses Node's public roots.
   */
  readonly ca?: string;
  /** Failover between several URLs (ignored with one, unless `rounds` is given). */
  readonly failover?: FailoverOptions;
  /** TCP/TLS connect timeout (default: 3 s with several URLs, so a dead host is left quickly; else undici's 10 s). */
  readonly connectTimeoutMs?: number;
  /** Called when a replica failed and the request moves to the next (for a log line). Never carries tokens. */
  readonly onFailover?: (e: { readonly from: string; readonly to: string; readonly reason: string }) => void;
}

/** Pagination of list calls: page size 1..1000 and the previous page's `next`. */
export interface PageQuery { readonly limit?: number; readonly cursor?: string }
/** Optimistic concurrency: the revision (ETag) the object must still have. */
export interface WriteOptions { readonly ifMatch?: number }
/** Options of watchPool / watchPoolBatches. */
export interface WatchOptions {
  readonly signal: AbortSignal;
  /** Called with each heartbeat's revision: the stream is complete up to it (the resume point). */
  readonly onHeartbeat?: (revision: number) => void;
  /** Reject with WGF_ERR_UNAVAILABLE when nothing (not even a heartbeat) arrives for this long (default 30 s). */
  readonly idleTimeoutMs?: number;
  /** Called once the stream is open, with the origin of the replica serving it. */
  readonly onOpen?: (server: string) => void;
  /** watchPoolBatches: only these kinds of changes (default all); resuming stays exact (heartbeats carry the revision). */
  readonly kinds?: readonly ('pool' | 'node' | 'peer')[];
}

type Query = Record<string, string | number | boolean | undefined>;
interface Req { query?: Query; body?: unknown; ifMatch?: number | undefined; signal?: AbortSignal | undefined; extraTimeoutMs?: number }

/**
 * Typed client of the control-plane REST API (one method per route). Errors come back as
 * the server's FabricError (code, message, details) rebuilt from the error body; an
 * unreachable server is WGF_ERR_UNAVAILABLE. Used by the CLI, the node agent and the LB.
 */
export class ApiClient {
  private readonly endpoints: Endpoints;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly rounds: number;
  /** Only with a private CA or a connect timeout: otherwise fetch's global dispatcher (public roots). */
  private readonly dispatcher: Dispatcher | undefined;

  /** WGF_ERR_VALIDATION when a URL of baseUrl is not an http(s) URL. */
  constructor(private readonly opts: ApiClientOptions) {
    this.endpoints = new Endpoints(parseServerUrls(opts.baseUrl));
    this.fetchImpl = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const several = this.endpoints.urls.length > 1;
    this.rounds = opts.failover?.rounds ?? (several ? 2 : 0);
    const connectTimeout = opts.connectTimeoutMs ?? (several ? 3000 : undefined);
    this.dispatcher = opts.ca !== undefined || connectTimeout !== undefined ? caDispatcher(opts.ca, connectTimeout) : undefined;
  }

  /** Every control-plane URL this client knows, in order. */
  get servers(): readonly string[] {
    return this.endpoints.urls;
  }

  /** The URL requests go to now (the replica that last answered, or the next after one that failed). */
  get server(): string {
    return this.endpoints.active;
  }

  // ---- meta ----
  health(): Promise<{ status: string }> { return this.call('GET', '/healthz'); }
  ready(): Promise<{ status: string; revision: number }> { return this.call('GET', '/readyz'); }
  whoami(): Promise<TokenInfo> { return this.call('GET', '/v1/whoami'); }
  metrics(): Promise<string> { return this.call('GET', '/metrics'); }
  openapi(): Promise<Record<string, unknown>> { return this.call('GET', '/v1/openapi.json'); }

  // ---- pools ----
  listPools(q: PageQuery & { label?: string } = {}): Promise<Page<Pool>> { return this.call('GET', '/v1/pools', { query: { ...q } }); }
  getPool(pool: string): Promise<Pool> { return this.call('GET', `/v1/pools/${seg(pool)}`); }
  createPool(input: PoolCreate): Promise<Pool> { return this.call('POST', '/v1/pools', { body: input }); }
  updatePool(pool: string, patch: PoolUpdate, o: WriteOptions = {}): Promise<Pool> { return this.call('PATCH', `/v1/pools/${seg(pool)}`, { body: patch, ifMatch: o.ifMatch }); }
  /** Refused (WGF_ERR_IN_USE) while the pool has nodes or peers, unless `force`. */
  deletePool(pool: string, o: WriteOptions & { force?: boolean } = {}): Promise<void> {
    return this.call('DELETE', `/v1/pools/${seg(pool)}`, { ifMatch: o.ifMatch, query: { force: o.force ? 'true' : undefined } });
  }
  /** The pool's server private key (base64): node tokens of the pool and admins only. */
  async poolPrivateKey(pool: string): Promise<string> { return (await this.call<{ privateKey: string }>('GET', `/v1/pools/${seg(pool)}/private-key`)).privateKey; }

  // ---- agent feed ----
  poolSnapshot(pool: string): Promise<PoolSnapshot> { return this.call('GET', `/v1/pools/${seg(pool)}/snapshot`); }
  /** Changes after `since`; with `wait` the server holds the request up to that many seconds for one. */
  poolChanges(pool: string, since: number, o: { wait?: number; signal?: AbortSignal } = {}): Promise<ChangesResponse> {
    return this.call('GET', `/v1/pools/${seg(pool)}/changes`, { query: { since, wait: o.wait }, signal: o.signal, extraTimeoutMs: (o.wait ?? 0) * 1000 });
  }

  /**
   * Follows the pool's changes after `since` over server-sent events. `onChange` is called
   * in order (awaited, so it may be async); all changes of one revision are delivered
   * together. Resolves when `signal` aborts; rejects with a FabricError when the server
   * reports one (WGF_ERR_STORE_COMPACTED or WGF_ERR_REVISION_AHEAD: take a snapshot, see
   * needsResnapshot; WGF_ERR_WATCH_TOO_SLOW: reconnect) or the stream breaks or stalls
   * (WGF_ERR_UNAVAILABLE: reconnect from the last revision seen).
   */
  watchPool(pool: string, since: number, onChange: (change: PoolChange) => void | Promise<void>, o: WatchOptions): Promise<void> {
    return this.watchPoolBatches(pool, since, async (changes) => {
      for (const c of changes) await onChange(c);
    }, o);
  }

  /**
   * As watchPool, but hands over whatever complete revisions arrived together as one batch
   * (for an agent that applies each batch to its device in one operation).
   */
  async watchPoolBatches(pool: string, since: number, onChanges: (changes: PoolChange[]) => void | Promise<void>, o: WatchOptions): Promise<void> {
    let partial: PoolChange[] = []; // changes of a revision whose last change has not arrived yet
    await this.followSse('watch', `/v1/pools/${seg(pool)}/watch`, { since, kinds: o.kinds?.join(',') }, o, async (events) => {
      let batch: PoolChange[] = [];
      for (const ev of events) {
        if (ev.event === 'change') {
          partial.push(JSON.parse(ev.data) as PoolChange);
          if (ev.id === undefined) continue;
          batch.push(...partial);
          partial = [];
        } else if (ev.event === 'heartbeat') {
          if (batch.length > 0) await onChanges(batch);
          batch = [];
          o.onHeartbeat?.((JSON.parse(ev.data) as { revision: number }).revision);
        } else if (ev.event === 'error') {
          if (batch.length > 0) await onChanges(batch);
          throw fromErrorBody(JSON.parse(ev.data), 503);
        }
      }
      if (batch.length > 0) await onChanges(batch);
    });
  }

  /**
   * Follows the readiness of the pool's nodes (protocol/readiness.ts): `onEvent` first with the
   * full state, then with each set of flips. Resolves when `signal` aborts; rejects like
   * watchPoolBatches when the stream breaks, stalls or reports an error (reconnect: the next
   * stream starts with the full state again).
   */
  async watchReadiness(pool: string, maxAgeMs: number, onEvent: (e: ReadinessEvent) => void, o: Omit<WatchOptions, 'onHeartbeat' | 'kinds'>): Promise<void> {
    await this.followSse('readiness', `/v1/pools/${seg(pool)}/readiness`, { maxAgeMs }, o, (events) => {
      for (const ev of events) {
        if (ev.event === 'readiness') onEvent(JSON.parse(ev.data) as ReadinessEvent);
        else if (ev.event === 'error') throw fromErrorBody(JSON.parse(ev.data), 503);
      }
    });
  }

  /**
   * One server-sent-event stream of `what`: `onEvents` gets the events of each chunk as they
   * arrive. Resolves when `o.signal` aborts; a stream that ends, breaks or stays silent for
   * idleTimeoutMs rejects with WGF_ERR_UNAVAILABLE (and, with several replicas, the next request
   * tries another first); an error `onEvents` throws is passed on.
   */
  private async followSse(what: string, path: string, query: Req['query'], o: Pick<WatchOptions, 'signal' | 'idleTimeoutMs' | 'onOpen'>,
    onEvents: (events: SseEvent[]) => void | Promise<void>): Promise<void> {
    const idle = new AbortController();
    const signal = AbortSignal.any([o.signal, idle.signal]);
    let timer: NodeJS.Timeout | undefined;
    let chunks = 0;
    let over = false;
    // Timers run before the poll phase: after the event loop was blocked for longer than the
    // idle time (a long synchronous job, a starved process), the timer fires before the socket
    // is read. Silence is declared only if no chunk arrives in the poll phase that follows.
    const expire = () => {
      const seen = chunks;
      setImmediate(() => { if (!over && chunks === seen) idle.abort(); });
    };
    const kick = () => {
      chunks++;
      clearTimeout(timer);
      timer = setTimeout(expire, o.idleTimeoutMs ?? 30_000);
    };
    kick();
    let server = this.endpoints.active;
    try {
      const { res, base } = await this.send('GET', path, { query, signal }, false);
      server = base;
      o.onOpen?.(originOf(base));
      if (!res.body) throw new FabricError('WGF_ERR_UNAVAILABLE', `the ${what} stream has no body`);
      const parser = new SseParser();
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        kick();
        await onEvents(parser.push(decoder.decode(chunk, { stream: true })));
      }
      if (o.signal.aborted) return;
      throw new FabricError('WGF_ERR_UNAVAILABLE', `the ${what} stream ended; reconnect`);
    } catch (e) {
      if (o.signal.aborted) return;
      // A stream that breaks or stalls most likely lost its replica: the next request tries another first.
      if (this.endpoints.urls.length > 1) this.endpoints.failed(server);
      if (idle.signal.aborted) throw new FabricError('WGF_ERR_UNAVAILABLE', `the ${what} stream went silent; reconnect`);
      throw e instanceof FabricError ? e : unreachable(server, e);
    } finally {
      over = true;
      clearTimeout(timer);
    }
  }

  // ---- nodes ----
  listNodes(pool: string, q: PageQuery & { label?: string; adminState?: AdminState } = {}): Promise<Page<Node>> { return this.call('GET', `/v1/pools/${seg(pool)}/nodes`, { query: { ...q } }); }
  getNode(pool: string, node: string): Promise<Node> { return this.call('GET', `/v1/pools/${seg(pool)}/nodes/${seg(node)}`); }
  createNode(pool: string, input: NodeCreate): Promise<Node> { return this.call('POST', `/v1/pools/${seg(pool)}/nodes`, { body: input }); }
  updateNode(pool: string, node: string, patch: NodeUpdate, o: WriteOptions = {}): Promise<Node> {
    return this.call('PATCH', `/v1/pools/${seg(pool)}/nodes/${seg(node)}`, { body: patch, ifMatch: o.ifMatch });
  }
  deleteNode(pool: string, node: string, o: WriteOptions = {}): Promise<void> { return this.call('DELETE', `/v1/pools/${seg(pool)}/nodes/${seg(node)}`, { ifMatch: o.ifMatch }); }
  /** Reports a node's status; `reportedAt`, if present, is dropped (the server stamps it). */
  putNodeStatus(pool: string, node: string, status: NodeStatusInput | NodeStatus): Promise<Node> {
    const { reportedAt: _, ...body } = status as NodeStatus;
    return this.call('PUT', `/v1/pools/${seg(pool)}/nodes/${seg(node)}/status`, { body });
  }

  // ---- load-balancer reports ----
  /** Reports an LB instance's VIP and backend state (the server stamps reportedAt); operator or admin. */
  putLbStatus(pool: string, instance: string, report: LbReportInput): Promise<LbReport> {
    return this.call('PUT', `/v1/pools/${seg(pool)}/lbs/${seg(instance)}/status`, { body: report });
  }
  getLbStatus(pool: string, instance: string): Promise<LbReport> { return this.call('GET', `/v1/pools/${seg(pool)}/lbs/${seg(instance)}`); }
  listLbStatus(pool: string, q: PageQuery = {}): Promise<Page<LbReport>> { return this.call('GET', `/v1/pools/${seg(pool)}/lbs`, { query: { ...q } }); }
  /** Forgets a retired instance's report (WGF_ERR_NOT_FOUND when there is none). */
  deleteLbStatus(pool: string, instance: string, o: WriteOptions = {}): Promise<void> {
    return this.call('DELETE', `/v1/pools/${seg(pool)}/lbs/${seg(instance)}`, { ifMatch: o.ifMatch });
  }

  // ---- per-peer sessions (protocol/sessions.ts) ----
  /** Sends a node's session report (a delta on its chain) to the replica(s) of this client. */
  putSessions(pool: string, node: string, report: SessionReportInput): Promise<SessionReportResult> {
    return this.call('PUT', `/v1/pools/${seg(pool)}/nodes/${seg(node)}/sessions`, { body: report });
  }
  /** Connected peers and traffic per pool and node. */
  sessionSummary(q: { pool?: string } = {}): Promise<SessionSummary> { return this.call('GET', '/v1/sessions/summary', { query: { ...q } }); }

  // ---- peers ----
  /** Peers with their `session`; `connected` keeps only peers with (true) or without (false) a live session. */
  listPeers(pool: string, q: PageQuery & { label?: string; enabled?: boolean; prefix?: string; connected?: boolean } = {}): Promise<Page<Peer>> {
    return this.call('GET', `/v1/pools/${seg(pool)}/peers`, { query: { ...q } });
  }
  getPeer(pool: string, peer: string): Promise<Peer> { return this.call('GET', `/v1/pools/${seg(pool)}/peers/${seg(peer)}`); }
  createPeer(pool: string, input: PeerCreate): Promise<Peer> { return this.call('POST', `/v1/pools/${seg(pool)}/peers`, { body: input }); }
  /** Up to 1,000 peer changes in one revision, all or nothing (WGF_ERR_BATCH_REJECTED names each failing item). */
  peerBatch(pool: string, items: readonly PeerBatchItem[]): Promise<PeerBatchResult> { return this.call('POST', `/v1/pools/${seg(pool)}/peers/batch`, { body: { items } }); }
  updatePeer(pool: string, peer: string, patch: PeerUpdate, o: WriteOptions = {}): Promise<Peer> {
    return this.call('PATCH', `/v1/pools/${seg(pool)}/peers/${seg(peer)}`, { body: patch, ifMatch: o.ifMatch });
  }
  deletePeer(pool: string, peer: string, o: WriteOptions = {}): Promise<void> { return this.call('DELETE', `/v1/pools/${seg(pool)}/peers/${seg(peer)}`, { ifMatch: o.ifMatch }); }

  // ---- admin ----
  listAudit(q: Partial<Omit<AuditListFilter, 'limit'>> & PageQuery = {}): Promise<Page<AuditEntry>> { return this.call('GET', '/v1/audit', { query: { ...q } }); }
  listTokens(q: PageQuery = {}): Promise<Page<TokenInfo>> { return this.call('GET', '/v1/tokens', { query: { ...q } }); }
  /** The answer's `secret` is the only copy of the token: store it now. */
  createToken(input: TokenCreate): Promise<TokenCreated> { return this.call('POST', '/v1/tokens', { body: input }); }
  deleteToken(id: string): Promise<void> { return this.call('DELETE', `/v1/tokens/${seg(id)}`); }
  compact(revision?: number): Promise<{ compactRevision: number; revision: number }> {
    return this.call('POST', '/v1/admin/compact', { body: revision === undefined ? {} : { revision } });
  }
  /** Online master-key rotation (to `keyId`, default: the serving replica's one new key). */
  rotateMasterKey(keyId?: string): Promise<RotateMasterKeyResponse> {
    return this.call('POST', '/v1/admin/master-key/rotate', { body: keyId === undefined ? {} : { keyId } });
  }

  /** Iterates every item of a paginated list: `for await (const p of ApiClient.all((c) => api.listPeers('x', { cursor: c })))`. */
  static async *all<T>(page: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const p = await page(cursor);
      yield* p.items;
      cursor = p.next ?? undefined;
    } while (cursor !== undefined);
  }

  private async call<T>(method: string, path: string, r: Req = {}): Promise<T> {
    const { res } = await this.send(method, path, r, true);
    if (res.status === 204) return undefined as T;
    const type = res.headers.get('content-type') ?? '';
    return (type.includes('json') ? await res.json() : await res.text()) as T;
  }

  /**
   * One request, failing over between the replicas (see failover.ts): the replica in use first,
   * then the others; a failure that may be repeated moves on to the next, and after a round in
   * which all failed the client backs off and tries again (opts.failover.rounds). A write that
   * may have reached a replica that then went away is never repeated: it fails with
   * WGF_ERR_UNAVAILABLE and details.outcome "unknown".
   */
  private async send(method: string, path: string, r: Req, timeout: boolean): Promise<{ res: Response; base: string }> {
    const failures: { base: string; error: FabricError }[] = [];
    for (let round = 0; round <= this.rounds; round++) {
      if (round > 0) {
        await sleep(backoffMs(round, this.opts.failover ?? {}), undefined, r.signal ? { signal: r.signal } : {}).catch(() => {});
        if (r.signal?.aborted) throw r.signal.reason;
      }
      const order = this.endpoints.order();
      for (const [k, base] of order.entries()) {
        let res: Response;
        try {
          res = await this.fetchOnce(base, method, path, r, timeout);
        } catch (e) {
          if (r.signal?.aborted) throw r.signal.reason;
          const kind = failureKind(e, tlsProblem(e) !== null);
          const error = unreachable(base, e, kind === 'maybe-sent' && !repeatable(method) ? method : undefined);
          this.endpoints.failed(base);
          if (!mayFailOver(kind, method)) throw error;
          failures.push({ base, error });
          this.noteFailover(base, order[k + 1] ?? (round < this.rounds ? order[0] : undefined), error);
          continue;
        }
        if (res.ok) {
          this.endpoints.succeeded(base);
          return { res, base };
        }
        const error = await errorOf(res);
        if (res.status === 503 && this.endpoints.urls.length > 1 && (error.code === 'WGF_ERR_UNAVAILABLE' || error.code === 'WGF_ERR_STORE_UNAVAILABLE')) {
          this.endpoints.failed(base);
          if (repeatable(method)) {
            failures.push({ base, error });
            this.noteFailover(base, order[k + 1] ?? (round < this.rounds ? order[0] : undefined), error);
            continue;
          }
        }
        throw error;
      }
    }
    throw allFailed(failures);
  }

  private noteFailover(from: string, to: string | undefined, error: FabricError): void {
    if (to !== undefined && to !== from) this.opts.onFailover?.({ from: originOf(from), to: originOf(to), reason: error.message });
  }

  private async fetchOnce(base: string, method: string, path: string, r: Req, timeout: boolean): Promise<Response> {
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(r.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.token) headers['authorization'] = `Bearer ${this.opts.token}`;
    if (r.ifMatch !== undefined) headers['if-match'] = `"${r.ifMatch}"`;
    if (r.body !== undefined) headers['content-type'] = 'application/json';
    const signals = [r.signal, timeout ? AbortSignal.timeout(this.timeoutMs + (r.extraTimeoutMs ?? 0)) : undefined].filter((s): s is AbortSignal => s !== undefined);
    // `dispatcher` is Node's (undici's) extension of RequestInit, absent from the DOM typings.
    const init: RequestInit & { dispatcher?: Dispatcher } = {
      method, headers, ...(r.body !== undefined ? { body: JSON.stringify(r.body) } : {}), ...(signals.length ? { signal: AbortSignal.any(signals) } : {}),
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    };
    return this.fetchImpl(url, init);
  }
}

/** The FabricError of a non-2xx answer, rebuilt from its error body. */
async function errorOf(res: Response): Promise<FabricError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return fromErrorBody(body, res.status);
}

/**
 * Every replica failed: with one URL its own error; with several one WGF_ERR_UNAVAILABLE naming
 * each replica and why (details.tls when one was a TLS problem, which waiting does not fix).
 */
function allFailed(failures: readonly { base: string; error: FabricError }[]): FabricError {
  const last = new Map<string, FabricError>();
  for (const f of failures) last.set(f.base, f.error);
  if (last.size <= 1) return failures[failures.length - 1]!.error;
  const tls = [...last.values()].find((e) => e.details?.['tls'] !== undefined)?.details?.['tls'];
  const why = [...last.values()].map((e) => e.message).join('; ');
  return new FabricError('WGF_ERR_UNAVAILABLE', `no control-plane replica answered (${last.size} tried): ${why}`,
    tls !== undefined ? { tls } : undefined, { cause: failures[failures.length - 1]!.error });
}

function seg(s: string): string {
  return encodeURIComponent(s);
}

/**
 * WGF_ERR_UNAVAILABLE for a request that got no HTTP answer. A TLS failure (untrusted CA,
 * wrong host, expired certificate) says so, with the TLS code in details.tls.
 */
function unreachable(base: string, e: unknown, writeMethod?: string): FabricError {
  const tls = tlsProblem(e);
  if (tls) {
    return new FabricError('WGF_ERR_UNAVAILABLE', `TLS problem with the control plane at ${originOf(base)}: ${tls.reason} [${tls.code}]${tls.advice ? `; ${tls.advice}` : ''}`,
      { tls: tls.code }, { cause: e });
  }
  const err = e as { name?: string; cause?: { code?: string } };
  const why = err.name === 'TimeoutError' ? 'timed out' : (err.cause?.code ?? err.name ?? 'error');
  // A plain-HTTP request to an HTTPS port: the server drops the connection without an answer.
  const hint = base.startsWith('http:') && (why === 'UND_ERR_SOCKET' || why === 'ECONNRESET') ? ' (if it serves HTTPS, use an https:// URL)' : '';
  if (writeMethod !== undefined) {
    return new FabricError('WGF_ERR_UNAVAILABLE', `the control plane at ${originOf(base)} went away before answering a ${writeMethod}: ${why}${hint}; `
      + 'the write may or may not have been applied: look before repeating it', { outcome: 'unknown' }, { cause: e });
  }
  return new FabricError('WGF_ERR_UNAVAILABLE', `cannot reach the control plane at ${originOf(base)}: ${why}${hint}`, undefined, { cause: e });
}

/** Scheme, host and port only: never credentials or paths in messages. */
function originOf(base: string): string {
  try {
    return new URL(base).origin;
  } catch {
    return 'the configured URL';
  }
}
