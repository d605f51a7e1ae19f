/** Cumulative bucket counts (Prometheus style: `count` observations <= `le`), plus sum and count. */
export interface HistogramSnapshot {
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
  max: number;
}

/** A fixed-bucket histogram: O(buckets) memory however many observations, as metrics need. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  private max = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
    if (value > this.max) this.max = value;
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    const buckets = this.counts.map((c, i) => {
      running += c;
      return { le: i < this.bounds.length ? this.bounds[i] : Infinity, count: running };
    });
    return { buckets, sum: this.sum, count: this.count, max: this.max };
  }
}

export const MILLISECOND_BOUNDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] as const;
