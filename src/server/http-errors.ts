import { ImageDecodeError, type ImageErrorCode } from '../data/images/index.js';
import { InferenceError, PoolClosedError, QueueFullError } from '../runtime/errors.js';
import { UserError } from '../util/errors.js';

/** The body of every error response: a stable machine-readable code and a sentence for people. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** An error with its HTTP status, raised by handlers for things the client got wrong. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface HttpFailure {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
  /** A server-side fault worth an error log line (5xx other than overload). */
  internal: boolean;
}

const IMAGE_STATUS: Partial<Record<ImageErrorCode, number>> = {
  too_large: 413,
  too_many_pixels: 413,
  not_an_image: 415,
  unsupported_format: 415,
};

/** Fastify and @fastify/multipart error codes that are the client's doing, as our codes. */
const FRAMEWORK_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'too_large',
  FST_REQ_FILE_TOO_LARGE: 'too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_MAX_PARAM_LENGTH: 'url_too_long',
  FST_ERR_BAD_URL: 'bad_url',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_body',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'unsupported_media_type',
  FST_FILES_LIMIT: 'too_many_files',
  FST_PARTS_LIMIT: 'too_many_parts',
  FST_FIELDS_LIMIT: 'too_many_fields',
  FST_PROTO_VIOLATION: 'invalid_multipart',
};

/** Map anything a handler threw to the response the client gets. */
export function toHttpFailure(err: unknown): HttpFailure {
  const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}, internal = false): HttpFailure => (
    { status, body: { error: { code, message } }, headers, internal }
  );
  if (err instanceof ApiError) return fail(err.status, err.code, err.message, err.headers);
  if (err instanceof ImageDecodeError) return fail(IMAGE_STATUS[err.code] ?? 400, err.code, err.message);
  if (err instanceof QueueFullError) {
    // Retry-After is in whole seconds; never 0, which would invite an immediate retry storm.
    return fail(503, 'overloaded', err.message, { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
  }
  if (err instanceof PoolClosedError) return fail(503, 'shutting_down', 'the server is shutting down', { 'retry-after': '1' });
  if (err instanceof InferenceError) return fail(500, 'inference_failed', err.message, {}, true);
  if (err instanceof UserError) return fail(400, 'invalid_request', err.message);
  const e = err as { validation?: unknown; validationContext?: string; statusCode?: number; code?: string; message?: string };
  if (e && e.validation) {
    // Ajv's "must NOT have additional properties" does not say which one; the client wants to know.
    const extra = (e.validation as { params?: { additionalProperty?: string } }[]).map((v) => v.params?.additionalProperty).find((p) => p !== undefined);
    return fail(400, 'invalid_parameter', `${e.message ?? 'invalid request'}${extra ? `: "${extra}"` : ''}`);
  }
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return fail(e.statusCode, FRAMEWORK_CODES[e.code ?? ''] ?? 'bad_request', e.message ?? 'bad request');
  }
  return fail(500, 'internal_error', 'internal server error (see the server log)', {}, true);
}
