import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OverloadedError } from '../admission/photo-admission.js';
import { UploadCharge, type UploadBudget } from '../admission/upload-budget.js';
import { ApiError } from '../http-errors.js';

export interface BodyReaderOptions {
  budget: UploadBudget;
  /** When the bytes held now will have been released (for Retry-After), in ms. */
  drainMs: () => number;
  onRefused: () => void;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The upload bytes this request holds against the server's budget (released after the response). */
    uploadCharge: UploadCharge | null;
  }
}

/**
 * Photo uploads (raw image/* bodies and multipart/form-data) are read whole into memory, charged
 * to the server-wide upload budget as they arrive; the route's bodyLimit bounds each one. A body
 * that would overflow the budget is refused with 503 before it is read (when it declares its
 * Content-Length) or as soon as it overflows (chunked).
 */
export function registerBodyReaders(app: FastifyInstance, opts: BodyReaderOptions): void {
  app.decorateRequest('uploadCharge', null);
  const release = async (request: FastifyRequest) => { request.uploadCharge?.release(); };
  app.addHook('onResponse', release);
  app.addHook('onRequestAbort', release);
  const reader = (request: FastifyRequest, payload: IncomingMessage) => readBody(request, payload, opts);
  app.addContentTypeParser(/^image\/[\w.+-]+$/i, reader);
  app.addContentTypeParser('multipart/form-data', reader);
}

async function readBody(request: FastifyRequest, payload: IncomingMessage, opts: BodyReaderOptions): Promise<Buffer> {
  const limit = request.routeOptions.bodyLimit ?? 1024 * 1024;
  const charge = new UploadCharge(opts.budget);
  request.uploadCharge = charge;
  const refuse = () => {
    opts.onRefused();
    return new OverloadedError('upload_budget', `the server holds as many uploads as it may (${mib(opts.budget.limitBytes)}); try again shortly`, opts.drainMs());
  };
  const tooLarge = () => new ApiError('too_large', `the request body is larger than the ${mib(limit)} this endpoint accepts`);
  const declared = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
  if (declared !== undefined) {
    if (declared > limit) throw tooLarge();
    if (!charge.tryAdd(declared)) throw refuse();
  }
  const target = declared !== undefined ? Buffer.allocUnsafe(declared) : undefined;
  const chunks: Buffer[] = [];
  let received = 0;
  return new Promise<Buffer>((resolve, reject) => {
    const fail = (err: Error) => {
      cleanup();
      payload.resume(); // let the rest of the body be discarded, so the answer can go out
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) return fail(tooLarge());
      if (target) {
        if (received > target.length) return fail(new ApiError('bad_request', 'the body is longer than its Content-Length'));
        chunk.copy(target, received - chunk.length);
      } else {
        if (!charge.tryAdd(chunk.length)) return fail(refuse());
        chunks.push(chunk);
      }
    };
    const onEnd = () => {
      cleanup();
      if (target && received !== target.length) return reject(new ApiError('bad_request', 'the body is shorter than its Content-Length'));
      resolve(target ?? Buffer.concat(chunks, received));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  });
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Room for a multipart body's boundaries and part headers on top of the photo bytes it carries. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
