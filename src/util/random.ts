/**
 * A small seeded pseudo-random generator (mulberry32: 32-bit state, period 2^32), so that
 * augmentation and subset sampling are reproducible from one integer seed. Not for cryptography.
 * Why two generators: this one's streams are baked into stored artifacts (augmented crops, subsets,
 * feature cache views); model weight initialisation uses labelled-random.ts (xoshiro128**), whose
 * streams fix initial weights. Neither can change its output, so neither replaces the other.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    // Any integer works; fold to uint32 so that negative and large seeds are accepted.
    this.state = Math.trunc(seed) >>> 0;
  }

  /** Next uniformly distributed integer in [0, 2^32). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform float in [0, 1), 32 bits of resolution. */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n), n a positive integer <= 2^32; unbiased (rejection of the short last range). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`nextInt(n) needs an integer 1..2^32, got ${n}`);
    // Largest multiple of n that fits in 2^32: values at or above it would favour small results.
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Shuffle in place (Fisher-Yates) and return the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }
}
