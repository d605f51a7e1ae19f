/**
 * The running mean numpy computes for `np.mean(list_of_float32_vectors, axis=0)`: the list becomes
 * an [n, d] float32 array reduced over axis 0, which numpy does row by row in float32 (pairwise
 * summation applies only along the contiguous axis), then one float32 division by n.
 */
export class Float32RunningMean {
  private sum: Float32Array | undefined;
  count = 0;

  constructor(readonly width: number) {}

  add(vector: Float32Array): void {
    if (vector.length !== this.width) throw new Error(`vector of ${vector.length} values, expected ${this.width}`);
    if (!this.sum) {
      this.sum = Float32Array.from(vector);
    } else {
      const s = this.sum;
      for (let j = 0; j < s.length; j++) s[j] = Math.fround(s[j] + vector[j]);
    }
    this.count++;
  }

  /** Write the mean into `out` (length width); undefined behaviour is refused: no vectors, no mean. */
  meanInto(out: Float32Array): void {
    if (!this.sum) throw new Error('no vectors');
    for (let j = 0; j < out.length; j++) out[j] = Math.fround(this.sum[j] / this.count);
  }
}
