import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { l2NormalizeRows, type EmbeddingMatrix } from '../src/eval/embeddings.js';
import { jsKernel } from '../src/eval/kernels/js-kernel.js';
import { loadSimilarityKernel } from '../src/eval/kernels/select-kernel.js';
import type { SimilarityKernel } from '../src/eval/kernels/similarity-kernel.js';
import { createTfjsKernel } from '../src/eval/kernels/tfjs-kernel.js';
import { median, rankMetrics, recallAt } from '../src/eval/metrics.js';
import { evaluateRetrieval, type RetrievalEvaluation } from '../src/eval/protocol.js';
import { exactDot, kernelTolerance, rankTrueMatches } from '../src/eval/ranks.js';
import { drawSubsets } from '../src/eval/subsets.js';
import { UserError } from '../src/util/errors.js';
import { SeededRandom } from '../src/util/random.js';

function mat(rows: number[][]): EmbeddingMatrix {
  const dim = rows[0].length;
  return { values: Float32Array.from(rows.flat()), rows: rows.length, dim };
}

function oneHots(n: number): EmbeddingMatrix {
  return mat(Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))));
}

/** Integer entries: exact in float32, and a range wide enough that cosines rarely tie by accident. */
function randomInts(rng: SeededRandom, rows: number, dim: number, lo = -20, hi = 20): EmbeddingMatrix {
  const values = new Float32Array(rows * dim);
  for (let i = 0; i < values.length; i++) values[i] = lo + rng.nextInt(hi - lo + 1);
  return { values, rows, dim };
}

/** Float64 brute force: cosine similarities and strictly-greater ranks, the definition itself. */
function referenceRanks(images: EmbeddingMatrix, recipes: EmbeddingMatrix, extra?: EmbeddingMatrix, rows?: ArrayLike<number>) {
  const pick = rows ? Array.from(rows) : Array.from({ length: images.rows }, (_, i) => i);
  const unit = (m: EmbeddingMatrix, r: number): number[] => {
    const v = Array.from(m.values.subarray(r * m.dim, (r + 1) * m.dim));
    const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    return norm === 0 ? v : v.map((x) => x / norm);
  };
  const dot = (a: number[], b: number[]): number => a.reduce((s, x, k) => s + x * b[k], 0);
  const img = pick.map((r) => unit(images, r));
  const rec = pick.map((r) => unit(recipes, r));
  const ext = extra ? Array.from({ length: extra.rows }, (_, r) => unit(extra, r)) : [];
  const n = pick.length;
  const sim = img.map((a) => [...rec, ...ext].map((b) => dot(a, b)));
  // Smallest non-zero gap between a competitor's similarity and the true match's, and how many
  // gaps are exactly zero (exact ties); near ties would let float32 rounding reorder legitimately.
  let closest = Infinity;
  let exactTies = 0;
  const gap = (a: number, b: number): void => {
    if (a === b) exactTies++;
    else closest = Math.min(closest, Math.abs(a - b));
  };
  const imageToRecipe = sim.map((row, i) => 1 + row.filter((v, j) => j !== i && v > row[i]).length);
  const recipeToImage = rec.map((_, j) => 1 + sim.filter((row, i) => i !== j && row[j] > sim[j][j]).length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < sim[i].length; j++) if (j !== i) gap(sim[i][j], sim[i][i]);
    for (let k = 0; k < n; k++) if (k !== i) gap(sim[k][i], sim[i][i]);
  }
  return { imageToRecipe, recipeToImage, closest, exactTies };
}

async function ranksOf(kernel: SimilarityKernel, images: EmbeddingMatrix, recipes: EmbeddingMatrix, extra?: EmbeddingMatrix, blocks = { rowBlock: 16, columnChunk: 32 }) {
  const r = await rankTrueMatches(
    l2NormalizeRows(images).matrix,
    l2NormalizeRows(recipes).matrix,
    extra ? l2NormalizeRows(extra).matrix : undefined,
    { kernel, ...blocks },
  );
  return { imageToRecipe: Array.from(r.imageToRecipe), recipeToImage: Array.from(r.recipeToImage) };
}

