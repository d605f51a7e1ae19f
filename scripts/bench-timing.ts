import { median } from '../src/eval/metrics.js';

/** Timing helpers shared by the benchmark scripts, so their numbers mean the same thing. */

export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Median ms of `runs` timed calls after one untimed warm-up call. */
export async function medianMs(runs: number, fn: () => Promise<void>): Promise<number> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}
