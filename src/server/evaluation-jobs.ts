import { randomUUID } from 'node:crypto';
import { ApiError, retryAfterSeconds } from './http-errors.js';
import type { EvaluationProgress, EvaluationRequest, EvaluationResult } from './evaluation-run.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface EvaluationJob {
  id: string;
  state: JobState;
  request: Omit<EvaluationRequest, 'root'>;
  progress: EvaluationProgress;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  result?: EvaluationResult;
  error?: string;
}

export type EvaluationRunner = (req: EvaluationRequest, signal: AbortSignal, progress: (p: EvaluationProgress) => void) => Promise<EvaluationResult>;

export interface JobQueueOptions {
  /** Jobs allowed to wait behind the running one. */
  maxQueued?: number;
  /** Finished jobs remembered (oldest forgotten first). */
  keepFinished?: number;
  log?: (line: string) => void;
}

/** Evaluation jobs, run one at a time in submission order; finished ones are kept for a while. */
export class EvaluationJobs {
  private readonly jobs = new Map<string, EvaluationJob>();
  private readonly requests = new Map<string, EvaluationRequest>();
  private readonly waiting: string[] = [];
  private readonly cancelledByRequest = new Set<string>();
  private running: { id: string; abort: AbortController; done: Promise<void>; startedAt: number } | undefined;
  /** Mean duration of finished runs (ms), for Retry-After; undefined before the first. */
  private meanRunMs: number | undefined;
  private closed = false;
  private readonly maxQueued: number;
  private readonly keepFinished: number;

  constructor(private readonly runner: EvaluationRunner, private readonly opts: JobQueueOptions = {}) {
    this.maxQueued = opts.maxQueued ?? 8;
    if (!Number.isInteger(this.maxQueued) || this.maxQueued < 0) throw new RangeError(`maxQueued must be an integer >= 0, got ${this.maxQueued}`);
    this.keepFinished = opts.keepFinished ?? 100;
  }

  submit(request: EvaluationRequest): EvaluationJob {
    if (this.closed) throw new ApiError('shutting_down', 'the server is shutting down');
    if (this.waiting.length >= this.maxQueued) {
      throw new ApiError('too_many_evaluations', `${this.waiting.length} evaluations are already waiting; try again when one has finished`, { headers: { 'retry-after': retryAfterSeconds(this.nextSlotMs()) } });
    }
    const { root: _root, ...shown } = request;
    const job: EvaluationJob = {
      id: randomUUID(), state: 'queued', request: shown, progress: { phase: 'queued', done: 0, total: 0 }, createdAt: new Date().toISOString(),
    };
    this.jobs.set(job.id, job);
    this.requests.set(job.id, request);
    this.waiting.push(job.id);
    this.next();
    return job;
  }

  get(id: string): EvaluationJob | undefined {
    return this.jobs.get(id);
  }

  /** Every job remembered, newest first. */
  list(): EvaluationJob[] {
    return [...this.jobs.values()].reverse();
  }

  /**
   * Stop a job: a waiting one is cancelled at once, a running one is aborted and awaited (its slot
   * is then free). Undefined for an unknown job; a finished job is returned unchanged.
   */
  async cancel(id: string): Promise<EvaluationJob | undefined> {
    const job = this.jobs.get(id);
    if (!job || job.finishedAt) return job;
    const at = this.waiting.indexOf(id);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      this.finish(job, 'cancelled', 'cancelled by a DELETE request before it started');
      return job;
    }
    if (this.running?.id === id) {
      this.cancelledByRequest.add(id);
      this.running.abort.abort();
      await this.running.done;
    }
    return job;
  }

  /** Ms until a waiting slot frees: the running job's expected remainder (from past runs' mean). */
  private nextSlotMs(): number {
    const mean = this.meanRunMs ?? 30_000;
    const elapsed = this.running ? Date.now() - this.running.startedAt : 0;
    return Math.max(1000, mean - elapsed);
  }

  /** Cancel what waits, abort what runs, and wait for it to stop. */
  async close(): Promise<void> {
    this.closed = true;
    for (const id of this.waiting.splice(0)) this.finish(this.jobs.get(id)!, 'cancelled', 'the server shut down before the evaluation started');
    if (this.running) {
      this.running.abort.abort();
      await this.running.done;
    }
  }

  private next(): void {
    if (this.running || this.closed) return;
    const id = this.waiting.shift();
    if (!id) return;
    const job = this.jobs.get(id)!;
    const request = this.requests.get(id)!;
    const abort = new AbortController();
    const startedAt = Date.now();
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    const done = this.runner(request, abort.signal, (p) => { job.progress = p; }).then(
      (result) => {
        job.result = result;
        this.finish(job, 'succeeded');
        const ms = Date.now() - startedAt;
        this.meanRunMs = this.meanRunMs === undefined ? ms : this.meanRunMs + 0.3 * (ms - this.meanRunMs);
      },
      (err: Error) => {
        if (abort.signal.aborted) {
          this.finish(job, 'cancelled', this.cancelledByRequest.delete(id) ? 'cancelled by a DELETE request while running' : 'the server shut down during the evaluation');
        } else {
          this.opts.log?.(`evaluation ${id} failed: ${err.message}`);
          this.finish(job, 'failed', err.message);
        }
      },
    ).finally(() => {
      this.running = undefined;
      this.next();
    });
    this.running = { id, abort, done, startedAt };
  }

  private finish(job: EvaluationJob, state: JobState, error?: string): void {
    job.state = state;
    job.finishedAt = new Date().toISOString();
    if (error !== undefined) job.error = error;
    this.requests.delete(job.id);
    const finished = [...this.jobs.values()].filter((j) => j.finishedAt);
    for (const old of finished.slice(0, Math.max(0, finished.length - this.keepFinished))) this.jobs.delete(old.id);
  }
}
