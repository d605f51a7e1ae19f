import type { FastifyInstance } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { ServerContext } from '../context.js';
import { toHttpFailure } from '../http-errors.js';
import { checkSearchParams, type SearchParams } from '../search-service.js';
import { readPhotoBatch, readSinglePhoto, tooLargeError } from '../uploads.js';
import { searchQuerySchema } from '../schemas.js';

interface SearchQuery {
  k: number;
  debias: boolean;
  ef?: number;
}

export function registerSearchRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const params = (q: SearchQuery): SearchParams => {
    // Without ef the index's default applies (the server's --ef, else the one the index was built with).
    const p = { k: q.k, debias: q.debias, ef: q.ef };
    checkSearchParams(p);
    return p;
  };

  app.post<{ Querystring: SearchQuery }>('/v1/search', { schema: { querystring: searchQuerySchema } }, async (request) => {
    const { services } = ctx.ready();
    const p = params(request.query);
    const photo = await readSinglePhoto(request, ctx.config.maxUploadBytes);
    return services.search.search(photo, p);
  });

  app.post<{ Querystring: SearchQuery }>('/v1/search/batch', { schema: { querystring: searchQuerySchema } }, async (request) => {
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
