/**
 * The one catalogue of wgfabric errors. Every error a user can see carries a stable code
 * (never renamed once released), an HTTP status for the API and an exit code for the CLI.
 * Unknown errors become WGF_ERR_INTERNAL at the boundary (see toFabricError).
 */

export interface ErrorSpec {
  /** HTTP status the API answers with. */
  readonly status: number;
  /** Process exit code the CLI ends with (sysexits.h style where one fits). */
  readonly exit: number;
  /** One line for people: what it means and what to do. */
  readonly hint: string;
}

export const ERRORS = {
  WGF_ERR_VALIDATION: { status: 400, exit: 64, hint: 'the request or input is malformed; fix the named field' },
  WGF_ERR_INVALID_KEY: { status: 400, exit: 65, hint: 'a WireGuard key must be 32 bytes in base64 (44 chars) or hex (64 chars)' },
  WGF_ERR_WEAK_KEY: { status: 400, exit: 65, hint: 'the public key is all-zero or of low order; generate a new key pair' },
  WGF_ERR_INVALID_CIDR: { status: 400, exit: 65, hint: 'an address or prefix is not valid CIDR notation' },
  WGF_ERR_CONFIG_PARSE: { status: 400, exit: 65, hint: 'the WireGuard config file could not be parsed; see the line number' },
  WGF_ERR_BAD_MESSAGE: { status: 400, exit: 65, hint: 'a WireGuard message has the wrong type, size or MAC' },
  WGF_ERR_PAYLOAD_TOO_LARGE: { status: 413, exit: 65, hint: 'the request body is larger than the server accepts' },
  WGF_ERR_UNSUPPORTED_MEDIA: { status: 415, exit: 65, hint: 'send the body as application/json' },
  WGF_ERR_UNAUTHORIZED: { status: 401, exit: 77, hint: 'send a valid API token: Authorization: Bearer <token>' },
  WGF_ERR_FORBIDDEN: { status: 403, exit: 77, hint: 'the token is valid but its role may not do this' },
  WGF_ERR_NOT_FOUND: { status: 404, exit: 66, hint: 'no such object; list the collection to see what exists' },
  WGF_ERR_METHOD_NOT_ALLOWED: { status: 405, exit: 64, hint: 'this route does not accept that method' },
  WGF_ERR_ALREADY_EXISTS: { status: 409, exit: 73, hint: 'an object with that name or key already exists' },
  WGF_ERR_CONFLICT: { status: 409, exit: 75, hint: 'the object changed since you read it (If-Match); read it again and retry' },
  WGF_ERR_PRECONDITION_REQUIRED: { status: 428, exit: 64, hint: 'this mutation needs an If-Match header' },
  WGF_ERR_ALLOWED_IPS_OVERLAP: { status: 409, exit: 73, hint: 'the AllowedIPs overlap another peer of the same pool' },
  WGF_ERR_ADDRESS_EXHAUSTED: { status: 409, exit: 73, hint: 'the pool prefix has no free tunnel address left; widen it' },
  WGF_ERR_ADDRESS_OUTSIDE_POOL: { status: 400, exit: 65, hint: 'the requested tunnel address is not inside the pool prefixes' },
  WGF_ERR_IN_USE: { status: 409, exit: 73, hint: 'the object is still referenced (for example a pool with peers); remove those first' },
  WGF_ERR_STORE_COMPACTED: { status: 410, exit: 75, hint: 'that revision was compacted away; take a snapshot and follow from its revision' },
  WGF_ERR_STORE_UNAVAILABLE: { status: 503, exit: 69, hint: 'the store is not reachable; retry later' },
  WGF_ERR_STORE_CORRUPT: { status: 503, exit: 74, hint: 'the store file is damaged (database disk image is malformed); stop the server and restore the data directory from a backup' },
  WGF_ERR_REVISION_AHEAD: { status: 410, exit: 75, hint: 'that revision is ahead of this store (restored or replaced?); take a fresh snapshot and follow from its revision' },
  WGF_ERR_TOO_MANY_WATCHES: { status: 429, exit: 75, hint: 'too many open watches or long polls (per token or in total); close some or retry later' },
  WGF_ERR_WATCH_TOO_SLOW: { status: 429, exit: 75, hint: 'the client read the watch too slowly and was cut; reconnect from the last revision id read' },
  WGF_ERR_STORE_TXN_TOO_LARGE: { status: 507, exit: 73, hint: 'the store refused a write this large (etcd --max-txn-ops / --max-request-bytes); nothing was applied: raise those limits (README, etcd) or split the operation' },
  WGF_ERR_UNAVAILABLE: { status: 503, exit: 69, hint: 'the control plane is not reachable or not ready; retry later' },
  WGF_ERR_CRYPTO: { status: 500, exit: 70, hint: 'a secret could not be decrypted; check the master key file' },
  WGF_ERR_MASTER_KEY_RETIRED: { status: 500, exit: 78, hint: 'the master key file holds only keys that a master-key rotation retired; use the file with the current key (see README, master-key rotation)' },
  WGF_ERR_MASTER_KEY_MISSING: { status: 500, exit: 78, hint: 'this server lacks the master key the fabric seals with now; add that key to its master key file (see README, master-key rotation)' },
  WGF_ERR_UAPI: { status: 502, exit: 74, hint: 'the WireGuard device refused the operation (see errno)' },
  WGF_ERR_NFT: { status: 502, exit: 71, hint: 'nftables rejected the load-balancer ruleset; see details.stderr (nft installed? running as root?)' },
  WGF_ERR_CONNTRACK: { status: 502, exit: 71, hint: 'the conntrack tool could not list or delete flow entries; see details.stderr (conntrack installed? running as root?)' },
  WGF_ERR_DEVICE_UNAVAILABLE: { status: 502, exit: 69, hint: 'the WireGuard device socket is not reachable; is the device up?' },
  WGF_ERR_PROBE_TIMEOUT: { status: 504, exit: 2, hint: 'no handshake response in time: wrong server key, wrong port, or server down' },
  WGF_ERR_PROBE_BAD_REPLY: { status: 502, exit: 3, hint: 'the server answered with something that did not verify' },
  WGF_ERR_PROBE_PING: { status: 504, exit: 4, hint: 'the handshake worked but no ICMP echo reply came back through the tunnel' },
  WGF_ERR_ANNOUNCE: { status: 502, exit: 69, hint: 'the announcement speaker (bird control socket, DNS server) refused or is unreachable; is it running, is the socket path right?' },
  WGF_ERR_BPF: { status: 502, exit: 71, hint: 'the BPF data path could not be loaded, attached, read or updated; see details.stderr (bpftool, tc, clang object built by scripts/deps.sh? running as root?)' },
  WGF_ERR_OUTPUT_FILE: { status: 500, exit: 73, hint: 'the output file cannot be written (see the path and reason); make the directory or pick another --out' },
  WGF_ERR_KEY_MISMATCH: { status: 400, exit: 65, hint: 'the key is a valid WireGuard key but not the one this needs (see the message for which key was expected)' },
  WGF_ERR_POOL_OVERLAP: { status: 409, exit: 73, hint: "the tunnel prefix overlaps another pool's; pick another prefix or pass --allow-overlap (API: allowOverlap) if that is intended" },
  WGF_ERR_DNS_TIMEOUT: { status: 504, exit: 69, hint: 'the DNS server did not answer in time; check --dns-server (address and port) and that it runs' },
  WGF_ERR_DNS_REFUSED: { status: 502, exit: 77, hint: 'the DNS server refused the query or update (see details.rcode): check the TSIG key (name, algorithm, secret), the zone and the server\'s update ACL' },
  WGF_ERR_DNS_BAD_REPLY: { status: 502, exit: 76, hint: 'the DNS server\'s answer was malformed or its TSIG signature did not verify' },
  WGF_ERR_BATCH_REJECTED: { status: 422, exit: 65, hint: 'one or more items of the batch failed (details.failed: index, code and message of each); nothing was applied: fix them and send the whole batch again' },
  WGF_ERR_INTERNAL: { status: 500, exit: 70, hint: 'an unexpected error; please report it with the log line' },
  WGF_ERR_DSR_OFF_LINK: { status: 400, exit: 65, hint: 'direct server return needs every backend on the LB\'s own L2 segment (a route without gateway) listening on the VIP\'s port; use --return-path via-lb or snat, or move the backend' },
  WGF_ERR_DRAIN_TIMEOUT: { status: 504, exit: 75, hint: 'flows were still left on the node at the deadline; wait longer (--timeout) or `node disable` it to cut them' },
  WGF_ERR_LISTEN: { status: 500, exit: 71, hint: 'a socket could not listen on the address given (in use, not permitted, or not an address of this host); see the message, then free the port or pick another' },
  WGF_ERR_HOST_SETUP: { status: 500, exit: 71, hint: 'the agent could not put a VIP on lo or set net.ipv4.conf.all.arp_ignore/arp_announce (agent --vip): run it as root in the node\'s network namespace' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** A typed, user-facing error. `details` must never carry secrets. */
export class FabricError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FabricError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get exitCode(): number {
    return ERRORS[this.code].exit;
  }

  get hint(): string {
    return ERRORS[this.code].hint;
  }

  /** The wire form used by the API and by `--json` output. */
  toJSON(): ErrorBody {
    return {
      error: { code: this.code, message: this.message, hint: this.hint, ...(this.details ? { details: this.details } : {}) },
    };
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; hint: string; details?: Record<string, unknown> };
}

/**
 * True for errors after which a follower must drop its revision and take a fresh snapshot:
 * its revision was compacted away, or is ahead of the store (a restored or replaced store).
 */
export function needsResnapshot(e: unknown): boolean {
  return isFabricError(e, 'WGF_ERR_STORE_COMPACTED') || isFabricError(e, 'WGF_ERR_REVISION_AHEAD');
}

export function isFabricError(e: unknown, code?: ErrorCode): e is FabricError {
  return e instanceof FabricError && (code === undefined || e.code === code);
}

/** Maps anything thrown to a FabricError; unknown errors become WGF_ERR_INTERNAL. */
export function toFabricError(e: unknown): FabricError {
  if (e instanceof FabricError) return e;
  return new FabricError('WGF_ERR_INTERNAL', 'internal error', undefined, { cause: e });
}

/** Rebuilds a FabricError from an API error body (used by HTTP clients). */
export function fromErrorBody(body: unknown, fallbackStatus: number): FabricError {
  const err = (body as Partial<ErrorBody> | undefined)?.error;
  if (err && typeof err.code === 'string' && err.code in ERRORS && typeof err.message === 'string') {
    return new FabricError(err.code, err.message, err.details);
  }
  const code: ErrorCode = fallbackStatus === 401 ? 'WGF_ERR_UNAUTHORIZED' : fallbackStatus === 403 ? 'WGF_ERR_FORBIDDEN'
    : fallbackStatus === 404 ? 'WGF_ERR_NOT_FOUND' : fallbackStatus >= 500 ? 'WGF_ERR_UNAVAILABLE' : 'WGF_ERR_VALIDATION';
  return new FabricError(code, `HTTP ${fallbackStatus}`);
}
