import { availableParallelism } from 'node:os';
import type { Precision } from '../model-format/exported-model.js';
import type { Device } from '../runtime/session-factory.js';
import { DEFAULT_MAX_PIXELS } from '../data/images/index.js';

/** Everything `serve` (and buildServer) can be told. */
export interface ServerConfig {
  /** Exported model folder (recipe-retrieval export). */
  modelDir: string;
  /** Index folder (recipe-retrieval index) built with that model. */
  indexDir: string;
  device: Device;
  /** Image encoder precision: the exported fp32 graph or its int8 quantization. */
  precision: Precision;
  /** Where the index's dataset lives now (default: the root its manifest records). */
  datasetRoot?: string;
  /** Folder that evaluation requests name their datasets in; evaluations are refused without it. */
  dataDir?: string;
  /** Image encoder worker threads (each with its own session). */
  imageWorkers: number;
  /** onnxruntime threads per image worker. */
  threadsPerWorker: number;
  /**
   * Micro-batching: most photos per session run, and the longest a photo waits for companions while
   * a worker is idle (0: it runs at once; photos arriving while the worker is busy batch meanwhile).
   */
  maxBatch: number;
  maxWaitMs: number;
  /** Photos allowed to wait for the image encoder; beyond it: 503 + Retry-After. */
  maxQueue: number;
  maxUploadBytes: number;
  maxPixels: number;
  /** Most photos in one /v1/search/batch request, and most bytes they may hold together. */
  maxBatchPhotos: number;
  maxBatchBytes: number;
  /** Search breadth when a request gives none (default: the index's own). */
  ef?: number;
  /** Bytes of request bodies (uploads) held in memory at once, all requests together; beyond: 503 at once. */
  uploadBudgetBytes: number;
  /** Pixels being decoded at once, all photos together (each decode holds width x height x 3 bytes). */
  decodePixelBudget: number;
  /** Photos are admitted only while their estimated wait (from the measured service rate) fits this budget. */
  latencyBudgetMs: number;
  /** Longest a handler may run once the request body has arrived; then 503 deadline_exceeded. */
  handlerTimeoutMs: number;
  /** Mean event-loop delay beyond which requests are shed with 503 (0: never). */
  maxEventLoopDelayMs: number;
  /** How often the event-loop delay is measured (the mean over each interval is compared). */
  eventLoopSampleMs: number;
  /** Evaluations allowed to wait behind the running one; beyond: 429 + Retry-After. */
  maxQueuedEvaluations: number;
}

export const SERVER_DEFAULTS = {
  device: 'auto' as Device,
  precision: 'fp32' as Precision,
  imageWorkers: 1,
  threadsPerWorker: availableParallelism(),
  maxBatch: 16,
  maxWaitMs: 0,
  maxQueue: 64,
  // A phone photo is 2-12 MB; 16 MiB leaves room without inviting huge uploads.
  maxUploadBytes: 16 * 1024 * 1024,
  maxPixels: DEFAULT_MAX_PIXELS,
  maxBatchPhotos: 16,
  // Uploads are held in memory while a request is read: this bounds one batch request's share.
  maxBatchBytes: 64 * 1024 * 1024,
  // Four maximal batches, or sixteen maximal single photos, may be held at once.
  uploadBudgetBytes: 256 * 1024 * 1024,
  // Two 50 MP photos (150 MB each as RGB) or many phone photos decode at once.
  decodePixelBudget: 100_000_000,
  latencyBudgetMs: 5000,
  handlerTimeoutMs: 30_000,
  maxEventLoopDelayMs: 1000,
  eventLoopSampleMs: 500,
  maxQueuedEvaluations: 8,
} as const;

export function withDefaults(partial: Partial<ServerConfig> & Pick<ServerConfig, 'modelDir' | 'indexDir'>): ServerConfig {
  return { ...SERVER_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as ServerConfig;
}
