import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import type { ErrorCode } from '../error-catalogue.js';
import { errorResponses } from '../api-docs.js';
import { healthSchema, infoSchema, readySchema } from '../response-schemas.js';
import { evaluationSummary } from '../../model-format/model-evaluation.js';
import { componentVersions } from '../versions.js';

export function registerStatusRoutes(app: FastifyInstance, ctx: ServerContext, serverVersion: string): void {
  // Alive, and honest about it: "ok" only once loading has succeeded; a failed load (the process is
  // about to exit, or cannot serve) is 503.
  app.get('/healthz', {
    schema: { tags: ['status'], summary: 'Liveness: "ok" once loaded, "loading" before, 503 "failed" if loading failed', response: { 200: healthSchema, 503: healthSchema } },
  }, async (_request, reply) => {
    const s = ctx.state;
    if (s.status === 'ready') return { status: 'ok' };
    if (s.status === 'loading') return { status: 'loading' };
    reply.code(503);
    return { status: 'failed', error: { code: 'not_ready' as const, message: `failed to load: ${s.reason}` } };
  });

  app.get('/readyz', {
    schema: {
      tags: ['status'],
      summary: 'Readiness: the model and index are loaded',
      response: { 200: readySchema, 503: { ...readySchema, description: 'still loading, or failed to load (the message says why)' } },
    },
  }, async (_request, reply) => {
    const s = ctx.state;
    if (s.status === 'ready') return { status: 'ready' };
    reply.code(503).header('retry-after', '2');
    return { status: s.status, error: { code: 'not_ready' satisfies ErrorCode, message: s.status === 'failed' ? `failed to load: ${s.reason}` : 'the model and index are still loading' } };
  });

  app.get('/metrics', {
    schema: {
      tags: ['status'],
      summary: 'Prometheus metrics',
      produces: ['text/plain'],
      response: { 200: { description: 'Prometheus text format: requests, latencies, inference batches, queue depth, process', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  }, async (_request, reply) => {
    reply.header('content-type', ctx.metrics.contentType);
    return ctx.metrics.render();
  });

  app.get('/v1/info', {
    schema: {
      tags: ['status'],
      summary: 'Model, index, execution provider, versions and limits',
      response: { 200: { description: 'server information', ...infoSchema }, ...errorResponses(['not_ready']) },
    },
  }, async () => {
    const { services } = ctx.ready();
    const m = services.model.manifest;
    const ix = services.index.manifest;
    const c = ctx.config;
    return {
      server: { name: 'recipe-retrieval', version: serverVersion, startedAt: ctx.startedAt.toISOString(), uptimeSeconds: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000) },
      versions: componentVersions(),
      provider: { image: services.imagePool.provider, recipe: services.recipePool.provider, requested: c.device },
      model: {
        id: m.modelId, stage: m.stage, preset: m.preset, createdAt: m.createdAt, producer: m.producer,
        embeddingDim: m.embeddingDim, labels: m.labels.count, vocabularyWords: m.vocabulary.words,
        debias: { active: m.debias.active, reason: m.debias.reason, keepThreshold: m.debias.keepThreshold },
        preprocessing: m.preprocessing.image, source: { runName: m.source.runName, stage: m.source.stage, epoch: m.source.epoch },
        manifestSha256: services.model.manifestSha256,
        // The model's measured quality, when its manifest records it (absent: never measured).
        ...(m.evaluation ? { evaluation: { ...m.evaluation, summary: evaluationSummary(m.evaluation) } } : {}),
      },
      index: {
        count: ix.count, width: ix.width, space: ix.space, hnsw: ix.hnsw, efSearch: services.index.index.params.efSearch,
        dataset: ix.dataset, builtAt: ix.builtAt, photos: services.catalog.size,
      },
      limits: {
        maxUploadBytes: c.maxUploadBytes, maxPixels: c.maxPixels, maxBatchPhotos: c.maxBatchPhotos, maxBatchBytes: c.maxBatchBytes,
        maxBatch: c.maxBatch, maxWaitMs: c.maxWaitMs, maxQueue: c.maxQueue, imageWorkers: c.imageWorkers, threadsPerWorker: c.threadsPerWorker,
        uploadBudgetBytes: c.uploadBudgetBytes, decodePixelBudget: c.decodePixelBudget, latencyBudgetMs: c.latencyBudgetMs,
        handlerTimeoutMs: c.handlerTimeoutMs, maxEventLoopDelayMs: c.maxEventLoopDelayMs, maxQueuedEvaluations: c.maxQueuedEvaluations,
      },
      evaluations: { enabled: c.dataDir !== undefined },
    };
  });
}
