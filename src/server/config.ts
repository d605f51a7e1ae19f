import { availableParallelism } from 'node:os';
import type { Precision } from '../runtime/exported-model.js';
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
  /** Micro-batching: most photos per session run, and the longest a photo waits for companions. */
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
}

export const SERVER_DEFAULTS = {
  device: 'auto' as Device,
  precision: 'fp32' as Precision,
  imageWorkers: 1,
  threadsPerWorker: availableParallelism(),
  maxBatch: 16,
  maxWaitMs: 2,
  maxQueue: 64,
  // A phone photo is 2-12 MB; 16 MiB leaves room without inviting huge uploads.
  maxUploadBytes: 16 * 1024 * 1024,
  maxPixels: DEFAULT_MAX_PIXELS,
  maxBatchPhotos: 16,
  // Uploads are held in memory while a request is read: this bounds one batch request's share.
  maxBatchBytes: 64 * 1024 * 1024,
} as const;

export function withDefaults(partial: Partial<ServerConfig> & Pick<ServerConfig, 'modelDir' | 'indexDir'>): ServerConfig {
  return { ...SERVER_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as ServerConfig;
}
