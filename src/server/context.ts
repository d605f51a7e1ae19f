import type { ServerConfig } from './config.js';
import { ApiError } from './http-errors.js';
import type { EvaluationJobs } from './evaluation-jobs.js';
import type { ServerMetrics } from './metrics.js';
import type { Services } from './services.js';

export type LoadState =
  | { status: 'loading' }
  | { status: 'ready'; services: Services; jobs: EvaluationJobs }
  | { status: 'failed'; reason: string };

/** What every route reads: the configuration, the load state and the metrics. */
export class ServerContext {
  state: LoadState = { status: 'loading' };
  readonly startedAt = new Date();

  constructor(readonly config: ServerConfig, readonly metrics: ServerMetrics) {}

  /** The loaded services, or a 503 that says why there are none (yet). */
  ready(): Extract<LoadState, { status: 'ready' }> {
    const s = this.state;
    if (s.status === 'ready') return s;
    if (s.status === 'loading') throw new ApiError('not_ready', 'the model and index are still loading', { headers: { 'retry-after': '2' } });
    throw new ApiError('not_ready', `the server failed to load: ${s.reason}`);
  }
}
