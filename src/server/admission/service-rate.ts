import { performance } from 'node:perf_hooks';

/**
 * The photo path's measured service rate: photos completed per second while there was work in
 * flight (idle time does not count). Each window of at least `windowMs` busy time updates an
 * exponentially weighted mean, so the estimate follows a change of load within a few windows.
 * Windows are long enough to span several inference batches: photos of one batch finish together,
 * and a window of a few completions would read that burst as the sustained rate (measured: samples
 * of 105/s against a sustained 45/s with windows of 8 photos).
 */
export class ServiceRate {
  private inFlight = 0;
  private busySince = 0;
  private windowBusyMs = 0;
  private windowDone = 0;
  private rate: number | undefined;

  constructor(private readonly windowMs = 500, private readonly weight = 0.4) {}

  /**
   * Photos per second: the weighted mean of closed windows, or before the first window closes the
   * open window's own figure once a photo has finished in it; undefined before any photo has.
   */
  get photosPerSecond(): number | undefined {
    if (this.rate !== undefined) return this.rate;
    if (this.windowDone === 0) return undefined;
    const busy = this.windowBusyMs + (this.inFlight > 0 ? performance.now() - this.busySince : 0);
    return this.windowDone / Math.max(busy, 1) * 1000;
  }

  started(n: number): void {
    if (this.inFlight === 0) this.busySince = performance.now();
    this.inFlight += n;
  }

  finished(n: number): void {
    const now = performance.now();
    this.windowBusyMs += now - this.busySince;
    this.busySince = now;
    this.inFlight = Math.max(0, this.inFlight - n);
    this.windowDone += n;
    if (this.windowBusyMs >= this.windowMs) {
      const sample = this.windowDone / Math.max(this.windowBusyMs, 1) * 1000;
      this.rate = this.rate === undefined ? sample : this.rate + this.weight * (sample - this.rate);
      this.windowBusyMs = 0;
      this.windowDone = 0;
    }
  }
}