// Images with integer entries of equal norm against one-hot recipes: S[i][j] = I_i[j] / |I_i|, so
// the similarity table (and its ties) can be read off the integers.
const IMAGES_4 = mat([[3, 0, 0, 0], [2, 1, 2, 0], [0, 2, 2, 1], [2, 2, 0, 1]]); // norm 3
const IMAGES_6 = mat([
  [0, 1, 1, 1, 2, 3],
  [2, 2, 2, 2, 0, 0],
  [3, 1, 1, 1, 2, 0],
  [1, 2, 1, 1, 3, 0],
  [0, 0, 0, 0, 4, 0],
  [1, 1, 3, 2, 1, 0],
]); // norm 4

const KERNELS: [string, () => Promise<SimilarityKernel>][] = [
  ['ort', () => loadSimilarityKernel('ort')],
  ['js', async () => jsKernel],
  ['wasm', () => loadSimilarityKernel('wasm')],
];

test('auto picks onnxruntime; loading the wasm kernel leaves the global tf backend alone', async () => {
  assert.equal((await loadSimilarityKernel('auto')).name, 'ort');
  const kernel = await loadSimilarityKernel('wasm');
  assert.equal(kernel.name, 'wasm');
  // Registering wasm (priority 2) must not have made it the default of code that chose nothing.
  assert.equal(tf.getBackend(), 'cpu');
  await evaluateRetrieval(IMAGES_4, oneHots(4), { n: 'all', similarityKernel: 'wasm' });
  assert.equal(tf.getBackend(), 'cpu');
});

