/**
 * Large-photo overload benchmark (not part of CI): the issue #16 campaign, on this machine.
 *   1. `--clients` (default 128) clients each send a ~10 MB 3400x2600 JPEG to POST /v1/search in a
 *      loop for `--seconds` (default 20): statuses, latency of the answered ones, Retry-After, and
 *      the server's RSS sampled from /proc every 250 ms.
 *   2. Two POST /v1/search/batch requests of 16 PNGs of 49.99 MP each, and an ordinary search of a
 *      demo photo sent 0.5 s later: how long the ordinary search takes (or that it is refused at once).
 * Runs against this checkout's server and, with `--before-bin DIR/bin/recipe-retrieval.js`, against
 * another checkout's (the code before the change) in the same run, alternately. Writes
 * bench-results/overload.json.
 *
 *   node dist/scripts/bench-overload.js [--clients 128] [--seconds 20] [--before-bin PATH]
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { RecipeDataset } from '../src/data/dataset.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';
import { round } from './bench-timing.js';
import { log, percentile, sampler, servedModelAndIndex, startServe } from './bench-serve-process.js';

const { values: args } = parseArgs({ options: { clients: { type: 'string' }, seconds: { type: 'string' }, 'before-bin': { type: 'string' }, out: { type: 'string' } } });
const clients = Number(args.clients ?? 128);
const seconds = Number(args.seconds ?? 20);
const outFile = args.out ?? fromRoot('bench-results', 'overload.json');
const MB = 1024 * 1024;

interface Outcome { status: number; ms: number; retryAfter?: number; error?: string }

async function post(url: string, body: Buffer | FormData, contentType?: string): Promise<Outcome> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { method: 'POST', body, headers: contentType ? { 'content-type': contentType } : {}, signal: AbortSignal.timeout(300_000) });
    await res.arrayBuffer();
    const ra = res.headers.get('retry-after');
    return { status: res.status, ms: performance.now() - t0, ...(ra !== null ? { retryAfter: Number(ra) } : {}) };
  } catch (err) {
    return { status: 0, ms: performance.now() - t0, error: (err as Error).message };
  }
}

function summarise(outcomes: Outcome[]) {
  const byStatus: Record<string, number> = {};
  for (const o of outcomes) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
  const answered = outcomes.filter((o) => o.status === 200).map((o) => o.ms).sort((a, b) => a - b);
  const refused = outcomes.filter((o) => o.status === 503);
  const refusedMs = refused.map((o) => o.ms).sort((a, b) => a - b);
  const retry = refused.map((o) => o.retryAfter ?? NaN).filter(Number.isFinite).sort((a, b) => a - b);
  return {
    requests: outcomes.length, byStatus,
    answeredMs: { p50: round(percentile(answered, 50), 0), p99: round(percentile(answered, 99), 0), max: round(answered.at(-1) ?? NaN, 0) },
    refusedMs: { p50: round(percentile(refusedMs, 50), 0), p99: round(percentile(refusedMs, 99), 0) },
    retryAfterS: { min: retry[0] ?? null, p50: percentile(retry, 50), max: retry.at(-1) ?? null },
  };
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-bench-overload-'));
try {
  log('building the served model and index');
  const { modelDir, indexDir } = await servedModelAndIndex(work);
  const dataset = await RecipeDataset.open(fromRoot('index-data', 'demo'));
  const small = await fs.readFile(dataset.firstImagePath('test', (await dataset.readPaired('test'))[0]));
  log('making the photos: a 3400x2600 JPEG and a 49.99 MP PNG');
  const noise = Buffer.allocUnsafe(3400 * 2600 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761 + (i >>> 7) * 40503) >>> 24;
  const big = await sharp(noise, { raw: { width: 3400, height: 2600, channels: 3 } }).jpeg({ quality: 93 }).toBuffer();
  const side = 7070; // 49.98 MP
  const hugePng = await sharp({ create: { width: side, height: side, channels: 3, background: '#a0522d' } }).png().toBuffer();
  log(`JPEG ${(big.length / MB).toFixed(1)} MB, PNG ${(hugePng.length / 1024).toFixed(0)} KB (${((side * side) / 1e6).toFixed(2)} MP)`);

  const variants: [string, string | undefined][] = args['before-bin'] ? [['before', args['before-bin']], ['after', undefined]] : [['after', undefined]];
  const results: Record<string, unknown> = {};
  const loadBefore = os.loadavg()[0];
  for (const [name, bin] of variants) {
    log(`${name}: starting the server`);
    // The flags every version knows; the rest are each version's defaults.
    const server = await startServe(modelDir, indexDir, ['--threads', '2'], bin);
    const rssIdle = await server.rss();
    for (let i = 0; i < 5; i++) await post(`${server.url}/v1/search`, small, 'image/jpeg');

    log(`${name}: ${clients} clients x ${(big.length / MB).toFixed(1)} MB JPEG for ${seconds} s`);
    const rss = sampler(() => server.rss(), 250);
    const outcomes: Outcome[] = [];
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      while ((performance.now() - t0) / 1000 < seconds) {
        const o = await post(`${server.url}/v1/search?k=5`, big, 'image/jpeg');
        outcomes.push(o);
        // A refused client honours Retry-After (capped at 2 s, so the load stays on).
        if (o.status === 503) await new Promise((r) => setTimeout(r, Math.min(2, o.retryAfter ?? 1) * 1000));
      }
    }));
    const photoPhase = { ...summarise(outcomes), wallSeconds: round((performance.now() - t0) / 1000, 1) };
    const photoRss = await rss.stop();

    log(`${name}: two batches of 16 x 49.99 MP PNG, and one ordinary search 0.5 s later`);
    const rss2 = sampler(() => server.rss(), 250);
    const batch = () => {
      const form = new FormData();
      for (let i = 0; i < 16; i++) form.append('image', new Blob([hugePng], { type: 'image/png' }), `huge-${i}.png`);
      return post(`${server.url}/v1/search/batch?k=3`, form);
    };
    const batches = Promise.all([batch(), batch()]);
    await new Promise((r) => setTimeout(r, 500));
    const ordinary = await post(`${server.url}/v1/search?k=5`, small, 'image/jpeg');
    const batchOutcomes = await batches;
    const idleSearch = await post(`${server.url}/v1/search?k=5`, small, 'image/jpeg');
    const pngRss = await rss2.stop();
    await server.stop();
    const peak = (samples: [number, number][]) => round(Math.max(...samples.map(([, v]) => v).filter(Number.isFinite)) / MB, 0);
    results[name] = {
      rssIdleMiB: round(rssIdle / MB, 0),
      largePhotos: { ...photoPhase, rssPeakMiB: peak(photoRss), rssCurveMiB: photoRss.filter((_, i) => i % 4 === 0).map(([t, v]) => [round(t / 1000, 1), round(v / MB, 0)]) },
      hugePngBatches: {
        batches: batchOutcomes.map((o) => ({ status: o.status, ms: round(o.ms, 0), ...(o.retryAfter !== undefined ? { retryAfter: o.retryAfter } : {}) })),
        ordinarySearch: { status: ordinary.status, ms: round(ordinary.ms, 0), ...(ordinary.retryAfter !== undefined ? { retryAfter: ordinary.retryAfter } : {}) },
        ordinarySearchAfterwardsMs: round(idleSearch.ms, 0),
        rssPeakMiB: peak(pngRss),
      },
    };
    log(`${name}: ${JSON.stringify(photoPhase.byStatus)}, answered p50 ${photoPhase.answeredMs.p50} ms p99 ${photoPhase.answeredMs.p99} ms, RSS ${round(rssIdle / MB, 0)} -> peak ${peak(photoRss)} MiB; ordinary search during PNG batches: ${ordinary.status} in ${ordinary.ms.toFixed(0)} ms; PNG phase RSS peak ${peak(pngRss)} MiB`);
  }
  const result = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), memoryGiB: round(os.totalmem() / 1024 ** 3, 1), node: process.version, loadAverage1mBefore: loadBefore, loadAverage1mAfter: os.loadavg()[0] },
    setup: {
      clients, seconds, jpeg: { width: 3400, height: 2600, megabytes: round(big.length / MB, 1) }, png: { width: side, height: side, kilobytes: round(hugePng.length / 1024, 0) },
      model: 'tiny served model (stand-in backbone: decoding dominates) + demo test-split index', serverFlags: '--threads 2, every other setting at its default',
    },
    ...results,
  };
  await writeFileAtomic(outFile, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${outFile}`);
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
