import { availableParallelism } from 'node:os';
import { buildServer } from '../../server/app.js';
import { SERVER_DEFAULTS, type ServerConfig } from '../../server/config.js';
import { MAX_EF } from '../../index/recipe-index.js';
import { UserError } from '../../util/errors.js';
import { precisionFlag, type Command } from '../command.js';
import { deviceOption, EXPORTED_MODEL_OPTION, precisionOption } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

/** An integer setting of the server: flag, else environment variable, else the server's default. */
function setting<const F extends number | undefined>(env: string, description: string, fallback: F, min: number, max: number) {
  return { type: 'string', value: 'N', env, description, default: fallback, min, max } as const;
}

const D = SERVER_DEFAULTS;

/** Every option can also come from the environment variable it names (the flag wins). */
export const SERVE_OPTIONS = defineOptions({
  model: { ...EXPORTED_MODEL_OPTION, description: 'exported model folder with image_encoder.onnx', env: 'MODEL_DIR' },
  index: {
    type: 'string', value: 'DIR', env: 'INDEX_DIR', description: 'index folder built with that model',
    required: 'an index folder built by recipe-retrieval index',
  },
  port: setting('PORT', '0 = any free port', 8080, 0, 65535),
  host: { type: 'string', value: 'H', env: 'HOST', description: '0.0.0.0 to listen on every interface', default: '127.0.0.1' },
  device: { ...deviceOption(), env: 'DEVICE' },
  precision: { ...precisionOption('int8 runs the image encoder made by quantize'), env: 'PRECISION' },
  'data-dir': {
    type: 'string', value: 'DIR', env: 'DATA_DIR',
    description: 'folder whose datasets POST /v1/evaluations may name\n(evaluations are refused without it)',
  },
  'dataset-root': {
    type: 'string', value: 'DIR', env: 'DATASET_ROOT',
    description: 'where the index\'s dataset (its photos) lives now\n(default: the root recorded in the index manifest)',
  },
  'max-batch': setting('MAX_BATCH', 'photos merged into one inference run', D.maxBatch, 1, 1024),
  'max-wait-ms': setting('MAX_WAIT_MS', 'longest a photo waits for others while a worker is idle (0: it runs at once; photos arriving during a run batch anyway)', D.maxWaitMs, 0, 10_000),
  'max-queue': setting('MAX_QUEUE', 'photos admitted and not yet answered (decode + inference); beyond: 503 + Retry-After', D.maxQueue, 1, 100_000),
  'latency-budget-ms': setting('LATENCY_BUDGET_MS', 'admit a photo only if its estimated answer time (from the measured service rate) fits', D.latencyBudgetMs, 10, 3_600_000),
  'upload-budget-bytes': setting('UPLOAD_BUDGET_BYTES', 'request bodies held in memory at once, all requests together', D.uploadBudgetBytes, 1024 * 1024, 64 * 1024 ** 3),
  'decode-pixel-budget': setting('DECODE_PIXEL_BUDGET', 'pixels decoded at once, all photos together', D.decodePixelBudget, 224 * 224, 2_000_000_000),
  'handler-timeout-ms': setting('HANDLER_TIMEOUT_MS', 'longest a request is handled once its body has arrived; then 503', D.handlerTimeoutMs, 100, 3_600_000),
  'max-event-loop-delay-ms': setting('MAX_EVENT_LOOP_DELAY_MS', 'shed requests with 503 while the mean event-loop delay exceeds it; 0 = never', D.maxEventLoopDelayMs, 0, 600_000),
  'max-queued-evaluations': setting('MAX_QUEUED_EVALUATIONS', 'evaluations waiting behind the running one; beyond: 429 + Retry-After', D.maxQueuedEvaluations, 0, 10_000),
  'max-upload-bytes': setting('MAX_UPLOAD_BYTES', 'largest photo upload', D.maxUploadBytes, 1024, 1024 ** 3),
  'max-pixels': setting('MAX_PIXELS', 'largest photo in pixels', D.maxPixels, 224 * 224, 500_000_000),
  'max-batch-photos': setting('MAX_BATCH_PHOTOS', 'most photos per /v1/search/batch request', D.maxBatchPhotos, 1, 256),
  'max-batch-bytes': setting('MAX_BATCH_BYTES', 'most bytes of photos per /v1/search/batch request', D.maxBatchBytes, 1024, 1024 ** 3),
  'image-workers': setting('IMAGE_WORKERS', 'image encoder worker threads', D.imageWorkers, 1, 64),
  threads: setting('THREADS', 'onnxruntime threads per image worker (default: the number of cores)', undefined, 1, 256),
  ef: setting('EF', 'default HNSW search breadth (default: the index\'s)', undefined, 1, MAX_EF),
});

