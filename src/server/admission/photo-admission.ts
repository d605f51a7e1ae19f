import { ServiceRate } from './service-rate.js';

/** Photos admitted at once before any has been answered (the decode concurrency). */
const UNMEASURED_IN_FLIGHT = 4;

/** Why a photo request was refused before any work was done for it. */
export type RefusalReason = 'queue_full' | 'latency_budget' | 'upload_budget' | 'event_loop';

/** The server cannot take the request now; the client should come back after `retryAfterMs`. */
export class OverloadedError extends Error {
  constructor(readonly reason: RefusalReason, message: string, readonly retryAfterMs: number) {
    super(message);
    this.name = 'OverloadedError';
  }
}

export interface AdmissionOptions {
  /** Photos admitted and not yet answered (waiting to decode, decoding, waiting for or in inference). */
  maxInFlight: number;
  /** A photo is admitted only if its estimated completion is within this many ms. */
  latencyBudgetMs: number;
  /** Counts refusals for /metrics. */
  onRefused?: (reason: RefusalReason) => void;
}

/** A held admission: call done() once the photos are answered (or failed). */
export interface AdmissionTicket {
  /** Take `more` photos onto this ticket (a batch admitted as one before its body was read); throws OverloadedError. */
  grow(more: number): void;
  done(): void;
}

/**
 * Admission of photos to the decode -> inference path, by count and by time. Every photo admitted
 * and not yet finished counts; the path serves them at a measured rate, so a new photo's wait is
 * about (in flight + its own) / rate. It is admitted when that fits the latency budget (or when
 * nothing is in flight: one photo is always served). A refusal says when the backlog will have
 * drained enough for it to fit: Retry-After comes from the queue's real drain time, not a constant.
 */
export class PhotoAdmission {
  private inFlight = 0;
  readonly rate = new ServiceRate();

  constructor(private readonly opts: AdmissionOptions) {}

  get photosInFlight(): number {
    return this.inFlight;
  }

  /** Estimated ms until `extra` more photos would be answered, from the measured rate (undefined before any). */
  estimatedMs(extra: number): number | undefined {
    const rate = this.rate.photosPerSecond;
    return rate === undefined ? undefined : (this.inFlight + extra) / rate * 1000;
  }

  /** Ms until the photos now in flight have all been served. */
  drainMs(): number {
    return this.estimatedMs(0) ?? 1000;
  }

  /** Throws OverloadedError when `photos` would not be admitted now (nothing is taken). */
  check(photos: number): void {
    if (this.inFlight > 0 && this.inFlight + photos > this.opts.maxInFlight) {
      // The backlog must shrink by the overshoot: that many photos at the measured rate.
      const over = this.inFlight + photos - this.opts.maxInFlight;
      this.refuse('queue_full', `${this.inFlight} photos are being processed (the most is ${this.opts.maxInFlight})`, this.msFor(over));
    }
    const estimate = this.estimatedMs(photos);
    if (estimate === undefined && this.inFlight + photos > UNMEASURED_IN_FLIGHT && this.inFlight > 0) {
      // Nothing has been answered yet, so there is no rate to estimate with: a start-up burst gets
      // only as many photos as decode at once, until the first answers give a rate.
      this.refuse('latency_budget', `the server is measuring its service rate; ${this.inFlight} photos are being processed`, 1000);
    }
    if (this.inFlight > 0 && estimate !== undefined && estimate > this.opts.latencyBudgetMs) {
      this.refuse('latency_budget', `the server is busy: this request would wait about ${(estimate / 1000).toFixed(1)} s, over the ${(this.opts.latencyBudgetMs / 1000).toFixed(1)} s latency budget`, estimate - this.opts.latencyBudgetMs);
    }
  }

  /** Admit `photos` (see check()); the ticket must be done() exactly when they are answered. */
  admit(photos: number): AdmissionTicket {
    this.check(photos);
    this.inFlight += photos;
    this.rate.started(photos);
    let held = photos;
    let finished = false;
    return {
      grow: (more) => {
        if (finished || more <= 0) return;
        // Judged as if the ticket's own photos were not there yet: they are the same request.
        this.inFlight -= held;
        try {
          this.check(held + more);
        } finally {
          this.inFlight += held;
        }
        this.inFlight += more;
        this.rate.started(more);
        held += more;
      },
      done: () => {
        if (finished) return;
        finished = true;
        this.inFlight -= held;
        this.rate.finished(held);
      },
    };
  }

  private msFor(photos: number): number {
    const rate = this.rate.photosPerSecond;
    return rate === undefined ? 1000 : photos / rate * 1000;
  }

  private refuse(reason: RefusalReason, message: string, retryAfterMs: number): never {
    this.opts.onRefused?.(reason);
    throw new OverloadedError(reason, message, retryAfterMs);
  }
}
