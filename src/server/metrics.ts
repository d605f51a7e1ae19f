import client from 'prom-client';
import type { HistogramSnapshot } from '../runtime/histogram.js';
import type { InferencePool, PoolStats } from '../runtime/inference-pool.js';

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

/**
 * Prometheus metrics: HTTP requests and latency by route and status, search stage times (prom-client),
 * and the inference pools' own counters and histograms (rendered from pool.stats(), which already
 * keeps fixed-bucket histograms, so nothing is recorded twice).
 */
export class ServerMetrics {
  readonly registry = new client.Registry();
  private readonly requests: client.Counter<'method' | 'route' | 'status'>;
  private readonly latency: client.Histogram<'method' | 'route' | 'status'>;
  private readonly stages: client.Histogram<'stage'>;
  private readonly refused: client.Counter<'reason'>;

  constructor(private readonly pools: () => Record<string, InferencePool | undefined>) {
    client.collectDefaultMetrics({ register: this.registry });
    this.requests = new client.Counter({
      name: 'http_requests_total', help: 'HTTP requests answered, by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers: [this.registry],
    });
    this.latency = new client.Histogram({
      name: 'http_request_duration_seconds', help: 'HTTP request latency, by method, route pattern and status', labelNames: ['method', 'route', 'status'],
      buckets: SECONDS_BUCKETS, registers: [this.registry],
    });
    this.stages = new client.Histogram({
      name: 'search_stage_duration_seconds', help: 'Time of each search stage per photo: decode (+ test transform), encode (queue + inference), search (HNSW)',
      labelNames: ['stage'], buckets: SECONDS_BUCKETS, registers: [this.registry],
    });
    this.refused = new client.Counter({
      name: 'admission_rejected_total', help: 'Requests refused with 503 before any work: upload_budget, queue_full, latency_budget, event_loop',
      labelNames: ['reason'], registers: [this.registry],
    });
    for (const reason of ['upload_budget', 'queue_full', 'latency_budget', 'event_loop']) this.refused.inc({ reason }, 0);
  }

  /** Gauges read at scrape time: upload bytes held, photos admitted and not answered, measured service rate. */
  watchAdmission(read: () => { uploadBytesHeld: number; uploadBytesPeak: number; photosInFlight: number; photosPerSecond: number | undefined }): void {
    const gauge = (name: string, help: string, value: () => number) => new client.Gauge({
      name, help, registers: [this.registry], collect() { this.set(value()); },
    });
    gauge('upload_bytes_held', 'Bytes of request bodies held in memory now, all requests together', () => read().uploadBytesHeld);
    gauge('upload_bytes_peak', 'Most bytes of request bodies held at once since start', () => read().uploadBytesPeak);
    gauge('admission_photos_in_flight', 'Photos admitted and not yet answered (waiting to decode, decoding, in inference)', () => read().photosInFlight);
    gauge('admission_service_rate', 'Measured photos answered per second of busy time (0 before the first measurement)', () => read().photosPerSecond ?? 0);
  }

  observeRefusal(reason: string): void {
    this.refused.inc({ reason });
  }

  observeRequest(method: string, route: string, status: number, ms: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, ms / 1000);
  }

  observeStage(stage: string, ms: number): void {
    this.stages.observe({ stage }, ms / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    const pools = Object.entries(this.pools()).filter((e): e is [string, InferencePool] => e[1] !== undefined);
    return `${await this.registry.metrics()}${poolMetricsText(pools.map(([name, pool]) => [name, pool.stats()]))}`;
  }
}

/** Prometheus text for the pools (one label `pool` per encoder). */
export function poolMetricsText(pools: readonly [string, PoolStats][]): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, rows: string[]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...rows);
  };
  const each = (f: (pool: string, s: PoolStats) => string[]) => pools.flatMap(([pool, s]) => f(pool, s));
  family('inference_provider_info', 'gauge', 'Execution provider of each pool (value 1)', each((p, s) => [`inference_provider_info{pool="${p}",provider="${s.provider}"} 1`]));
  family('inference_workers', 'gauge', 'Worker threads (one session each)', each((p, s) => [`inference_workers{pool="${p}"} ${s.workers}`]));
  family('inference_busy_workers', 'gauge', 'Workers running a batch now', each((p, s) => [`inference_busy_workers{pool="${p}"} ${s.busyWorkers}`]));
  family('inference_queue_depth', 'gauge', 'Requests waiting for a worker', each((p, s) => [`inference_queue_depth{pool="${p}"} ${s.queueDepth}`]));
  family('inference_requests_total', 'counter', 'Requests accepted by the pool', each((p, s) => [`inference_requests_total{pool="${p}"} ${s.requests}`]));
  family('inference_rejected_total', 'counter', 'Requests refused because the queue was full', each((p, s) => [`inference_rejected_total{pool="${p}"} ${s.rejectedQueueFull}`]));
  family('inference_session_runs_total', 'counter', 'Session runs (batches)', each((p, s) => [`inference_session_runs_total{pool="${p}"} ${s.sessionRuns}`]));
  family('inference_failed_runs_total', 'counter', 'Session runs that failed', each((p, s) => [`inference_failed_runs_total{pool="${p}"} ${s.failedRuns}`]));
  family('inference_duration_seconds', 'histogram', 'Session run time per batch', each((p, s) => histogramRows('inference_duration_seconds', p, msToSeconds(s.inferenceMs))));
  family('inference_queue_wait_seconds', 'histogram', 'Time a request waited before its batch ran', each((p, s) => histogramRows('inference_queue_wait_seconds', p, msToSeconds(s.queueWaitMs))));
  family('inference_batch_size', 'histogram', 'Rows per session run', each((p, s) => histogramRows('inference_batch_size', p, batchSizeHistogram(s.batchSizes))));
  return `${out.join('\n')}\n`;
}

function msToSeconds(h: HistogramSnapshot): HistogramSnapshot {
  return { ...h, sum: h.sum / 1000, max: h.max / 1000, buckets: h.buckets.map((b) => ({ le: b.le / 1000, count: b.count })) };
}

function batchSizeHistogram(sizes: Record<number, number>): HistogramSnapshot {
  let sum = 0;
  let count = 0;
  for (const [rows, runs] of Object.entries(sizes)) {
    sum += Number(rows) * runs;
    count += runs;
  }
  const bounds = [...BATCH_SIZE_BUCKETS, Infinity];
  const buckets = bounds.map((le) => ({ le, count: Object.entries(sizes).reduce((n, [rows, runs]) => n + (Number(rows) <= le ? runs : 0), 0) }));
  return { buckets, sum, count, max: Math.max(0, ...Object.keys(sizes).map(Number)) };
}

function histogramRows(name: string, pool: string, h: HistogramSnapshot): string[] {
  return [
    ...h.buckets.map((b) => `${name}_bucket{pool="${pool}",le="${b.le === Infinity ? '+Inf' : b.le}"} ${b.count}`),
    `${name}_sum{pool="${pool}"} ${h.sum}`,
    `${name}_count{pool="${pool}"} ${h.count}`,
  ];
}