export const SHUTDOWN_GRACE_MS = 30_000;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the HTTP retrieval server (photo -> ranked recipes) with a web page and an evaluation API',
  help: `Usage: recipe-retrieval serve --model models/<id> --index index-data/<index-id> [options]

Serves POST /v1/search (one photo), POST /v1/search/batch, POST /v1/evaluations,
GET /v1/evaluations (the jobs), GET /v1/evaluations/:id, DELETE /v1/evaluations/:id (stop a job),
GET /v1/recipes/:id, /v1/images/:name, /v1/info, /healthz, /readyz, /metrics (Prometheus), /docs
(interactive API documentation; OpenAPI at /docs/json) and a web page at /. Overload is refused early with 503 + Retry-After: uploads held past
--upload-budget-bytes, photos past --max-queue or whose estimated wait exceeds --latency-budget-ms,
and any request while the event loop lags more than --max-event-loop-delay-ms. Logs are JSON lines (pino) on stdout. SIGINT/SIGTERM: stop
accepting, finish the requests in flight, stop the inference workers, exit 0.
Every option can also come from the environment variable in brackets (the flag wins).`,
  options: SERVE_OPTIONS,
  helpNotes: 'Environment only: LOG_LEVEL (trace | debug | info | warn | error; default info).',
  positionals: { min: 0, max: 0 },
  async run(args) {
    const flags = readFlags(args, SERVE_OPTIONS);
    const modelDir = flags.string('model');
    const indexDir = flags.string('index');
    const port = flags.int('port');
    const host = flags.string('host');
    const config: Partial<ServerConfig> & Pick<ServerConfig, 'modelDir' | 'indexDir'> = {
      modelDir,
      indexDir,
      device: flags.choice('device'),
      precision: precisionFlag(flags.string('precision')),
      dataDir: flags.string('data-dir'),
      datasetRoot: flags.string('dataset-root'),
      maxBatch: flags.int('max-batch'),
      maxWaitMs: flags.int('max-wait-ms'),
      maxQueue: flags.int('max-queue'),
      maxUploadBytes: flags.int('max-upload-bytes'),
      maxPixels: flags.int('max-pixels'),
      maxBatchPhotos: flags.int('max-batch-photos'),
      maxBatchBytes: flags.int('max-batch-bytes'),
      imageWorkers: flags.int('image-workers'),
      threadsPerWorker: flags.int('threads') ?? availableParallelism(),
      ef: flags.int('ef'),
      latencyBudgetMs: flags.int('latency-budget-ms'),
      uploadBudgetBytes: flags.int('upload-budget-bytes'),
      decodePixelBudget: flags.int('decode-pixel-budget'),
      handlerTimeoutMs: flags.int('handler-timeout-ms'),
      maxEventLoopDelayMs: flags.int('max-event-loop-delay-ms'),
      maxQueuedEvaluations: flags.int('max-queued-evaluations'),
    };

    const server = await buildServer({ config, waitUntilLoaded: false });
    const { app } = server;
    const stopped = new Promise<string>((resolve) => {
      let stopping = false;
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        app.log.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
        // A request stuck past the grace period must not keep the process alive forever.
        const force = setTimeout(() => {
          app.log.error('shutdown grace period over; exiting with requests unfinished');
          process.exit(1);
        }, SHUTDOWN_GRACE_MS);
        force.unref();
        app.close().then(() => {
          clearTimeout(force);
          app.log.info('server stopped, inference workers closed');
          resolve(signal);
        }, (err: Error) => {
          app.log.error({ err }, 'error while shutting down');
          resolve(signal);
        });
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

    const url = await app.listen({ port, host });
    app.log.info({ url, model: modelDir, index: indexDir }, `recipe-retrieval listening on ${url}`);
    try {
      await server.loaded;
      app.log.info({ url }, 'ready: model and index loaded');
    } catch (err) {
      app.log.error({ err: (err as Error).message }, 'could not load the model and index');
      await app.close();
      throw err instanceof UserError ? err : new UserError(`could not load the model and index: ${(err as Error).message}`);
    }
    const signal = await stopped;
    return { data: { stopped: signal, url }, text: `server stopped (${signal})` };
  },
};
