/**
 * Where one request's time went, stage by stage (milliseconds, summed when a stage repeats). Filled
 * by whoever does the work (the upload reader, the photo decoder, the inference pool and its worker)
 * and read by the server's Server-Timing header and `bench:server`'s breakdown.
 */
export type StageTrace = Record<string, number>;

export function addStage(trace: StageTrace | undefined, stage: string, ms: number): void {
  if (trace) trace[stage] = (trace[stage] ?? 0) + Math.max(0, ms);
}

/**
 * A clock shared by the main thread and the workers: performance.now() counts from each thread's own
 * start, so the two are compared through timeOrigin (both derive from the same monotonic clock).
 */
export function sharedNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The order stages are reported in, request start to answer (unknown stages follow). */
export const STAGE_ORDER = [
  'read', 'header', 'decodeWait', 'decode', 'queue', 'merge', 'toWorker', 'tensor', 'ort', 'outputs', 'fromWorker', 'split', 'resume', 'search', 'post', 'serialise',
] as const;

/** `Server-Timing` header value: `name;dur=ms` per stage, in STAGE_ORDER. */
export function serverTimingHeader(trace: StageTrace): string {
  const known = STAGE_ORDER.filter((s) => s in trace);
  const rest = Object.keys(trace).filter((s) => !(STAGE_ORDER as readonly string[]).includes(s));
  return [...known, ...rest].map((s) => `${s};dur=${trace[s].toFixed(3)}`).join(', ');
}

/** Parse a `Server-Timing` header back into stages (what the benchmark reads). */
export function parseServerTiming(header: string | null): StageTrace {
  const trace: StageTrace = {};
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*([\w-]+)\s*;\s*dur=([\d.]+)/.exec(part);
    if (m) trace[m[1]] = Number(m[2]);
  }
  return trace;
}
