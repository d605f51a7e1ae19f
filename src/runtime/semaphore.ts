/** At most `limit` holders at a time; the rest wait in arrival order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`semaphore limit must be a positive integer, got ${limit}`);
  }

  async use<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next waiter (active stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/**
 * At most `capacity` units held at a time (pixels being decoded, say); holders wait in arrival
 * order, so a large one is not starved by a stream of small ones. A holder larger than the whole
 * capacity runs alone.
 */
export class WeightedSemaphore {
  private held = 0;
  private readonly waiting: { units: number; resolve: () => void }[] = [];

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`semaphore capacity must be at least 1, got ${capacity}`);
  }

  async use<T>(units: number, work: () => Promise<T>): Promise<T> {
    const take = Math.min(Math.max(1, units), this.capacity);
    if (this.waiting.length > 0 || this.held + take > this.capacity) {
      await new Promise<void>((resolve) => this.waiting.push({ units: take, resolve }));
    } else {
      this.held += take;
    }
    try {
      return await work();
    } finally {
      this.held -= take;
      // Wake waiters in order while the head fits.
      while (this.waiting.length > 0 && this.held + this.waiting[0].units <= this.capacity) {
        const next = this.waiting.shift()!;
        this.held += next.units;
        next.resolve();
      }
    }
  }
}