for (const [name, load] of KERNELS) {
  test(`${name}: 4x4 hand-made ranks, ties count in the query's favour`, async () => {
    const kernel = await load();
    const r = await ranksOf(kernel, IMAGES_4, oneHots(4));
    // Rows [1,0,0,0] [2/3,1/3,2/3,0] [0,2/3,2/3,1/3] [2/3,2/3,0,1/3]; diagonal 1, 1/3, 2/3, 1/3.
    assert.deepEqual(r.imageToRecipe, [1, 3, 1, 3]);
    // Columns [1,2/3,0,2/3] [0,1/3,2/3,2/3] [0,2/3,2/3,0] [0,0,1/3,1/3].
    assert.deepEqual(r.recipeToImage, [1, 3, 1, 1]);
    const ev = await evaluateRetrieval(IMAGES_4, oneHots(4), { n: 'all', similarityKernel: name as 'ort' | 'js' | 'wasm' });
    assert.deepEqual(pick(ev.imageToRecipe), { medR: 2, r1: 50, r5: 100, r10: 100 });
    assert.deepEqual(pick(ev.recipeToImage), { medR: 1, r1: 75, r5: 100, r10: 100 });
    assert.equal(ev.kernel, name);
  });

  test(`${name}: 6x6 hand-made ranks and R@K`, async () => {
    const kernel = await load();
    const r = await ranksOf(kernel, IMAGES_6, oneHots(6), undefined, { rowBlock: 4, columnChunk: 5 });
    assert.deepEqual(r.imageToRecipe, [6, 1, 3, 3, 1, 6]);
    assert.deepEqual(r.recipeToImage, [5, 1, 3, 3, 1, 2]);
    const ev = await evaluateRetrieval(IMAGES_6, oneHots(6), { n: 'all', similarityKernel: name as 'ort' | 'js' | 'wasm' });
    assert.equal(ev.imageToRecipe.medR, 3); // sorted 1,1,3,3,6,6
    assert.equal(ev.imageToRecipe.r1, 100 / 3);
    assert.equal(ev.imageToRecipe.r5, 200 / 3);
    assert.equal(ev.imageToRecipe.r10, 100);
    assert.equal(ev.recipeToImage.medR, 2.5); // sorted 1,1,2,3,3,5
    assert.equal(ev.recipeToImage.r1, 100 / 3);
    assert.equal(ev.recipeToImage.r5, 100);
  });

  test(`${name}: zero vectors stay zero (similarity 0), no NaN`, async () => {
    const kernel = await load();
    const images = mat([[-1, 0], [0, 0], [0, 1]]);
    const recipes = mat([[1, 0], [0, 1], [0, 0]]);
    const r = await ranksOf(kernel, images, recipes);
    // S = [[-1,0,0],[0,0,0],[0,1,0]]: the zero recipe beats image 0's true match (-1); the zero
    // image and the zero recipe tie with everything, so they rank 1.
    assert.deepEqual(r.imageToRecipe, [3, 1, 2]);
    assert.deepEqual(r.recipeToImage, [3, 2, 1]);
    const ev = await evaluateRetrieval(images, recipes, { n: 'all', similarityKernel: name as 'ort' | 'js' | 'wasm' });
    assert.deepEqual(ev.zeroEmbeddings, { images: 1, recipes: 1, extraRecipes: 0 });
  });

  test(`${name}: extra recipes change image->recipe only`, async () => {
    const kernel = await load();
    // (1,1,1,1)/2 has similarity 1/2, 5/6, 5/6, 5/6 with the four images.
    const extra = mat([[1, 1, 1, 1]]);
    const r = await ranksOf(kernel, IMAGES_4, oneHots(4), extra);
    assert.deepEqual(r.imageToRecipe, [1, 4, 2, 4]);
    assert.deepEqual(r.recipeToImage, [1, 3, 1, 1]);
    const ev = await evaluateRetrieval(IMAGES_4, oneHots(4), { n: 'all', extraRecipes: extra, similarityKernel: name as 'ort' | 'js' | 'wasm' });
    assert.equal(ev.galleryExtra, 1);
    assert.deepEqual(pick(ev.imageToRecipe), { medR: 3, r1: 25, r5: 100, r10: 100 });
    assert.deepEqual(pick(ev.recipeToImage), { medR: 1, r1: 75, r5: 100, r10: 100 });
  });

  test(`${name}: exact duplicates in other blocks and chunks still tie`, async () => {
    const kernel = await load();
    const rng = new SeededRandom(7);
    const images = randomInts(rng, 50, 20);
    const recipes = randomInts(rng, 50, 20);
    const extra = randomInts(rng, 6, 20);
    const row = (m: EmbeddingMatrix, i: number) => m.values.subarray(i * m.dim, (i + 1) * m.dim);
    row(recipes, 41).set(row(recipes, 3)); // a duplicate gallery recipe for query 3, in another chunk
    row(extra, 4).set(row(recipes, 9)); // a text-only duplicate of recipe 9
    row(images, 44).set(row(images, 5)); // a duplicate image for recipe query 5, in another row block
    const ref = referenceRanks(images, recipes, extra);
    // Ties: query 3 with recipe 41, query 41 with recipe 3, query 9 with extra 4, recipe queries 5
    // and 44 with images 44 and 5. Nothing else is close.
    assert.equal(ref.exactTies, 5);
    assert.ok(ref.closest > 1e-6, `near tie ${ref.closest}`);
    const r = await ranksOf(kernel, images, recipes, extra, { rowBlock: 8, columnChunk: 16 });
    assert.deepEqual(r, { imageToRecipe: ref.imageToRecipe, recipeToImage: ref.recipeToImage });
  });
}

test('all kernels agree with a float64 brute-force reference across block edges', async () => {
  const rng = new SeededRandom(2024);
  const images = randomInts(rng, 70, 24);
  const recipes = randomInts(rng, 70, 24);
  const extra = randomInts(rng, 13, 24);
  const ref = referenceRanks(images, recipes, extra);
  // Near-ties would let float32 rounding legitimately reorder; this seed has none.
  assert.ok(ref.closest > 1e-6 && ref.exactTies === 0, `near tie ${ref.closest}, ${ref.exactTies} exact`);
  assert.ok(ref.imageToRecipe.some((r) => r > 10) && ref.recipeToImage.some((r) => r > 10), 'data should not be trivially ranked');
  const kernels: SimilarityKernel[] = [
    await loadSimilarityKernel('ort'),
    jsKernel,
    await loadSimilarityKernel('wasm'),
    await createTfjsKernel('wasm', { pretranspose: false }),
    await createTfjsKernel('cpu'),
  ];
  for (const kernel of kernels) {
    for (const blocks of [{ rowBlock: 16, columnChunk: 32 }, { rowBlock: 256, columnChunk: 16384 }, { rowBlock: 3, columnChunk: 70 }]) {
      const r = await ranksOf(kernel, images, recipes, extra, blocks);
      assert.deepEqual(r.imageToRecipe, ref.imageToRecipe, `${kernel.name} ${JSON.stringify(blocks)}`);
      assert.deepEqual(r.recipeToImage, ref.recipeToImage, `${kernel.name} ${JSON.stringify(blocks)}`);
    }
  }
});

