/** The pool's queue is at `maxQueue`: the caller should back off (the server answers 503 + Retry-After). */
export class QueueFullError extends Error {
  constructor(readonly maxQueue: number, readonly retryAfterMs: number) {
    super(`inference queue is full (${maxQueue} requests waiting); retry in about ${Math.ceil(retryAfterMs)} ms`);
    this.name = 'QueueFullError';
  }
}

/** Work submitted after `close()` began. */
export class PoolClosedError extends Error {
  constructor() {
    super('inference pool is closed');
    this.name = 'PoolClosedError';
  }
}

/** A session run failed (bad input shape, worker crash); every caller of that batch gets it. */
export class InferenceError extends Error {
  constructor(message: string, readonly batchRequests: number) {
    super(message);
    this.name = 'InferenceError';
  }
}
