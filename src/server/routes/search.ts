import type { FastifyInstance } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { ServerContext } from '../context.js';
import type { ErrorCode } from '../error-catalogue.js';
import { toHttpFailure } from '../http-errors.js';
import { checkSearchParams, type SearchParams } from '../search-service.js';
import { readPhotoBatch, readSinglePhoto, tooLargeError } from '../uploads.js';
import { errorResponses } from '../api-docs.js';
import { batchResultSchema, ref } from '../response-schemas.js';
import { photoBodySchema, searchQuerySchema } from '../schemas.js';

interface SearchQuery {
  k: number;
  debias: boolean;
  ef?: number;
}

/** What a search may answer besides results (a batch answers photo errors per photo instead). */
const SEARCH_ERRORS: readonly ErrorCode[] = [
  'invalid_parameter', 'missing_image', 'unexpected_field', 'too_many_images', 'invalid_multipart', 'empty', 'truncated', 'corrupt',
  'unreadable', 'extreme_aspect_ratio', 'too_large', 'too_many_pixels', 'too_many_parts', 'too_many_fields', 'not_an_image',
  'unsupported_format', 'unsupported_media_type', 'inference_failed', 'overloaded', 'not_ready', 'shutting_down',
];

export function registerSearchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const params = (q: SearchQuery): SearchParams => {
    // Without ef the index's default applies (the server's --ef, else the one the index was built with).
    const p = { k: q.k, debias: q.debias, ef: q.ef };
    checkSearchParams(p);
    return p;
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
    // The photo is read from the stream by the handler (not validated as a body): documented only.
    config: { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: photoBodySchema(false) }, url }) },
  }, async (request) => {
    const { services } = ctx.ready();
    const p = params(request.query);
    const photo = await readSinglePhoto(request, ctx.config.maxUploadBytes);
    return services.search.search(photo, p);
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
  }, async (request) => {
    const { services } = ctx.ready();
    const p = params(request.query);
    const started = performance.now();
    const photos = await readPhotoBatch(request, ctx.config.maxUploadBytes, ctx.config.maxBatchPhotos, ctx.config.maxBatchBytes);
    // All photos go to the pool together, so micro-batching can merge them; each fails alone.
    const results = await Promise.all(photos.map(async (photo, index) => {
      try {
        if (photo.tooLarge) throw tooLargeError(ctx.config.maxUploadBytes);
        return { index, filename: photo.filename ?? null, ok: true as const, ...(await services.search.search(photo.bytes, p)) };
      } catch (err) {
        const failure = toHttpFailure(err);
        if (failure.internal) request.log.error({ err }, 'batch photo failed');
        return { index, filename: photo.filename ?? null, ok: false as const, status: failure.status, ...failure.body };
      }
    }));
    return { results, count: results.length, failed: results.filter((r) => !r.ok).length, totalMs: performance.now() - started };
  });
}