test('metrics match an independent python3 implementation (statistics.median, float64 cosines)', async () => {
  const rng = new SeededRandom(99);
  const images = randomInts(rng, 41, 16);
  const recipes = randomInts(rng, 41, 16);
  const extra = randomInts(rng, 9, 16);
  const ref = referenceRanks(images, recipes, extra);
  assert.ok(ref.closest > 1e-6 && ref.exactTies === 0);
  const script = `
import json, sys, math, statistics
d = json.load(sys.stdin)
def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v] if n else v
img = [unit(v) for v in d["images"]]; rec = [unit(v) for v in d["recipes"]]; ext = [unit(v) for v in d["extra"]]
dot = lambda a, b: math.fsum(x * y for x, y in zip(a, b))
S = [[dot(a, b) for b in rec + ext] for a in img]
n = len(img)
i2r = [1 + sum(1 for j in range(len(S[i])) if S[i][j] > S[i][i]) for i in range(n)]
r2i = [1 + sum(1 for i in range(n) if S[i][j] > S[j][j]) for j in range(n)]
m = lambda r: {"medR": statistics.median(r), **{f"r{k}": 100 * sum(1 for x in r if x <= k) / len(r) for k in (1, 5, 10)}}
print(json.dumps({"i2r": m(i2r), "r2i": m(r2i)}))
`;
  const toRows = (m: EmbeddingMatrix) => Array.from({ length: m.rows }, (_, i) => Array.from(m.values.subarray(i * m.dim, (i + 1) * m.dim)));
  const py = spawnSync('python3', ['-c', script], { input: JSON.stringify({ images: toRows(images), recipes: toRows(recipes), extra: toRows(extra) }), encoding: 'utf8' });
  assert.equal(py.status, 0, py.stderr);
  const expected = JSON.parse(py.stdout) as { i2r: Record<string, number>; r2i: Record<string, number> };
  const ev = await evaluateRetrieval(images, recipes, { n: 'all', extraRecipes: extra });
  for (const key of ['medR', 'r1', 'r5', 'r10'] as const) {
    assert.ok(Math.abs(ev.imageToRecipe[key] - expected.i2r[key]) < 1e-9, `i2r ${key}: ${ev.imageToRecipe[key]} vs ${expected.i2r[key]}`);
    assert.ok(Math.abs(ev.recipeToImage[key] - expected.r2i[key]) < 1e-9, `r2i ${key}: ${ev.recipeToImage[key]} vs ${expected.r2i[key]}`);
  }
  // An odd count (41 queries) has a middle value: integer medians.
  assert.ok(Number.isInteger(ev.imageToRecipe.medR) && Number.isInteger(ev.recipeToImage.medR));
});

