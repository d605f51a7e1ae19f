import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { DataFileError, UserError } from '../util/errors.js';
import { batchRows, canMerge, mergeInputs, splitOutputs, type PaddingRules } from './batching.js';
import { InferenceError, PoolClosedError, QueueFullError } from './errors.js';
import { Histogram, MILLISECOND_BOUNDS, type HistogramSnapshot } from './histogram.js';
import type { Device, Provider } from './session-factory.js';
import { checkTensor, type TensorMap } from './tensor-value.js';
import { addStage, sharedNow, type StageTrace } from './stage-trace.js';
import type { FromWorker, ToWorker, WorkerClock, WorkerInit } from './worker-protocol.js';

export interface InferencePoolOptions {
  modelPath: string;
  /** `auto` (default) tries CUDA and falls back to CPU; `cuda` fails if CUDA cannot start. */
  device?: Device;
  /** Worker threads, each with its own session (default: the number of cores). */
  workers?: number;
  /** onnxruntime intra-op threads per session (default: cores / workers, at least 1). */
  threadsPerWorker?: number;
  /** Most rows merged into one session run (default 16). */
  maxBatch?: number;
  /**
   * Longest a request waits for companions while a worker is idle (default 0: an idle worker takes
   * what is queued at once; requests arriving while every worker is busy batch up meanwhile).
   */
  maxWaitMs?: number;
  /**
   * Longest a batch waits for requests announced (announce()) but not yet submitted while a worker is
   * idle (default 50 ms): photos decoded together then go in one run instead of the first one alone.
   */
  maxArrivalWaitMs?: number;
  /** Requests allowed to wait; beyond it run() rejects with QueueFullError (default 256). */
  maxQueue?: number;
  /** Inputs whose non-batch dims may differ between requests, and how to pad them. */
  padding?: PaddingRules;
  log?: (line: string) => void;
}

export interface RunOptions {
  /** Receives the request's stages (see run()). */
  trace?: StageTrace;
  /**
   * The caller gives up its input buffers (it must not read or reuse them): a batch of this request
   * alone transfers them to the worker instead of copying (structured clone). Each input must own a
   * whole, transferable ArrayBuffer (not a Node Buffer from a pool or an external one such as sharp's).
   */
  handOver?: boolean;
  /** The announcement this request fulfils (see announce()). */
  arrival?: Arrival;
}

/** A request on its way to run() (its input being prepared); cancel it if it will not come. */
export interface Arrival {
  cancel(): void;
}

export interface PoolStats {
  provider: Provider;
  workers: number;
  queueDepth: number;
  busyWorkers: number;
  requests: number;
  sessionRuns: number;
  failedRuns: number;
  /** Requests re-run alone after their merged batch failed (so one bad request fails only itself). */
  isolatedRetries: number;
  rejectedQueueFull: number;
  /** Rows per session run -> number of runs. */
  batchSizes: Record<number, number>;
  inferenceMs: HistogramSnapshot;
  queueWaitMs: HistogramSnapshot;
}

interface Pending {
  inputs: TensorMap;
  rows: number;
  enqueuedAt: number;
  /** Must run in a batch of its own (set after a merged batch containing it failed). */
  solo: boolean;
  /** Where this request's time goes (queue, merge, transit, run...), when the caller asked. */
  trace?: StageTrace;
  /** The caller handed its input buffers over: a batch of this request alone moves them to the worker without a copy. */
  handedOver: boolean;
  resolve: (outputs: TensorMap) => void;
  reject: (err: Error) => void;
}

interface Batch {
  id: number;
  requests: Pending[];
  /** When its message was posted to the worker (shared clock). */
  postedAt: number;
}

interface Slot {
  worker: Worker;
  busy?: Batch;
  closing?: boolean;
  exited?: boolean;
}

interface ReadyInfo {
  provider: Provider;
  fallbackReason?: string;
  inputNames: string[];
  outputNames: string[];
}

const WORKER_URL = new URL('./inference-worker.js', import.meta.url);

/**
 * A pool of onnxruntime sessions in worker threads with micro-batching: concurrent run() calls are
 * queued, merged along dim 0 (padding ruled dims) up to maxBatch rows or maxWaitMs, run as one
 * session.run on a free worker, and split back per caller. The event loop never waits on inference.
 */
