import { FabricError, type ErrorCode } from '../protocol/errors.js';

/**
 * Maps anything a route or fastify throws to the FabricError the client sees. Fastify's own
 * errors (validation, body parsing, size limits) get precise wgfabric codes; anything
 * unexpected becomes WGF_ERR_INTERNAL with no message, path or stack of the original.
 */

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

interface FastifyishError {
  code?: string;
  statusCode?: number;
  validation?: AjvIssue[];
  validationContext?: string;
}

const BY_FASTIFY_CODE: Record<string, [ErrorCode, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['WGF_ERR_PAYLOAD_TOO_LARGE', 'the request body is larger than 64 KiB'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['WGF_ERR_UNSUPPORTED_MEDIA', 'only application/json bodies are accepted'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['WGF_ERR_VALIDATION', 'the Content-Length does not match the body'],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['WGF_ERR_VALIDATION', 'the body is empty but Content-Type is application/json'],
  FST_ERR_CTP_INVALID_JSON_BODY: ['WGF_ERR_VALIDATION', 'the body is not valid JSON, or holds a forbidden key (__proto__, constructor.prototype)'],
  FST_ERR_BAD_URL: ['WGF_ERR_VALIDATION', 'the URL is malformed'],
  FST_ERR_MAX_PARAM_LENGTH: ['WGF_ERR_VALIDATION', 'a path segment is too long (names have at most 63 characters)'],
  FST_ERR_NOT_FOUND: ['WGF_ERR_NOT_FOUND', 'no such route'],
};

const BY_STATUS: Record<number, ErrorCode> = {
  401: 'WGF_ERR_UNAUTHORIZED', 403: 'WGF_ERR_FORBIDDEN', 404: 'WGF_ERR_NOT_FOUND', 405: 'WGF_ERR_METHOD_NOT_ALLOWED',
  413: 'WGF_ERR_PAYLOAD_TOO_LARGE', 415: 'WGF_ERR_UNSUPPORTED_MEDIA',
};

/** The FabricError to answer for anything thrown while handling a request. */
export function toHttpError(e: unknown): FabricError {
  if (e instanceof FabricError) return e;
  const err = (typeof e === 'object' && e !== null ? e : {}) as FastifyishError;
  if (Array.isArray(err.validation)) return validationError(err.validationContext ?? 'request', err.validation[0] ?? {});
  const known = err.code !== undefined ? BY_FASTIFY_CODE[err.code] : undefined;
  if (known) return new FabricError(known[0], known[1]);
  const status = err.statusCode ?? 500;
  if (e instanceof SyntaxError && status === 400) {
    // secure-json-parse refuses __proto__ and constructor.prototype with a SyntaxError.
    const poison = /prototype/i.test(e.message);
    return new FabricError('WGF_ERR_VALIDATION', poison ? 'the body contains a forbidden property (__proto__ or constructor.prototype)' : 'the body is not valid JSON');
  }
  if (status >= 400 && status < 500) {
    return new FabricError(BY_STATUS[status] ?? 'WGF_ERR_VALIDATION', `the request was rejected (HTTP ${status})`);
  }
  return new FabricError('WGF_ERR_INTERNAL', 'internal error', undefined, { cause: e });
}

function validationError(part: string, issue: AjvIssue): FabricError {
  const path = (issue.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const field = [part, path].filter(Boolean).join('.');
  const params = issue.params ?? {};
  let message: string;
  if (issue.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
    const name = params['additionalProperty'];
    message = /^[A-Za-z0-9_.-]{1,64}$/.test(name) ? `${field} has an unknown field "${name}"` : `${field} has an unknown field`;
  } else if (issue.keyword === 'required' && typeof params['missingProperty'] === 'string') {
    message = `${field} is missing the required field "${params['missingProperty']}"`;
  } else {
    message = `${field} ${issue.message ?? 'is invalid'}`;
  }
  return new FabricError('WGF_ERR_VALIDATION', message, { field });
}

/** Masks token texts and 32-byte base64 keys in text bound for a log line. */
export function redact(text: string): string {
  return text
    .replace(/wgf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g, 'wgf_[redacted]')
    .replace(/[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=/g, '[key redacted]');
}