test('subsets: each run ranks only its drawn pairs (plus all extra recipes), mean/std over runs', async () => {
  const rng = new SeededRandom(5);
  const images = randomInts(rng, 70, 24);
  const recipes = randomInts(rng, 70, 24);
  const extra = randomInts(rng, 13, 24);
  const ev = await evaluateRetrieval(images, recipes, { n: 25, runs: 4, seed: 11, extraRecipes: extra, rowBlock: 8, columnChunk: 16 });
  assert.equal(ev.runs, 4);
  assert.equal(ev.n, 25);
  assert.equal(ev.all, false);
  assert.equal(ev.imageToRecipe.runs.length, 4);
  const subsets = drawSubsets(70, 25, 4, 11);
  subsets.forEach((subset, run) => {
    const ref = referenceRanks(images, recipes, extra, subset);
    assert.ok(ref.closest > 1e-6 && ref.exactTies === 0);
    assert.deepEqual(ev.imageToRecipe.runs[run], rankMetrics(ref.imageToRecipe), `run ${run} i2r`);
    assert.deepEqual(ev.recipeToImage.runs[run], rankMetrics(ref.recipeToImage), `run ${run} r2i`);
  });
  const r1s = ev.imageToRecipe.runs.map((r) => r.r1);
  const mean = r1s.reduce((a, b) => a + b) / 4;
  assert.ok(Math.abs(ev.imageToRecipe.r1 - mean) < 1e-12);
  assert.ok(Math.abs(ev.imageToRecipe.std.r1 - Math.sqrt(r1s.reduce((a, v) => a + (v - mean) ** 2, 0) / 4)) < 1e-12);
  assert.ok(ev.imageToRecipe.std.r1 > 0, 'different subsets should give different R@1');

  // Extra recipes never touch recipe->image; they only make image->recipe harder.
  const noExtra = await evaluateRetrieval(images, recipes, { n: 25, runs: 4, seed: 11 });
  assert.deepEqual(noExtra.recipeToImage, ev.recipeToImage);
  assert.ok(noExtra.imageToRecipe.medR < ev.imageToRecipe.medR);
});

test('subsets are reproducible from the seed and differ between seeds', async () => {
  const a = drawSubsets(1000, 100, 10, 3);
  assert.deepEqual(drawSubsets(1000, 100, 10, 3), a);
  assert.notDeepEqual(drawSubsets(1000, 100, 10, 4), a);
  for (const s of a) {
    assert.equal(new Set(s).size, 100);
    assert.ok(s.every((x, i) => x >= 0 && x < 1000 && (i === 0 || s[i - 1] < x)));
  }
  assert.notDeepEqual(a[0], a[1]); // runs draw different subsets
  const rng = new SeededRandom(1);
  const images = randomInts(rng, 60, 8);
  const recipes = randomInts(rng, 60, 8);
  const run = (seed: number) => evaluateRetrieval(images, recipes, { n: 20, runs: 3, seed, similarityKernel: 'js' });
  const [x, y, z] = [await run(8), await run(8), await run(9)];
  assert.deepEqual(strip(x), strip(y));
  assert.notDeepEqual(x.imageToRecipe.runs, z.imageToRecipe.runs);
});

test("N = 'all' and N = number of pairs rank once; N > pairs is a UserError", async () => {
  const rng = new SeededRandom(3);
  const images = randomInts(rng, 30, 8);
  const recipes = randomInts(rng, 30, 8);
  const all = await evaluateRetrieval(images, recipes, { n: 'all', runs: 10 });
  const full = await evaluateRetrieval(images, recipes, { n: 30, runs: 10, seed: 5 });
  assert.equal(all.runs, 1);
  assert.equal(all.all, true);
  assert.deepEqual(strip(full), { ...strip(all), seed: 5 });
  const ref = referenceRanks(images, recipes);
  assert.deepEqual(all.imageToRecipe.runs[0], rankMetrics(ref.imageToRecipe));
  assert.deepEqual(all.imageToRecipe.std, { medR: 0, r1: 0, r5: 0, r10: 0 });
  const sub = await evaluateRetrieval(images, recipes, { n: 10 });
  assert.equal(sub.runs, 10);
  // Smaller galleries are easier: R@1 over 10-pair subsets beats R@1 over all 30.
  assert.ok(sub.imageToRecipe.r1 > all.imageToRecipe.r1);

  await assert.rejects(evaluateRetrieval(images, recipes, { n: 31 }), (e: unknown) => e instanceof UserError && /31 .*30 image-recipe pairs/.test(e.message));
  await assert.rejects(evaluateRetrieval(images, recipes, { n: 0 }), UserError);
  await assert.rejects(evaluateRetrieval(images, randomInts(rng, 29, 8), { n: 'all' }), /30 images but 29 recipes/);
  await assert.rejects(evaluateRetrieval(images, randomInts(rng, 30, 9), { n: 'all' }), UserError);
  await assert.rejects(evaluateRetrieval(images, recipes, { n: 'all', extraRecipes: randomInts(rng, 2, 7) }), /extra recipe embeddings have dimension 7/);
  const bad = randomInts(rng, 30, 8);
  bad.values[8 * 12 + 3] = NaN;
  await assert.rejects(evaluateRetrieval(images, bad, { n: 'all' }), /recipe embeddings: row 12 holds a non-finite value/);
  await assert.rejects(evaluateRetrieval(images, recipes, { n: 'all', similarityKernel: 'gpu' as 'js' }), /unknown similarity kernel/);
});

