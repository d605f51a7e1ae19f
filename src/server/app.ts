import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { fromRoot } from '../util/paths.js';
import { registerApiDocs } from './api-docs.js';
import { withDefaults, type ServerConfig } from './config.js';
import { ServerContext } from './context.js';
import { EvaluationJobs } from './evaluation-jobs.js';
import { runEvaluation } from './evaluation-run.js';
import { registerEventLoopGuard } from './admission/event-loop-guard.js';
import { clientErrorHandler, frameworkErrorHandler } from './framework-errors.js';
import { registerBodyReaders } from './http/body-reader.js';
import { applyHandlerDeadline } from './http/handler-deadline.js';
import { addResponseHeaders, requestIdOf } from './http/response-headers.js';
import { closeKeepAliveOnShutdown } from './graceful-close.js';
import { ApiError, toHttpFailure } from './http-errors.js';
import { ServerMetrics } from './metrics.js';
import { registerCatalogRoutes } from './routes/catalog.js';
import { registerEvaluationRoutes } from './routes/evaluations.js';
import { registerSearchRoutes } from './routes/search.js';
import { registerStatusRoutes } from './routes/status.js';
import { registerWebRoutes } from './routes/web.js';
import { closeServices, loadServices } from './services.js';

export interface BuildServerOptions {
  config: Partial<ServerConfig> & Pick<ServerConfig, 'modelDir' | 'indexDir'>;
  /** Fastify's logger option (pino): `false` in tests, JSON lines at info by default. */
  logger?: FastifyServerOptions['logger'];
  /**
   * Wait for the model and index before returning (default). `serve` passes false, listens at
   * once and lets /readyz say 503 until `loaded` settles.
   */
  waitUntilLoaded?: boolean;
}

export interface RetrievalServer {
  app: FastifyInstance;
  context: ServerContext;
  /** Every route registered, as "METHOD /url" (HEAD twins left out). */
  routes: string[];
  /** Settles when the model, pools and index are loaded (rejects with why they could not be). */
  loaded: Promise<void>;
}

/** How long a request may take at most (upload included): a slow client cannot hold a connection forever. */
const REQUEST_TIMEOUT_MS = 120_000;

/** Routes that answer whatever the load: probes and metrics (cheap, and needed most when the server struggles). */
const ALWAYS_ANSWERED = new Set(['/healthz', '/readyz', '/metrics']);

/** Build the HTTP server: routes, limits, error mapping, metrics, and the loading of model + index. */
export async function buildServer(options: BuildServerOptions): Promise<RetrievalServer> {
  const config = withDefaults(options.config);
  const app = Fastify({
    logger: options.logger ?? { level: process.env.LOG_LEVEL ?? 'info' },
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Extra query/body properties are refused with 400, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true } },
    bodyLimit: 1024 * 1024,
    // Image names are up to 255 characters (the route's own schema says so; Fastify's default is 100).
    routerOptions: { maxParamLength: 256 },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // A client's X-Request-Id (when it is a sane token) names the request in logs and the answer; else a UUID.
    genReqId: (req: IncomingMessage) => requestIdOf(req.headers['x-request-id']) ?? randomUUID(),
  });
  let services: Awaited<ReturnType<typeof loadServices>> | undefined;
  const metrics = new ServerMetrics(() => ({ image: services?.imagePool, recipe: services?.recipePool }));
  const ctx = new ServerContext(config, metrics);
  let readyAt: number | undefined;
  const routes: string[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
  });
  const version = (JSON.parse(await fs.readFile(fromRoot('package.json'), 'utf8')) as { version: string }).version;

  addResponseHeaders(app);
  await registerEventLoopGuard(app, {
    maxDelayMs: config.maxEventLoopDelayMs, sampleMs: config.eventLoopSampleMs, exempt: ALWAYS_ANSWERED,
    onRefused: () => metrics.observeRefusal('event_loop'),
    // From two intervals after loading finished: the readings until then include the load itself.
    active: () => readyAt !== undefined && performance.now() - readyAt > 2 * config.eventLoopSampleMs,
  });
  // Photo uploads (raw image/* or multipart) are read whole, against the server-wide upload budget.
  registerBodyReaders(app, { budget: ctx.uploads, drainMs: () => ctx.admission.drainMs(), onRefused: () => metrics.observeRefusal('upload_budget') });
  applyHandlerDeadline(app, config.handlerTimeoutMs, { exempt: ALWAYS_ANSWERED, retryAfterMs: () => ctx.admission.drainMs() });

  // While shutting down, keep-alive connections close as soon as their requests are answered.
  closeKeepAliveOnShutdown(app);
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime);
  });
  app.setErrorHandler(async (err, request, reply) => {
    const failure = toHttpFailure(err);
    if (failure.internal) request.log.error({ err }, 'request failed');
    else {
      // The decoder's own words (libvips/glib) are kept here, not in the answer.
      const detail = (err as { detail?: unknown }).detail;
      request.log.info({ code: failure.body.error.code, status: failure.status, ...(typeof detail === 'string' ? { detail } : {}) }, failure.body.error.message);
    }
    return reply.code(failure.status).headers(failure.headers).send(failure.body);
  });
  app.setNotFoundHandler(async (request) => {
    throw new ApiError('not_found', `no route ${request.method} ${request.url.split('?')[0].slice(0, 200)}`);
  });

  // Before the routes: the documentation collects them as they are registered.
  await registerApiDocs(app, version);
  registerStatusRoutes(app, ctx, version);
  registerSearchRoutes(app, ctx);
  registerCatalogRoutes(app, ctx);
  registerEvaluationRoutes(app, ctx);
  await registerWebRoutes(app);

  const loaded = (async () => {
    try {
      services = await loadServices(config, {
        log: (line) => app.log.info(line),
        warn: (line) => app.log.warn(line),
        observeStage: (stage, ms) => metrics.observeStage(stage, ms),
      });
      const s = services;
      const jobs = new EvaluationJobs((request, signal, progress) => runEvaluation(request, {
        photos: s.photos, recipePool: s.recipePool, vocab: s.model.vocab, debiasActive: s.model.manifest.debias.active,
        limits: s.photos.limits,
      }, signal, progress), { log: (line) => app.log.warn(line) });
      ctx.state = { status: 'ready', services: s, jobs };
      readyAt = performance.now();
    } catch (err) {
      ctx.state = { status: 'failed', reason: (err as Error).message };
      throw err;
    }
  })();

  // Fastify has stopped accepting and answered in-flight requests when onClose runs.
  app.addHook('onClose', async () => {
    await loaded.catch(() => {});
    const s = ctx.state;
    if (s.status === 'ready') {
      await s.jobs.close();
      await closeServices(s.services);
    }
  });

  if (options.waitUntilLoaded !== false) {
    try {
      await loaded;
    } catch (err) {
      await app.close();
      throw err;
    }
  } else {
    loaded.catch(() => {}); // the caller observes `loaded`; this keeps an early failure from being "unhandled"
  }
  return { app, context: ctx, loaded, routes };
}
