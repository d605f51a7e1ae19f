import { ImageDecodeError, type ImageErrorCode } from '../data/images/index.js';
import { InferenceError, PoolClosedError, QueueFullError } from '../runtime/errors.js';
import { UserError } from '../util/errors.js';
import { OverloadedError } from './admission/photo-admission.js';
import { statusOf, type ErrorBody, type ErrorCode } from './error-catalogue.js';

export type { ErrorBody, ErrorCode };

/**
 * An error raised by handlers, answered with its catalogued code and status (`status` only where
 * the catalogue's description names another status for a case) and any headers such as Retry-After.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(readonly code: ErrorCode, message: string, opts: { status?: number; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = opts.status ?? statusOf(code);
    this.headers = opts.headers ?? {};
  }
}

export interface HttpFailure {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** A server-side fault worth an error log line (5xx other than overload). */
  internal: boolean;
}

/** Fastify error codes that are the client's doing, as our codes. */
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'url_too_long',
  FST_ERR_BAD_URL: 'bad_url',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_body',
};

/** Retry-After in whole seconds, rounded up; never 0, which would invite an immediate retry storm. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

/** Map anything a handler threw to the response the client gets. */
export function toHttpFailure(err: unknown): HttpFailure {
  const fail = (code: ErrorCode, message: string, opts: { status?: number; headers?: Record<string, string>; internal?: boolean } = {}): HttpFailure => (
    { status: opts.status ?? statusOf(code), body: { error: { code, message } }, headers: opts.headers ?? {}, internal: opts.internal ?? false }
  );
  if (err instanceof ApiError) return fail(err.code, err.message, { status: err.status, headers: err.headers });
  if (err instanceof ImageDecodeError) return fail(err.code satisfies ImageErrorCode, err.message);
  if (err instanceof OverloadedError || err instanceof QueueFullError) {
    return fail('overloaded', err.message, { headers: { 'retry-after': retryAfterSeconds(err.retryAfterMs) } });
  }
  if (err instanceof PoolClosedError) return fail('shutting_down', 'the server is shutting down', { headers: { 'retry-after': '1' } });
  if (err instanceof InferenceError) return fail('inference_failed', err.message, { internal: true });
  if (err instanceof UserError) return fail('invalid_request', err.message);
  const e = err as { validation?: unknown; validationContext?: string; statusCode?: number; code?: string; message?: string };
  if (e && e.validation) {
    // Ajv's "must NOT have additional properties" does not say which one; the client wants to know.
    const extra = (e.validation as { params?: { additionalProperty?: string } }[]).map((v) => v.params?.additionalProperty).find((p) => p !== undefined);
    return fail('invalid_parameter', `${e.message ?? 'invalid request'}${extra ? `: "${extra}"` : ''}`);
  }
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code = FRAMEWORK_CODES[e.code ?? ''] ?? 'bad_request';
    // Fastify's own text for this repeats the whole URL (up to its limit): say it in a line.
    if (code === 'url_too_long') return fail(code, 'a part of the URL path is longer than 256 characters');
    // The framework's own status stands.
    return fail(code, (e.message ?? 'bad request').slice(0, 300), { status: e.statusCode });
  }
  return fail('internal_error', 'internal server error (see the server log)', { internal: true });
}
