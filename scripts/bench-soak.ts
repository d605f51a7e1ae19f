/**
 * Soak test of the server (not part of CI): `--seconds` (default 600) of mixed valid and invalid
 * requests from `--clients` concurrent clients, with the server's RSS sampled from /proc every 5 s
 * and its JS heap (from /metrics) alongside. The reading says whether RSS grows (a leak) or rises
 * to a plateau and stays (allocator high-water: freed memory kept by malloc/libvips for reuse).
 * Writes bench-results/soak.json.
 *
 *   node dist/scripts/bench-soak.js [--seconds 600] [--clients 16] [--server-env NAME=VALUE ...] [--out FILE]
 *
 * --server-env sets an environment variable of the server only (e.g. MALLOC_ARENA_MAX=2, to see
 * whether a rise is glibc's per-thread malloc arenas).
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
import { log, sampler, servedModelAndIndex, startServe } from './bench-serve-process.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string' }, clients: { type: 'string' }, out: { type: 'string' }, 'server-env': { type: 'string', multiple: true } } });
const serverEnv = Object.fromEntries((args['server-env'] ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const seconds = Number(args.seconds ?? 600);
const clients = Number(args.clients ?? 16);
const outFile = args.out ?? fromRoot('bench-results', 'soak.json');
const MB = 1024 * 1024;

function form(parts: { name?: string; filename?: string; data: Buffer }[], boundary = 'soakBoundary'): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = p.name === undefined ? '' : `Content-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n`;
    chunks.push(Buffer.from(`--${boundary}\r\n${disposition}Content-Type: image/jpeg\r\n\r\n`), p.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

/** Linear least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-bench-soak-'));
try {
  log('building the served model and index');
  const { modelDir, indexDir } = await servedModelAndIndex(work);
  const dataset = await RecipeDataset.open(fromRoot('index-data', 'demo'));
  const photos = await Promise.all((await dataset.readPaired('test')).map((r) => fs.readFile(dataset.firstImagePath('test', r))));
  const noise = Buffer.alloc(400 * 300 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const medium = await sharp(noise, { raw: { width: 400, height: 300, channels: 3 } }).resize(1600, 1200, { kernel: 'nearest' }).jpeg({ quality: 90 }).toBuffer();
  const boundary = { 'content-type': 'multipart/form-data; boundary=soakBoundary' };
  const jpeg = { 'content-type': 'image/jpeg' };
  // Weighted mix: mostly valid searches, the rest every kind of bad request the campaigns sent.
  const kinds: { name: string; weight: number; send: (url: string, i: number) => Promise<Response> }[] = [
    { name: 'search', weight: 40, send: (u, i) => fetch(`${u}/v1/search?k=10`, { method: 'POST', body: photos[i % photos.length], headers: jpeg }) },
    { name: 'search_2mp', weight: 8, send: (u) => fetch(`${u}/v1/search?k=5`, { method: 'POST', body: medium, headers: jpeg }) },
    { name: 'multipart', weight: 10, send: (u, i) => fetch(`${u}/v1/search`, { method: 'POST', body: form([{ name: 'image', filename: 'a.jpg', data: photos[i % photos.length] }]), headers: boundary }) },
    { name: 'batch4', weight: 5, send: (u, i) => fetch(`${u}/v1/search/batch?k=3`, { method: 'POST', body: form([0, 1, 2, 3].map((j) => ({ name: 'image', filename: `${j}.jpg`, data: photos[(i + j) % photos.length] }))), headers: boundary }) },
    { name: 'nameless_part', weight: 5, send: (u) => fetch(`${u}/v1/search`, { method: 'POST', body: form([{ data: Buffer.alloc(20_000, 65) }]), headers: boundary }) },
    { name: 'truncated', weight: 5, send: (u, i) => fetch(`${u}/v1/search`, { method: 'POST', body: photos[i % photos.length].subarray(0, 3000), headers: jpeg }) },
    { name: 'not_an_image', weight: 5, send: (u) => fetch(`${u}/v1/search`, { method: 'POST', body: Buffer.alloc(300_000, 7), headers: jpeg }) },
    { name: 'bad_param', weight: 5, send: (u, i) => fetch(`${u}/v1/search?k=0x10`, { method: 'POST', body: photos[i % photos.length], headers: jpeg }) },
    { name: 'reads', weight: 12, send: (u, i) => fetch(`${u}${['/v1/info', '/healthz', '/v1/recipes/nope', '/v1/images/..%2Fx', '/metrics', '/nowhere'][i % 6]}`) },
    { name: 'cut_multipart', weight: 5, send: (u, i) => fetch(`${u}/v1/search`, { method: 'POST', body: form([{ name: 'image', filename: 'a.jpg', data: photos[i % photos.length] }]).subarray(0, 2000), headers: boundary }) },
  ];
  const wheel = kinds.flatMap((k) => Array<typeof k>(k.weight).fill(k));

  const server = await startServe(modelDir, indexDir, ['--threads', '1'], undefined, serverEnv);
  log(`serving at ${server.url}; soaking for ${seconds} s with ${clients} clients`);
  const loadBefore = os.loadavg()[0];
  const heap = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return Number(/^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text)?.[1] ?? NaN);
  };
  const rssSampler = sampler(() => server.rss(), 5000);
  const heapSampler = sampler(heap, 5000);
  const statuses: Record<string, Record<number, number>> = {};
  let sent = 0;
  let failed = 0;
  const t0 = performance.now();
  let lastReport = t0;
  const client = async (c: number) => {
    for (let i = c; (performance.now() - t0) / 1000 < seconds; i += clients) {
      const kind = wheel[(i * 7919) % wheel.length];
      try {
        const res = await kind.send(server.url, i);
        await res.arrayBuffer();
        (statuses[kind.name] ??= {})[res.status] = ((statuses[kind.name] ??= {})[res.status] ?? 0) + 1;
      } catch {
        failed++;
      }
      sent++;
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        log(`${Math.round((lastReport - t0) / 1000)} s: ${sent} requests, RSS ${((await server.rss()) / MB).toFixed(0)} MB`);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  const elapsed = (performance.now() - t0) / 1000;
  const rss = await rssSampler.stop();
  const heapUsed = await heapSampler.stop();
  await server.stop();

  const mb = (b: number) => round(b / MB, 1);
  const minutes = (points: [number, number][]) => points.filter(([, v]) => Number.isFinite(v)).map(([t, v]) => [t / 60_000, v / MB] as [number, number]);
  const secondHalf = minutes(rss).filter(([t]) => t >= seconds / 120);
  const firstMinute = rss.filter(([t]) => t < 60_000).map(([, v]) => v);
  const lastMinute = rss.filter(([t]) => t >= (seconds - 60) * 1000).map(([, v]) => v);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const peak = Math.max(...rss.map(([, v]) => v));
  const slopeLate = slope(secondHalf);
  const heapSlopeLate = slope(minutes(heapUsed).filter(([t]) => t >= seconds / 120));
  // Growth and high-water differ in whether RSS keeps rising once the traffic mix has been seen:
  // under 2 MB/min over the second half is read as a plateau.
  const reading = Math.abs(slopeLate) < 2
    ? `RSS plateaus: ${mb(mean(firstMinute))} MB mean in the first minute, ${mb(peak)} MB peak, ${mb(mean(lastMinute))} MB mean in the last minute; over the second half it moves ${round(slopeLate, 2)} MB/min (JS heap ${round(heapSlopeLate, 2)} MB/min). A rise to a level that then holds under the same traffic is allocator high-water (memory freed by JS, libvips and onnxruntime kept by the allocator for reuse), not growth.`
    : `RSS still moves ${round(slopeLate, 2)} MB/min over the second half (JS heap ${round(heapSlopeLate, 2)} MB/min): ${slopeLate > 0 ? (Math.abs(heapSlopeLate) < 0.5 ? 'native memory (not the JS heap) still rising' : 'the JS heap grows: a leak') : 'shrinking after a peak'}; first-minute mean ${mb(mean(firstMinute))} MB, peak ${mb(peak)} MB, last-minute mean ${mb(mean(lastMinute))} MB.`;
  const result = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), memoryGiB: round(os.totalmem() / 1024 ** 3, 1), node: process.version, loadAverage1mBefore: loadBefore, loadAverage1mAfter: os.loadavg()[0] },
    setup: { seconds, clients, serverEnv, model: 'tiny served model (stand-in backbone) + demo test-split index', threads: 1, mix: Object.fromEntries(kinds.map((k) => [k.name, k.weight])) },
    requests: { sent, perSecond: round(sent / elapsed, 1), clientErrors: failed, statuses },
    rssMiB: { firstMinuteMean: mb(mean(firstMinute)), peak: mb(peak), lastMinuteMean: mb(mean(lastMinute)), secondHalfSlopePerMinute: round(slopeLate, 3) },
    heapUsedMiB: { secondHalfSlopePerMinute: round(heapSlopeLate, 3), last: mb(heapUsed.at(-1)?.[1] ?? NaN) },
    reading,
    curve: rss.map(([t, v], i) => ({ s: round(t / 1000, 0), rssMiB: mb(v), heapUsedMiB: mb(heapUsed[i]?.[1] ?? NaN) })),
  };
  await writeFileAtomic(outFile, `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${outFile}`);
  console.log(reading);
  console.log(`${sent} requests in ${elapsed.toFixed(0)} s (${(sent / elapsed).toFixed(1)}/s), ${failed} client-side failures`);
  console.log(' time  RSS MiB  heap MiB');
  for (const p of result.curve.filter((_, i) => i % 6 === 0)) console.log(`${String(p.s).padStart(5)} ${String(p.rssMiB).padStart(8)} ${String(p.heapUsedMiB).padStart(9)}`);
} finally {
  await fs.rm(work, { recursive: true, force: true });
}
