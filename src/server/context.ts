import { PhotoAdmission } from './admission/photo-admission.js';
import { UploadBudget } from './admission/upload-budget.js';
import type { ServerConfig } from './config.js';
import { ApiError } from './http-errors.js';
import type { EvaluationJobs } from './evaluation-jobs.js';
import type { ServerMetrics } from './metrics.js';
import type { Services } from './services.js';

export type LoadState =
  | { status: 'loading' }
  | { status: 'ready'; services: Services; jobs: EvaluationJobs }
  | { status: 'failed'; reason: string };

/** What every route reads: the configuration, the load state, the metrics and the admission bounds. */
export class ServerContext {
  state: LoadState = { status: 'loading' };
  readonly startedAt = new Date();
  /** Bytes of uploads held in memory, all requests together. */
  readonly uploads: UploadBudget;
  /** Photos admitted to the decode -> inference path, by count and by estimated latency. */
  readonly admission: PhotoAdmission;

  constructor(readonly config: ServerConfig, readonly metrics: ServerMetrics) {
    this.uploads = new UploadBudget(config.uploadBudgetBytes);
    this.admission = new PhotoAdmission({
      maxInFlight: config.maxQueue, latencyBudgetMs: config.latencyBudgetMs, onRefused: (reason) => metrics.observeRefusal(reason),
    });
    metrics.watchAdmission(() => ({
      uploadBytesHeld: this.uploads.heldBytes, uploadBytesPeak: this.uploads.peakBytes,
      photosInFlight: this.admission.photosInFlight, photosPerSecond: this.admission.rate.photosPerSecond,
    }));
  }

  /** The loaded services, or a 503 that says why there are none (yet). */
  ready(): Extract<LoadState, { status: 'ready' }> {
    const s = this.state;
    if (s.status === 'ready') return s;
    if (s.status === 'loading') throw new ApiError('not_ready', 'the model and index are still loading', { headers: { 'retry-after': '2' } });
    throw new ApiError('not_ready', `the server failed to load: ${s.reason}`);
  }
}