test('identical image and recipe embeddings give medR 1 and R@1 100 in both directions', async () => {
  const rng = new SeededRandom(12);
  const values = new Float32Array(300 * 32).map(() => rng.nextFloat() - 0.5);
  const m = { values, rows: 300, dim: 32 };
  for (const similarityKernel of ['js', 'wasm'] as const) {
    const ev = await evaluateRetrieval(m, { ...m, values: values.slice() }, { n: 100, runs: 3, similarityKernel });
    assert.deepEqual(pick(ev.imageToRecipe), { medR: 1, r1: 100, r5: 100, r10: 100 });
    assert.deepEqual(pick(ev.recipeToImage), { medR: 1, r1: 100, r5: 100, r10: 100 });
  }
});

test('median averages the two middle values for even counts; recall is a percentage', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
  assert.equal(median([1, 1, 10, 10]), 5.5);
  assert.equal(recallAt([1, 2, 6, 11], 5), 50);
  assert.equal(recallAt([1, 2, 6, 11], 10), 75);
  assert.deepEqual(rankMetrics([1, 5, 10, 11]), { medR: 7.5, r1: 25, r5: 50, r10: 75 });
});

function pick(d: { medR: number; r1: number; r5: number; r10: number }) {
  return { medR: d.medR, r1: d.r1, r5: d.r5, r10: d.r10 };
}

function strip(e: RetrievalEvaluation) {
  const { seconds: _s, ...rest } = e;
  return rest;
}

/**
 * The rank pass as it was before near-ties were settled exactly (kernel-computed diagonal, every
 * comparison by the kernel's float32 value): kept here to show the new pass gives the same ranks
 * wherever no comparison is within float32 rounding of a tie.
 */
async function oldRanks(kernel: SimilarityKernel, images: EmbeddingMatrix, recipes: EmbeddingMatrix, rowBlock: number) {
  const { rows: n, dim } = images;
  const diag = new Float32Array(n);
  for (let r0 = 0; r0 < n; r0 += rowBlock) {
    const w = Math.min(n, r0 + rowBlock) - r0;
    const p = kernel.prepare(recipes.values.subarray(r0 * dim, (r0 + w) * dim), w, dim);
    const s = await p.multiply(images.values.subarray(r0 * dim, (r0 + w) * dim), w);
    for (let i = 0; i < w; i++) diag[r0 + i] = s[i * w + i];
    p.dispose();
  }
  const rowCount = new Array<number>(n).fill(1);
  const colCount = new Array<number>(n).fill(1);
  const p = kernel.prepare(recipes.values, n, dim);
  for (let r0 = 0; r0 < n; r0 += rowBlock) {
    const w = Math.min(n, r0 + rowBlock) - r0;
    const s = await p.multiply(images.values.subarray(r0 * dim, (r0 + w) * dim), w);
    for (let i = 0; i < w; i++) {
      for (let c = 0; c < n; c++) {
        if (c === r0 + i) continue;
        if (s[i * n + c] > diag[r0 + i]) rowCount[r0 + i]++;
        if (s[i * n + c] > diag[c]) colCount[c]++;
      }
    }
  }
  p.dispose();
  return { imageToRecipe: rowCount, recipeToImage: colCount };
}

function gaussianRows(rng: SeededRandom, rows: number, dim: number): EmbeddingMatrix {
  const values = new Float32Array(rows * dim);
  for (let i = 0; i < values.length; i++) values[i] = rng.nextFloat() + rng.nextFloat() + rng.nextFloat() - 1.5;
  return { values, rows, dim };
}

