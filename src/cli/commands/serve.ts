import { availableParallelism } from 'node:os';
import { buildServer } from '../../server/app.js';
import { SERVER_DEFAULTS, type ServerConfig } from '../../server/config.js';
import { MAX_EF } from '../../index/recipe-index.js';
import { UserError } from '../../util/errors.js';
import { deviceFlag, FlagError, precisionFlag, stringFlag, type Command, type ParsedArgs } from '../command.js';

/** Flag, else environment variable, else the default. */
function setting(args: ParsedArgs, flag: string, env: string): string | undefined {
  return stringFlag(args, flag) ?? (process.env[env] !== undefined && process.env[env] !== '' ? process.env[env] : undefined);
}

function intSetting(args: ParsedArgs, flag: string, env: string, fallback: number, min: number, max: number): number {
  const raw = setting(args, flag, env);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new FlagError(`--${flag} (or ${env}) must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new FlagError(`--${flag} (or ${env}) must be between ${min} and ${max}, got ${n}`);
  return n;
}

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
Every option can also come from the environment variable in brackets (the flag wins).

  --model DIR            exported model folder with image_encoder.onnx [MODEL_DIR] (required)
  --index DIR            index folder built with that model [INDEX_DIR] (required)
  --port N               [PORT] (default 8080; 0 = any free port)
  --host H               [HOST] (default 127.0.0.1; 0.0.0.0 to listen on every interface)
  --device D             auto | cuda | cpu [DEVICE] (default auto: CUDA when onnxruntime can start it)
  --precision P          fp32 | int8 [PRECISION]: int8 runs the image encoder made by quantize (default fp32)
  --data-dir DIR         folder whose datasets POST /v1/evaluations may name [DATA_DIR]
                         (evaluations are refused without it)
  --dataset-root DIR     where the index's dataset (its photos) lives now [DATASET_ROOT]
                         (default: the root recorded in the index manifest)
  --max-batch N          photos merged into one inference run [MAX_BATCH] (default ${SERVER_DEFAULTS.maxBatch})
  --max-wait-ms N        longest a photo waits for others to batch with [MAX_WAIT_MS] (default ${SERVER_DEFAULTS.maxWaitMs})
  --max-queue N          photos admitted and not yet answered (decode + inference); beyond: 503 + Retry-After [MAX_QUEUE] (default ${SERVER_DEFAULTS.maxQueue})
  --latency-budget-ms N  admit a photo only if its estimated answer time (from the measured service rate) fits [LATENCY_BUDGET_MS] (default ${SERVER_DEFAULTS.latencyBudgetMs})
  --upload-budget-bytes N  request bodies held in memory at once, all requests together [UPLOAD_BUDGET_BYTES] (default ${SERVER_DEFAULTS.uploadBudgetBytes})
  --decode-pixel-budget N  pixels decoded at once, all photos together [DECODE_PIXEL_BUDGET] (default ${SERVER_DEFAULTS.decodePixelBudget})
  --handler-timeout-ms N   longest a request is handled once its body has arrived; then 503 [HANDLER_TIMEOUT_MS] (default ${SERVER_DEFAULTS.handlerTimeoutMs})
  --max-event-loop-delay-ms N  shed requests with 503 while the mean event-loop delay exceeds it; 0 = never [MAX_EVENT_LOOP_DELAY_MS] (default ${SERVER_DEFAULTS.maxEventLoopDelayMs})
  --max-queued-evaluations N   evaluations waiting behind the running one; beyond: 429 + Retry-After [MAX_QUEUED_EVALUATIONS] (default ${SERVER_DEFAULTS.maxQueuedEvaluations})
  --max-upload-bytes N   largest photo upload [MAX_UPLOAD_BYTES] (default ${SERVER_DEFAULTS.maxUploadBytes})
  --max-pixels N         largest photo in pixels [MAX_PIXELS] (default ${SERVER_DEFAULTS.maxPixels})
  --max-batch-photos N   most photos per /v1/search/batch request [MAX_BATCH_PHOTOS] (default ${SERVER_DEFAULTS.maxBatchPhotos})
  --max-batch-bytes N    most bytes of photos per /v1/search/batch request [MAX_BATCH_BYTES] (default ${SERVER_DEFAULTS.maxBatchBytes})
  --image-workers N      image encoder worker threads [IMAGE_WORKERS] (default ${SERVER_DEFAULTS.imageWorkers})
  --threads N            onnxruntime threads per image worker [THREADS] (default: the number of cores)
  --ef N                 default HNSW search breadth [EF] (default: the index's)
Environment only: LOG_LEVEL (trace | debug | info | warn | error; default info).`,
  options: {
    model: { type: 'string' }, index: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' },
    device: { type: 'string' }, precision: { type: 'string' }, 'data-dir': { type: 'string' }, 'dataset-root': { type: 'string' },
    'max-batch': { type: 'string' }, 'max-wait-ms': { type: 'string' }, 'max-queue': { type: 'string' },
    'max-upload-bytes': { type: 'string' }, 'max-pixels': { type: 'string' }, 'max-batch-photos': { type: 'string' }, 'max-batch-bytes': { type: 'string' },
    'image-workers': { type: 'string' }, threads: { type: 'string' }, ef: { type: 'string' },
    'latency-budget-ms': { type: 'string' }, 'upload-budget-bytes': { type: 'string' }, 'decode-pixel-budget': { type: 'string' },
    'handler-timeout-ms': { type: 'string' }, 'max-event-loop-delay-ms': { type: 'string' }, 'max-queued-evaluations': { type: 'string' },
  },
  positionals: { min: 0, max: 0 },
  async run(args) {
    const modelDir = setting(args, 'model', 'MODEL_DIR');
    if (!modelDir) throw new FlagError('--model is required (an exported model folder, e.g. models/<id>)');
    const indexDir = setting(args, 'index', 'INDEX_DIR');
    if (!indexDir) throw new FlagError('--index is required (an index folder built by recipe-retrieval index)');
    const port = intSetting(args, 'port', 'PORT', 8080, 0, 65535);
    const host = setting(args, 'host', 'HOST') ?? '127.0.0.1';
    const efRaw = setting(args, 'ef', 'EF');
    const config: Partial<ServerConfig> & Pick<ServerConfig, 'modelDir' | 'indexDir'> = {
      modelDir,
      indexDir,
      device: deviceFlag(setting(args, 'device', 'DEVICE')),
      precision: precisionFlag(setting(args, 'precision', 'PRECISION')),
      dataDir: setting(args, 'data-dir', 'DATA_DIR'),
      datasetRoot: setting(args, 'dataset-root', 'DATASET_ROOT'),
      maxBatch: intSetting(args, 'max-batch', 'MAX_BATCH', SERVER_DEFAULTS.maxBatch, 1, 1024),
      maxWaitMs: intSetting(args, 'max-wait-ms', 'MAX_WAIT_MS', SERVER_DEFAULTS.maxWaitMs, 0, 10_000),
      maxQueue: intSetting(args, 'max-queue', 'MAX_QUEUE', SERVER_DEFAULTS.maxQueue, 1, 100_000),
      maxUploadBytes: intSetting(args, 'max-upload-bytes', 'MAX_UPLOAD_BYTES', SERVER_DEFAULTS.maxUploadBytes, 1024, 1024 ** 3),
      maxPixels: intSetting(args, 'max-pixels', 'MAX_PIXELS', SERVER_DEFAULTS.maxPixels, 224 * 224, 500_000_000),
      maxBatchPhotos: intSetting(args, 'max-batch-photos', 'MAX_BATCH_PHOTOS', SERVER_DEFAULTS.maxBatchPhotos, 1, 256),
      maxBatchBytes: intSetting(args, 'max-batch-bytes', 'MAX_BATCH_BYTES', SERVER_DEFAULTS.maxBatchBytes, 1024, 1024 ** 3),
      imageWorkers: intSetting(args, 'image-workers', 'IMAGE_WORKERS', SERVER_DEFAULTS.imageWorkers, 1, 64),
      threadsPerWorker: intSetting(args, 'threads', 'THREADS', availableParallelism(), 1, 256),
      ef: efRaw === undefined ? undefined : intSetting(args, 'ef', 'EF', 0, 1, MAX_EF),
      latencyBudgetMs: intSetting(args, 'latency-budget-ms', 'LATENCY_BUDGET_MS', SERVER_DEFAULTS.latencyBudgetMs, 10, 3_600_000),
      uploadBudgetBytes: intSetting(args, 'upload-budget-bytes', 'UPLOAD_BUDGET_BYTES', SERVER_DEFAULTS.uploadBudgetBytes, 1024 * 1024, 64 * 1024 ** 3),
      decodePixelBudget: intSetting(args, 'decode-pixel-budget', 'DECODE_PIXEL_BUDGET', SERVER_DEFAULTS.decodePixelBudget, 224 * 224, 2_000_000_000),
      handlerTimeoutMs: intSetting(args, 'handler-timeout-ms', 'HANDLER_TIMEOUT_MS', SERVER_DEFAULTS.handlerTimeoutMs, 100, 3_600_000),
      maxEventLoopDelayMs: intSetting(args, 'max-event-loop-delay-ms', 'MAX_EVENT_LOOP_DELAY_MS', SERVER_DEFAULTS.maxEventLoopDelayMs, 0, 600_000),
      maxQueuedEvaluations: intSetting(args, 'max-queued-evaluations', 'MAX_QUEUED_EVALUATIONS', SERVER_DEFAULTS.maxQueuedEvaluations, 0, 10_000),
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
