import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { AdmissionTicket, PhotoAdmission } from '../admission/photo-admission.js';
import type { ServerContext } from '../context.js';
import type { ErrorCode } from '../error-catalogue.js';
import { toHttpFailure } from '../http-errors.js';
import { MULTIPART_OVERHEAD_BYTES } from '../http/body-reader.js';
import { strictIntegerQuery } from '../http/strict-query.js';
import { checkSearchParams, type SearchParams } from '../search-service.js';
import { readPhotoBatch, readSinglePhoto, tooLargeError } from '../uploads.js';
import { errorResponses } from '../api-docs.js';
import { batchResultSchema, ref } from '../response-schemas.js';
import { photoBodySchema, searchQuerySchema } from '../schemas.js';
import { addStage, serverTimingHeader, type StageTrace } from '../../runtime/stage-trace.js';

interface SearchQuery {
  k: number;
  debias: boolean;
  ef?: number;
}

/** What a search may answer besides results (a batch answers photo errors per photo instead). */
const SEARCH_ERRORS: readonly ErrorCode[] = [
  'invalid_parameter', 'missing_image', 'unexpected_field', 'too_many_images', 'invalid_multipart', 'empty', 'truncated', 'corrupt',
  'unreadable', 'extreme_aspect_ratio', 'too_large', 'too_many_pixels', 'not_an_image',
  'unsupported_format', 'unsupported_media_type', 'inference_failed', 'overloaded', 'deadline_exceeded', 'not_ready', 'shutting_down',
];

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's photos on the decode -> inference path (see admission/photo-admission.ts). */
    admission?: AdmissionTicket;
    admissionWorkStarted?: boolean;
    /** A single-photo search's stages (for its Server-Timing header), from the request's arrival. */
    stageTrace?: { stages: StageTrace; arrivedAt: number; handlerDoneAt?: number };
  }
}

/** From here on the handler owns the ticket (and lets it go when its work is done, even after a deadline answer). */
function startWork(request: FastifyRequest, admission: PhotoAdmission): AdmissionTicket {
  // No ticket yet if the server finished loading while this request's body was arriving.
  request.admission ??= admission.admit(1);
  request.admissionWorkStarted = true;
  return request.admission;
}

export function registerSearchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const params = (q: SearchQuery): SearchParams => {
    // Without ef the index's default applies (the server's --ef, else the one the index was built with).
    const p = { k: q.k, debias: q.debias, ef: q.ef };
    checkSearchParams(p);
    return p;
  };
  // Admission happens before the upload is read: one photo must fit now, or no time is spent on it
  // (a batch grows its ticket once its photos are counted). The ticket is let go when the work is
  // done: in the handler, or at the answer if the handler never ran (a bad body, say).
  const admitEarly = async (request: FastifyRequest) => {
    if (ctx.state.status === 'ready') request.admission = ctx.admission.admit(1);
  };
  const releaseUnstarted = async (request: FastifyRequest) => {
    if (!request.admissionWorkStarted) request.admission?.done();
  };
  const c = ctx.config;
  const hooks = {
    preValidation: strictIntegerQuery(searchQuerySchema), onRequest: admitEarly, onResponse: releaseUnstarted, onRequestAbort: releaseUnstarted,
  };

  // Server-Timing on a single-photo search: where its time went, request arrival to serialised answer
  // (read: routing + body; serialise: the answer to JSON). The benchmark reads it; browsers show it.
  const traceArrival = async (request: FastifyRequest) => {
    request.stageTrace = { stages: {}, arrivedAt: performance.now() };
    await admitEarly(request);
  };
  const traceAnswer = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const t = request.stageTrace;
    if (t?.handlerDoneAt !== undefined && reply.statusCode === 200) {
      addStage(t.stages, 'serialise', performance.now() - t.handlerDoneAt);
      // After the server-wide `total` (response-headers.ts), which is the span these stages divide.
      const total = reply.getHeader('server-timing');
      reply.header('server-timing', [total, serverTimingHeader(t.stages)].filter(Boolean).join(', '));
    }
    return payload;
  };

  app.post<{ Querystring: SearchQuery }>('/v1/search', {
    schema: {
      tags: ['search'],
      summary: 'Recipes for one photo',
      description: 'The photo as multipart file field `image`, or as the whole body with Content-Type image/*. Answers the k best recipes, the ingredients the model sees, and timings.',
      querystring: searchQuerySchema,
      response: {
        200: { description: 'ranked recipes, predicted ingredients, timings', ...ref('SearchResult') },
        ...errorResponses(SEARCH_ERRORS),
      },
    },
    // The photo is read by the upload readers (not validated as a body): documented only.
    config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: photoBodySchema(false) }, url }) },
    bodyLimit: c.maxUploadBytes + MULTIPART_OVERHEAD_BYTES,
    ...hooks,
    onRequest: traceArrival,
    onSend: traceAnswer,
  }, async (request) => {
    const trace = request.stageTrace;
    const { services } = ctx.ready();
    const p = params(request.query);
    const photo = await readSinglePhoto(request, c.maxUploadBytes);
    if (trace) addStage(trace.stages, 'read', performance.now() - trace.arrivedAt);
    const ticket = startWork(request, ctx.admission);
    try {
      return await services.search.search(photo, p, trace?.stages);
    } finally {
      if (trace) trace.handlerDoneAt = performance.now();
      ticket.done();
    }
  });

  app.post<{ Querystring: SearchQuery }>('/v1/search/batch', {
    schema: {
      tags: ['search'],
      summary: 'Recipes for several photos',
      description: 'One multipart file field `image` per photo. One result per photo, in request order; a photo that cannot be used fails alone (ok: false, with its status and error).',
      querystring: searchQuerySchema,
      response: {
        200: { description: 'one entry per photo', ...batchResultSchema },
        ...errorResponses(SEARCH_ERRORS, { too_many_images: 413 }),
      },
    },
    config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: photoBodySchema(true) }, url }) },
    bodyLimit: c.maxBatchBytes + c.maxBatchPhotos * MULTIPART_OVERHEAD_BYTES,
    ...hooks,
  }, async (request) => {
    const { services } = ctx.ready();
    const p = params(request.query);
    const started = performance.now();
    const photos = await readPhotoBatch(request, c.maxUploadBytes, c.maxBatchPhotos, c.maxBatchBytes);
    // The whole batch is admitted or refused: its photos are answered together.
    const ticket = startWork(request, ctx.admission);
    try {
      ticket.grow(photos.length - 1);
      // All photos go to the pool together, so micro-batching can merge them; each fails alone.
      const results = await Promise.all(photos.map(async (photo, index) => {
        try {
          if (photo.tooLarge) throw tooLargeError(c.maxUploadBytes);
          return { index, filename: photo.filename ?? null, ok: true as const, ...(await services.search.search(photo.bytes, p)) };
        } catch (err) {
          const failure = toHttpFailure(err);
          if (failure.internal) request.log.error({ err }, 'batch photo failed');
          return { index, filename: photo.filename ?? null, ok: false as const, status: failure.status, ...failure.body };
        }
      }));
      return { results, count: results.length, failed: results.filter((r) => !r.ok).length, totalMs: performance.now() - started };
    } finally {
      ticket.done();
    }
  });
}
