/**
 * Benchmark of the recipe index (hnswlib-node HNSW, cosine on unit vectors): for each gallery size,
 * build time, save + verified load time, search latency p50/p99 at k = 10 for ef 50/100/200, and
 * recall@10 against exact search, on synthetic low-rank vectors (rank 64 + noise, dim 1024, like
 * learned embeddings rather than uniform noise). Writes bench-results/index.json.
 *
 *   node dist/scripts/bench-index.js [--sizes 1000,10000,50000] [--efs 100,200,400] [--queries 200] [--passes 5] [--M 16]
 *                                    [--ef-construction 100] [--projected-dim auto|0|N] [--out bench-results/index.json]
 *
 * 50k x 1024 takes a few minutes to build on one core: pass --sizes 1000,10000 for a quick run.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildRecipeIndex } from '../src/index/build.js';
import { loadRecipeIndex, saveRecipeIndex } from '../src/index/store.js';
import { lowRankVectors } from '../test/helpers/synthetic-vectors.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';

const DIM = 1024;
const RANK = 64;
const NOISE = 0.5;
const K = 10;

interface SizeResult {
  size: number;
  /** Width of the graph's space (projected onto the top principal directions), or the full width. */
  graphDim: number;
  buildSeconds: number;
  pointsPerSecond: number;
  hnswBytes: number;
  saveSeconds: number;
  loadSeconds: number;
  exactSearchP50Ms: number;
  /** Latency over `searches` timed searches (the queries, `passes` times); recall over the queries once. */
  searches: { ef: number; searches: number; p50Ms: number; p99Ms: number; recallAt10: number }[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function benchSize(size: number, efs: number[], queryCount: number, passes: number, M: number, efConstruction: number, projectedDim: number | 'auto', log: (l: string) => void): Promise<SizeResult> {
  // One draw for gallery and queries, so both come from the same subspace.
  const all = lowRankVectors(size + queryCount, DIM, RANK, NOISE, size);
  const gallery = all.subarray(0, size * DIM);
  const queries = Array.from({ length: queryCount }, (_, i) => all.slice((size + i) * DIM, (size + i + 1) * DIM));
  const ids = Array.from({ length: size }, (_, r) => r.toString(16).padStart(10, '0'));

  let lastLog = 0;
  const index = await buildRecipeIndex({
    embeddings: gallery, dim: DIM, ids, M, efConstruction, seed: 1, projectedDim,
    onProgress: (done, total) => {
      if (Date.now() - lastLog > 15000) {
        lastLog = Date.now();
        log(`  building ${size}: ${done}/${total}`);
      }
    },
  });
  const buildSeconds = index.buildMs / 1000;

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-index-'));
  try {
    let t = performance.now();
    const recipes = ids.map((id) => ({ id, title: id, ingredients: [], instructions: [], images: [], split: 'none' }));
    const manifest = await saveRecipeIndex(dir, index, { model: { id: 'synthetic', manifestSha256: '0'.repeat(64) }, dataset: { root: 'synthetic', splits: ['none'] }, recipes });
    const saveSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const loaded = (await loadRecipeIndex(dir)).index;
    const loadSeconds = (performance.now() - t) / 1000;

    const exactMs: number[] = [];
    const truth = queries.map((q) => {
      const start = performance.now();
      const rows = new Set(loaded.exactSearch(q, { k: K }).map((h) => h.row));
      exactMs.push(performance.now() - start);
      return rows;
    });
    const searches = efs.map((ef) => {
      const times: number[] = [];
      let found = 0;
      loaded.search(queries[0], { k: K, ef }); // untimed: the first search at a new ef
      // Latency over `passes` passes of the queries: p99 of 200 timings is their second worst, which
      // one preemption on these shared machines decides; recall counts the first pass (searches repeat exactly).
      for (let pass = 0; pass < passes; pass++) {
        queries.forEach((q, i) => {
          const start = performance.now();
          const hits = loaded.search(q, { k: K, ef });
          times.push(performance.now() - start);
          if (pass === 0) found += hits.filter((h) => truth[i].has(h.row)).length;
        });
      }
      times.sort((a, b) => a - b);
      return { ef, searches: times.length, p50Ms: percentile(times, 50), p99Ms: percentile(times, 99), recallAt10: found / (queries.length * K) };
    });
    return {
      size,
      graphDim: index.params.projectedDim ?? DIM,
      buildSeconds,
      pointsPerSecond: size / buildSeconds,
      hnswBytes: manifest.files['hnsw.bin'].bytes,
      saveSeconds,
      loadSeconds,
      exactSearchP50Ms: percentile(exactMs.sort((a, b) => a - b), 50),
      searches,
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '1000,10000,50000' },
      efs: { type: 'string', default: '100,200,400' },
      queries: { type: 'string', default: '200' },
      passes: { type: 'string', default: '5' },
      M: { type: 'string', default: '16' },
      'ef-construction': { type: 'string', default: '100' },
      'projected-dim': { type: 'string', default: 'auto' },
      out: { type: 'string', default: fromRoot('bench-results', 'index.json') },
    },
  });
  const sizes = values.sizes.split(',').map((s) => Number(s.trim()));
  const efs = values.efs.split(',').map((s) => Number(s.trim()));
  const queryCount = Number(values.queries);
  const passes = Number(values.passes);
  const M = Number(values.M);
  const efConstruction = Number(values['ef-construction']);
  const projectedDim = values['projected-dim'] === 'auto' ? 'auto' : Number(values['projected-dim']);
  if (sizes.some((s) => !Number.isInteger(s) || s < K) || !(queryCount >= 1) || !(Number.isInteger(passes) && passes >= 1)) throw new Error('--sizes: comma-separated integers >= 10; --queries, --passes: >= 1');
  if (efs.some((ef) => !Number.isInteger(ef) || ef < K || ef > 1000)) throw new Error(`--efs: comma-separated integers from ${K} to 1000`);
  const loadBefore = os.loadavg()[0];
  // Other processes share the cores: the load average says how far to trust the numbers.
  console.log(`bench-index: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, node ${process.version}, load ${loadBefore.toFixed(2)}; dim ${DIM}, rank ${RANK} + noise ${NOISE}, M ${M}, efConstruction ${efConstruction}, ${queryCount} queries x ${passes} passes`);
  const results: SizeResult[] = [];
  for (const size of sizes) {
    const r = await benchSize(size, efs, queryCount, passes, M, efConstruction, projectedDim, (l) => console.log(l));
    results.push(r);
    console.log(`size ${String(size).padStart(6)} (graph width ${r.graphDim}): build ${r.buildSeconds.toFixed(1)} s (${r.pointsPerSecond.toFixed(0)}/s), save ${r.saveSeconds.toFixed(2)} s, load ${r.loadSeconds.toFixed(2)} s, exact p50 ${r.exactSearchP50Ms.toFixed(1)} ms`);
    for (const s of r.searches) console.log(`   ef ${String(s.ef).padStart(3)}: p50 ${s.p50Ms.toFixed(3)} ms, p99 ${s.p99Ms.toFixed(3)} ms, recall@10 ${s.recallAt10.toFixed(4)}`);
  }
  // Goal (issue 13): 50k x 1024 built in <= 60 s, search p99 <= 5 ms at recall@10 >= 0.95.
  const big = results.find((x) => x.size === 50_000);
  const goal = big && {
    buildSeconds: big.buildSeconds,
    buildOk: big.buildSeconds <= 60,
    best: big.searches.find((x) => x.recallAt10 >= 0.95 && x.p99Ms <= 5) ?? null,
  };
  if (goal) console.log(`goal 50k: build ${goal.buildSeconds.toFixed(1)} s (<= 60: ${goal.buildOk}); ${goal.best ? `ef ${goal.best.ef}: recall ${goal.best.recallAt10.toFixed(3)}, p99 ${goal.best.p99Ms.toFixed(2)} ms` : 'no ef reaches recall >= 0.95 with p99 <= 5 ms'}`);
  const report = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, loadAverage1mBefore: loadBefore, loadAverage1mAfter: os.loadavg()[0] },
    data: { dim: DIM, rank: RANK, noise: NOISE, queries: queryCount, passes, k: K },
    hnsw: { M, efConstruction, seed: 1, projectedDim, space: 'cosine (unit vectors, inner product)' },
    goal50k: goal,
    results,
    notes: [
      'Latency is one search() call: query normalisation, projection (when the graph is projected), hnswlib searchKnn, and exact re-scoring of the candidates (k, or ef/2 for a projected graph).',
      'Build time includes fitting the projection (subspace iteration on a 4096-row sample, onnxruntime Gemm) and projecting every row.',
      'Load time includes sha256 verification of every file and the HNSW header check.',
    ],
  };
  await writeFileAtomic(values.out, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${values.out}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