export class InferencePool {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  /** Requests announced and not yet submitted or cancelled. */
  private announced = 0;
  /** Callers waiting for a worker to be free (see whenFree()). */
  private freeWaiters: (() => void)[] = [];
  private nextBatchId = 1;
  private closePromise: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private readonly batchSizes = new Map<number, number>();
  private readonly inferenceMs = new Histogram(MILLISECOND_BOUNDS);
  private readonly queueWaitMs = new Histogram(MILLISECOND_BOUNDS);
  private counters = { requests: 0, sessionRuns: 0, failedRuns: 0, isolatedRetries: 0, rejectedQueueFull: 0 };

  private constructor(
    private readonly opts: Required<Omit<InferencePoolOptions, 'log' | 'device'>> & { log: (line: string) => void },
    readonly provider: Provider,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  static async create(options: InferencePoolOptions): Promise<InferencePool> {
    const cores = availableParallelism();
    const workers = options.workers ?? cores;
    const opts = {
      modelPath: options.modelPath,
      workers,
      threadsPerWorker: options.threadsPerWorker ?? Math.max(1, Math.floor(cores / workers)),
      maxBatch: options.maxBatch ?? 16,
      maxWaitMs: options.maxWaitMs ?? 0,
      maxArrivalWaitMs: options.maxArrivalWaitMs ?? 50,
      maxQueue: options.maxQueue ?? 256,
      padding: options.padding ?? {},
      log: options.log ?? (() => {}),
    };
    for (const [key, min] of [['workers', 1], ['threadsPerWorker', 1], ['maxBatch', 1], ['maxQueue', 1]] as const) {
      if (!Number.isInteger(opts[key]) || opts[key] < min) throw new UserError(`inference pool: ${key} must be an integer >= ${min}, got ${opts[key]}`);
    }
    if (!(opts.maxWaitMs >= 0)) throw new UserError(`inference pool: maxWaitMs must be >= 0, got ${opts.maxWaitMs}`);
    if (!existsSync(opts.modelPath)) throw new DataFileError(opts.modelPath, 'model file not found');

    // The first worker settles the device (and logs a CUDA fallback once); the others use its answer.
    const first = await startWorker({ modelPath: opts.modelPath, device: options.device ?? 'auto', intraOpThreads: opts.threadsPerWorker });
    if (first.ready.fallbackReason) {
      opts.log(`onnxruntime: CUDA execution provider unavailable (${first.ready.fallbackReason}); running on CPU`);
    }
    const pool = new InferencePool(opts, first.ready.provider, first.ready.inputNames, first.ready.outputNames);
    pool.adopt(first.worker);
    try {
      const rest = await Promise.all(Array.from({ length: workers - 1 }, () => pool.spawn()));
      rest.forEach((w) => pool.adopt(w));
    } catch (err) {
      await pool.close();
      throw err;
    }
    opts.log(`inference pool: ${workers} worker(s) on ${pool.provider}, ${opts.threadsPerWorker} thread(s) each, maxBatch ${opts.maxBatch}, maxWaitMs ${opts.maxWaitMs}`);
    return pool;
  }

  /**
   * Run the model on one request (inputs with a leading batch dim, usually 1). Resolves with this
   * request's rows of every output. Rejects with QueueFullError when maxQueue requests are waiting,
   * PoolClosedError after close(), InferenceError when the session run fails. `options.trace`
   * receives the request's stages: queue, merge (batch assembly), toWorker (posting included), tensor, ort,
   * outputs, fromWorker, split.
   */
  run(inputs: TensorMap, options: RunOptions = {}): Promise<TensorMap> {
    options.arrival?.cancel(); // it has arrived: batches stop waiting for it
    if (this.closePromise) return Promise.reject(new PoolClosedError());
    let rows: number;
    const plain: TensorMap = {};
    try {
      for (const [name, t] of Object.entries(inputs)) {
        checkTensor(name, t);
        // Copy the three fields: an ort.Tensor keeps `data` behind a getter, which structured clone drops.
        plain[name] = { type: t.type, dims: [...t.dims], data: t.data };
      }
      const names = Object.keys(inputs);
      const missing = this.inputNames.filter((n) => !names.includes(n));
      const unknown = names.filter((n) => !this.inputNames.includes(n));
      if (missing.length || unknown.length) {
        throw new TypeError(`model inputs are [${this.inputNames.join(', ')}]${missing.length ? `; missing ${missing.join(', ')}` : ''}${unknown.length ? `; unknown ${unknown.join(', ')}` : ''}`);
      }
      rows = batchRows(inputs);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.queue.length >= this.opts.maxQueue) {
      this.counters.rejectedQueueFull++;
      return Promise.reject(new QueueFullError(this.opts.maxQueue, this.retryAfterMs()));
    }
    this.counters.requests++;
    return new Promise<TensorMap>((resolve, reject) => {
      this.queue.push({ inputs: plain, rows, enqueuedAt: performance.now(), solo: false, trace: options.trace, handedOver: options.handOver === true, resolve, reject });
      this.schedulePump();
    });
  }

  /**
   * Pump once the current task's synchronous work is done, so requests submitted together (a batch
   * upload's photos, an evaluation's chunk) reach an idle worker as one batch, without a timer's delay.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Say a request is coming (its input is being prepared, e.g. a photo decoding): while announced
   * requests are pending, an idle worker waits up to maxArrivalWaitMs for them, so work prepared
   * together runs together. Pass the result to run() (or cancel() it if the request fails first).
   */
  announce(): Arrival {
    this.announced++;
    let open = true;
    return {
      cancel: () => {
        if (!open) return;
        open = false;
        this.announced--;
        if (this.announced === 0) this.schedulePump();
      },
    };
  }

  /**
   * Resolves once a worker is free (at once if one is). Callers that prepare inputs on the same cores
   * (photo decoding) wait here so that their work and a session run do not slow each other down:
   * preparation then happens between runs, as a bare pipeline does it.
   */
  whenFree(): Promise<void> {
    if (this.closePromise || this.slots.some((s) => !s.busy && !s.closing) || this.slots.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.freeWaiters.push(resolve));
  }

  /** Finish queued and in-flight work, refuse new work, stop the workers and release their sessions. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  stats(): PoolStats {
    return {
      provider: this.provider,
      workers: this.slots.length,
      queueDepth: this.queue.length,
      busyWorkers: this.slots.filter((s) => s.busy).length,
      ...this.counters,
      batchSizes: Object.fromEntries(this.batchSizes),
      inferenceMs: this.inferenceMs.snapshot(),
      queueWaitMs: this.queueWaitMs.snapshot(),
    };
  }

  private async shutdown(): Promise<void> {
    this.releaseFreeWaiters();
    this.pump();
    if (this.queue.length > 0 || this.slots.some((s) => s.busy)) {
      await new Promise<void>((resolve) => { this.drained = resolve; });
    }
    clearTimeout(this.timer);
    await Promise.all(this.slots.map((slot) => stopWorker(slot)));
    this.slots.length = 0;
  }

  /** Dispatch whatever batches are due to idle workers; arm a timer for the oldest waiting request. */
  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => !s.busy && !s.closing);
      if (!slot) return; // a finishing batch pumps again
      const picked = this.pickBatch();
      const rows = picked.reduce((n, i) => n + this.queue[i].rows, 0);
      const waited = performance.now() - this.queue[0].enqueuedAt;
      // Announced requests still on their way: wait for them (bounded; each arrival pumps again).
      const waitMs = this.announced > 0 ? Math.max(this.opts.maxWaitMs, this.opts.maxArrivalWaitMs) : this.opts.maxWaitMs;
      if (rows < this.opts.maxBatch && waited < waitMs && !this.closePromise && !this.queue[0].solo) {
        this.timer = setTimeout(() => this.pump(), waitMs - waited);
        return;
      }
      const requests = picked.map((i) => this.queue[i]);
      for (let k = picked.length - 1; k >= 0; k--) this.queue.splice(picked[k], 1);
      this.dispatch(slot, requests);
    }
    this.checkDrained();
  }

  /** Queue positions of the head request and the compatible ones after it, up to maxBatch rows. */
  private pickBatch(): number[] {
    const head = this.queue[0];
    const picked = [0];
    if (head.solo) return picked;
    let rows = head.rows;
    for (let i = 1; i < this.queue.length && rows < this.opts.maxBatch; i++) {
      const candidate = this.queue[i];
      if (candidate.solo || rows + candidate.rows > this.opts.maxBatch) continue;
      if (!canMerge(head.inputs, candidate.inputs, this.opts.padding)) continue;
      picked.push(i);
      rows += candidate.rows;
    }
    return picked;
  }

  private dispatch(slot: Slot, requests: Pending[]): void {
    const batch: Batch = { id: this.nextBatchId++, requests, postedAt: 0 };
    slot.busy = batch;
    const now = performance.now();
    for (const r of requests) {
      this.queueWaitMs.observe(now - r.enqueuedAt);
      addStage(r.trace, 'queue', now - r.enqueuedAt);
    }
    let feeds: TensorMap;
    try {
      feeds = mergeInputs(requests.map((r) => r.inputs), this.opts.padding);
    } catch (err) {
      slot.busy = undefined;
      this.releaseFreeWaiters();
      this.fail(batch, `could not merge the batch: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    // Merged tensors are ours to transfer; a lone request's arrays are copied unless its caller handed them over.
    const transfer = requests.length > 1 || requests[0].handedOver ? [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))] : [];
    const message: ToWorker = { kind: 'run', id: batch.id, feeds };
    const mergeMs = performance.now() - now;
    for (const r of requests) addStage(r.trace, 'merge', mergeMs);
    // Read before posting: the worker may take the message before postMessage returns here.
    batch.postedAt = sharedNow();
    slot.worker.postMessage(message, transfer);
  }

  private onResult(slot: Slot, message: Extract<FromWorker, { kind: 'result' | 'run-error' }>): void {
    const batch = slot.busy;
    slot.busy = undefined;
    this.releaseFreeWaiters();
    if (!batch || batch.id !== message.id) {
      this.opts.log(`inference pool: ignoring a reply for batch ${message.id}, which this worker was not running`);
    } else if (message.kind === 'run-error') {
      this.fail(batch, message.message);
    } else {
      this.traceTransit(batch, message.clock);
      this.succeed(batch, message.outputs, message.inferenceMs);
    }
    this.pump();
  }

  /**
   * The batch's trip through the worker. Spans inside one thread come from that thread's clock; the
   * two threads' timeOrigins can disagree by milliseconds, so the cross-thread reading only splits
   * the transit time (round trip minus the worker's own span) between the two directions, and the
   * stages add up to the round trip the main thread measured.
   */
  private traceTransit(batch: Batch, clock: WorkerClock): void {
    const roundTrip = Math.max(0, sharedNow() - batch.postedAt);
    const inWorker = Math.max(0, clock.sentAt - clock.receivedAt);
    const transit = Math.max(0, roundTrip - inWorker);
    const toWorker = Math.min(transit, Math.max(0, clock.receivedAt - batch.postedAt));
    for (const r of batch.requests) {
      addStage(r.trace, 'toWorker', toWorker);
      addStage(r.trace, 'tensor', clock.runStartAt - clock.receivedAt);
      addStage(r.trace, 'ort', clock.runEndAt - clock.runStartAt);
      addStage(r.trace, 'outputs', clock.sentAt - clock.runEndAt);
      addStage(r.trace, 'fromWorker', transit - toWorker);
    }
  }

  private succeed(batch: Batch, outputs: TensorMap, inferenceMs: number): void {
    const started = performance.now();
    const rows = batch.requests.map((r) => r.rows);
    this.recordRun(rows);
    this.inferenceMs.observe(inferenceMs);
    let parts: TensorMap[];
    try {
      parts = splitOutputs(outputs, rows);
    } catch (err) {
      this.counters.failedRuns++;
      const error = new InferenceError(err instanceof Error ? err.message : String(err), batch.requests.length);
      batch.requests.forEach((r) => r.reject(error));
      return;
    }
    const splitMs = performance.now() - started;
    batch.requests.forEach((r, i) => {
      addStage(r.trace, 'split', splitMs);
      r.resolve(parts[i]);
    });
  }

  /**
   * A failed merged batch is re-run request by request (at the head of the queue, so they keep their
   * turn): one request with a bad token id or shape then fails alone instead of failing its companions.
   */
  private fail(batch: Batch, reason: string): void {
    this.recordRun(batch.requests.map((r) => r.rows));
    this.counters.failedRuns++;
    if (batch.requests.length > 1) {
      this.counters.isolatedRetries += batch.requests.length;
      for (const r of batch.requests) r.solo = true;
      this.queue.unshift(...batch.requests);
      return;
    }
    const rows = batch.requests[0].rows;
    batch.requests[0].reject(new InferenceError(`inference failed for a request of ${rows} row(s): ${reason}`, 1));
  }

  private recordRun(rows: number[]): void {
    const total = rows.reduce((a, b) => a + b, 0);
    this.counters.sessionRuns++;
    this.batchSizes.set(total, (this.batchSizes.get(total) ?? 0) + 1);
  }

  private releaseFreeWaiters(): void {
    for (const resolve of this.freeWaiters.splice(0)) resolve();
  }

  private checkDrained(): void {
    if (this.drained && this.queue.length === 0 && !this.slots.some((s) => s.busy)) {
      const resolve = this.drained;
      this.drained = undefined;
      resolve();
    }
  }

  private retryAfterMs(): number {
    const snap = this.inferenceMs.snapshot();
    const meanMs = snap.count > 0 ? snap.sum / snap.count : 100;
    const batchesAhead = Math.ceil(this.queue.length / (this.opts.maxBatch * Math.max(1, this.slots.length)));
    return Math.max(1, meanMs * batchesAhead);
  }

  private spawn(): Promise<Worker> {
    return startWorker({ modelPath: this.opts.modelPath, device: this.provider, intraOpThreads: this.opts.threadsPerWorker }).then((w) => w.worker);
  }

  /** Take a started worker into service: route its replies, and replace it if it dies. */
  private adopt(worker: Worker): void {
    const slot: Slot = { worker };
    this.slots.push(slot);
    worker.on('message', (message: FromWorker) => {
      if (message.kind === 'result' || message.kind === 'run-error') this.onResult(slot, message);
    });
    worker.on('error', (err) => this.opts.log(`inference worker error: ${err.message}`));
    worker.on('exit', (code) => {
      slot.exited = true;
      if (slot.closing) return;
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots.splice(index, 1);
      const batch = slot.busy;
      slot.busy = undefined;
      this.releaseFreeWaiters();
      if (batch) {
        this.counters.failedRuns++;
        const error = new InferenceError(`inference worker stopped unexpectedly (exit code ${code})`, batch.requests.length);
        batch.requests.forEach((r) => r.reject(error));
      }
      if (this.closePromise) {
        this.checkDrained();
        return;
      }
      this.opts.log(`inference worker exited (code ${code}); starting a replacement`);
      this.spawn().then((w) => {
        if (this.closePromise) void w.terminate();
        else {
          this.adopt(w);
          this.pump();
        }
      }, (err: Error) => {
        this.opts.log(`inference pool: replacement worker failed to start: ${err.message}`);
        if (this.slots.length > 0) return;
        // Nothing could ever run the queued requests: fail them rather than leave them hanging.
        const error = new InferenceError(`no inference workers left (${err.message})`, this.queue.length);
        this.queue.splice(0).forEach((r) => r.reject(error));
      });
    });
  }
}

/** Start a worker and wait for its session to open (or fail to). */
function startWorker(init: WorkerInit): Promise<{ worker: Worker; ready: ReadyInfo }> {
  const worker = new Worker(WORKER_URL, { workerData: init });
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromWorker) => {
      cleanup();
      if (message.kind === 'ready') {
        resolve({ worker, ready: message });
      } else {
        void worker.terminate();
        const text = message.kind === 'init-error' ? message.message : `unexpected first message ${message.kind}`;
        reject(message.kind === 'init-error' && message.userError ? new UserError(text) : new Error(`inference worker failed to start: ${text}`));
      }
    };
    const onError = (err: Error) => {
      cleanup();
      void worker.terminate();
      reject(new Error(`inference worker failed to start: ${err.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`inference worker exited during start (code ${code})`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** Ask a worker to release its session and exit; terminate it if it does not within a few seconds. */
async function stopWorker(slot: Slot): Promise<void> {
  slot.closing = true;
  if (slot.exited) return;
  const worker = slot.worker;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const closed = new Promise<void>((resolve) => {
    worker.on('message', (m: FromWorker) => { if (m.kind === 'closed') resolve(); });
  });
  worker.postMessage({ kind: 'close' } satisfies ToWorker);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, exited, new Promise<void>((resolve) => { timer = setTimeout(resolve, 5000); })]);
  clearTimeout(timer);
  await worker.terminate();
  await exited;
}