test('old and new rank passes agree on random cases (1024-d, no comparison within rounding of a tie)', async () => {
  const rng = new SeededRandom(5);
  const recipes = gaussianRows(rng, 300, 1024);
  const noise = gaussianRows(rng, 300, 1024);
  const images = { ...recipes, values: recipes.values.map((v, k) => v + 20 * noise.values[k]) };
  const img = l2NormalizeRows(images).matrix;
  const rec = l2NormalizeRows(recipes).matrix;
  const wasm = await loadSimilarityKernel('wasm');
  const old = await oldRanks(wasm, img, rec, 64);
  assert.ok(old.imageToRecipe.some((r) => r > 10) && old.imageToRecipe.some((r) => r === 1), 'ranks should be spread');
  for (const kernel of [await loadSimilarityKernel('ort'), wasm, jsKernel]) {
    const r = await rankTrueMatches(img, rec, undefined, { kernel, rowBlock: 64, columnChunk: 128 });
    assert.deepEqual(Array.from(r.imageToRecipe), old.imageToRecipe, kernel.name);
    assert.deepEqual(Array.from(r.recipeToImage), old.recipeToImage, kernel.name);
  }
});

test('near-ties below float32 resolution are settled exactly, the same by every kernel', async () => {
  const rng = new SeededRandom(8);
  const n = 40;
  const dim = 256;
  const recipes = gaussianRows(rng, n, dim);
  const images = { ...recipes, values: recipes.values.slice() };
  for (let k = 0; k < images.values.length; k++) images.values[k] += 0.3 * (rng.nextFloat() - 0.5);
  const img = l2NormalizeRows(images).matrix;
  const rec = l2NormalizeRows(recipes).matrix;
  const row = (m: EmbeddingMatrix, i: number) => m.values.subarray(i * dim, (i + 1) * dim);
  // Recipe i+20 := recipe i nudged by one float32 ulp in a few entries: similarities to image i
  // then differ from the true pair's by ~1e-8, far below a float32 dot product's rounding (~1e-6).
  let nearTies = 0;
  for (let i = 0; i < 20; i++) {
    const copy = row(rec, i + 20);
    copy.set(row(rec, i));
    for (let t = 0; t < 3; t++) {
      const k = rng.nextInt(dim);
      const bumped = new Float32Array([copy[k]]);
      new Int32Array(bumped.buffer)[0] += rng.nextInt(2) === 0 ? 1 : -1;
      copy[k] = bumped[0];
    }
  }
  // Brute force on the definition: float64 sums of the float32 rows, strictly greater.
  const sim = (i: number, j: number) => exactDot(img.values, i * dim, rec.values, j * dim, dim);
  const expectI2r = Array.from({ length: n }, (_, i) => 1 + Array.from({ length: n }, (_, j) => j).filter((j) => j !== i && sim(i, j) > sim(i, i)).length);
  const expectR2i = Array.from({ length: n }, (_, j) => 1 + Array.from({ length: n }, (_, i) => i).filter((i) => i !== j && sim(i, j) > sim(j, j)).length);
  for (let i = 0; i < 20; i++) {
    const gap = Math.abs(sim(i, i + 20) - sim(i, i));
    if (gap > 0 && gap < 1e-6) nearTies++;
  }
  assert.ok(nearTies >= 15, `only ${nearTies} near-ties were made`);
  assert.ok(kernelTolerance(dim) > 1e-6 && kernelTolerance(1024) < 1e-4, `tolerance ${kernelTolerance(dim)}`);
  for (const kernel of [await loadSimilarityKernel('ort'), await loadSimilarityKernel('wasm'), jsKernel, await createTfjsKernel('cpu')]) {
    for (const blocks of [{ rowBlock: 7, columnChunk: 13 }, { rowBlock: 64, columnChunk: 64 }]) {
      const r = await rankTrueMatches(img, rec, undefined, { kernel, ...blocks });
      assert.deepEqual(Array.from(r.imageToRecipe), expectI2r, `${kernel.name} ${JSON.stringify(blocks)}`);
      assert.deepEqual(Array.from(r.recipeToImage), expectR2i, `${kernel.name} ${JSON.stringify(blocks)}`);
    }
  }
});
