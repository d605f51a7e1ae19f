import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildRecipeIndex } from '../src/index/build.js';
import { readHnswHeader } from '../src/index/hnsw-header.js';
import { MANIFEST_FILE, type IndexManifest } from '../src/index/manifest.js';
import type { RecipeIndex } from '../src/index/recipe-index.js';
import { discardEmbeddingProgress, embedRecipesResumable, PARTIAL_FILE, PROGRESS_FILE } from '../src/index/resumable-embed.js';
import { loadRecipeIndex, saveRecipeIndex, type IndexedRecipe } from '../src/index/store.js';
import { gaussians, lowRankVectors } from './helpers/synthetic-vectors.js';
import { DataFileError, UserError } from '../src/util/errors.js';
import { SeededRandom } from '../src/util/random.js';
import { sha256File } from '../src/util/sha256.js';

const COUNT = 500;
const DIM = 32;
const MODEL = { id: 'ht-debiased-test', manifestSha256: 'a'.repeat(64) };

let tmp: string;
let indexDir: string;
let embeddings: Float32Array;
let ids: string[];
let recipes: IndexedRecipe[];
let built: RecipeIndex;

const idOf = (row: number) => `r${row.toString(16).padStart(9, '0')}`;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-index-'));
  indexDir = path.join(tmp, 'index');
  embeddings = lowRankVectors(COUNT, DIM, 8, 0.3, 1);
  ids = Array.from({ length: COUNT }, (_, r) => idOf(r));
  recipes = ids.map((id, r) => ({ id, title: `dish ${r}`, ingredients: [`${r} g flour`], instructions: ['mix', 'bake'], images: [`${id}.jpg`], split: r % 3 === 0 ? 'train' : 'test' }));
  built = await buildRecipeIndex({ embeddings, dim: DIM, ids, M: 16, efConstruction: 200, efSearch: 100, seed: 3 });
  await saveRecipeIndex(indexDir, built, { model: MODEL, dataset: { root: '/data/recipe1m', splits: ['train', 'test'] }, recipes });
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function queries(n: number, seed: number): Float32Array[] {
  const rng = new SeededRandom(seed);
  // Near gallery rows (like a matching photo) and random directions.
  return Array.from({ length: n }, (_, i) => {
    const q = gaussians(rng, DIM);
    if (i % 2 === 0) {
      const row = rng.nextInt(COUNT);
      for (let j = 0; j < DIM; j++) q[j] = embeddings[row * DIM + j] + 0.1 * q[j];
    }
    return q;
  });
}

async function copyIndex(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.cp(indexDir, dir, { recursive: true });
  return dir;
}

test('index: save writes four files with a manifest that records them; load round-trips rows, ids and search results', async () => {
  const names = (await fs.readdir(indexDir)).sort();
  assert.deepEqual(names, ['embeddings.f32', 'hnsw.bin', 'manifest.json', 'recipes.json'], 'no temp files left behind');
  const manifest = JSON.parse(await fs.readFile(path.join(indexDir, MANIFEST_FILE), 'utf8')) as IndexManifest;
  assert.equal(manifest.format, 'recipe-retrieval-index');
  assert.deepEqual(manifest.model, MODEL);
  assert.deepEqual([manifest.width, manifest.space, manifest.count], [DIM, 'cosine', COUNT]);
  assert.deepEqual(manifest.hnsw, { M: 16, efConstruction: 200, efSearch: 100, seed: 3 });
  assert.deepEqual(manifest.dataset, { root: '/data/recipe1m', splits: ['train', 'test'] });
  assert.equal(manifest.version, 2);
  assert.ok(Date.parse(manifest.builtAt) > 0 && manifest.buildMs >= 0);
  for (const name of ['hnsw.bin', 'embeddings.f32', 'recipes.json'] as const) {
    const file = path.join(indexDir, name);
    assert.equal(manifest.files[name].sha256, await sha256File(file), name);
    assert.equal(manifest.files[name].bytes, (await fs.stat(file)).size, name);
  }
  assert.equal(manifest.files['embeddings.f32'].bytes, COUNT * DIM * 4);
  assert.deepEqual(await readHnswHeader(path.join(indexDir, 'hnsw.bin')), { maxElements: COUNT, count: COUNT, dataBytes: DIM * 4, M: 16, efConstruction: 200 });

  const loaded = await loadRecipeIndex(indexDir, { expectModelId: MODEL.id, expectDim: DIM });
  assert.deepEqual(loaded.recipes, recipes);
  assert.deepEqual(loaded.index.ids, ids);
  assert.deepEqual(loaded.index.vectors, built.vectors);
  // Stored rows are unit length and point where the raw embeddings point.
  for (const row of [0, 17, COUNT - 1]) {
    const v = loaded.index.vectors.subarray(row * DIM, (row + 1) * DIM);
    const raw = embeddings.subarray(row * DIM, (row + 1) * DIM);
    const norm = Math.sqrt(raw.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(Math.sqrt(v.reduce((s, x) => s + x * x, 0)) - 1) < 1e-6);
    v.forEach((x, j) => assert.ok(Math.abs(x - raw[j] / norm) < 1e-6));
  }
  for (const q of queries(10, 5)) assert.deepEqual(loaded.index.search(q, { k: 10 }), built.search(q, { k: 10 }));
});

test('index: HNSW search with ef 100 equals exact search (recall@10 = 1 on 500 vectors); scores are cosine similarities', async () => {
  const { index } = await loadRecipeIndex(indexDir);
  let found = 0;
  const qs = queries(60, 9);
  for (const q of qs) {
    const approx = index.search(q, { k: 10, ef: 100 });
    const exact = index.exactSearch(q, { k: 10 });
    assert.deepEqual(approx, exact);
    found += approx.filter((h) => exact.some((e) => e.row === h.row)).length;
  }
  assert.equal(found / (qs.length * 10), 1);
  // The score of a hit is the cosine between the raw query and the raw embedding.
  const q = qs[0];
  const hit = index.search(q, { k: 1 })[0];
  const e = embeddings.subarray(hit.row * DIM, (hit.row + 1) * DIM);
  const dot = q.reduce((s, x, j) => s + x * e[j], 0);
  const cos = dot / Math.sqrt(q.reduce((s, x) => s + x * x, 0) * e.reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(hit.score - cos) < 1e-6, `${hit.score} vs ${cos}`);
  assert.equal(hit.id, ids[hit.row]);
});

test('index: ef is set after load (readIndex would leave 10) and per-search ef is honoured', async () => {
  const byDefault = await loadRecipeIndex(indexDir);
  assert.equal(byDefault.index.hnswEf, 100);
  const chosen = await loadRecipeIndex(indexDir, { ef: 37 });
  assert.equal(chosen.index.hnswEf, 37);
  chosen.index.search(queries(1, 1)[0], { k: 5 });
  assert.equal(chosen.index.hnswEf, 37);
  chosen.index.search(queries(1, 1)[0], { k: 5, ef: 250 });
  assert.equal(chosen.index.hnswEf, 250);

  // Behaviour, not just the setting: a sparse graph (M 8) over noise misses neighbours at ef 10 and not at ef 400.
  const n = 3000;
  const dim = 48;
  const noise = gaussians(new SeededRandom(21), n * dim);
  const hard = await buildRecipeIndex({ embeddings: noise, dim, ids: Array.from({ length: n }, (_, r) => idOf(r)), M: 8, efConstruction: 20, seed: 1 });
  const recallAt = (ef: number) => {
    let hits = 0;
    const rng = new SeededRandom(22);
    for (let i = 0; i < 30; i++) {
      const q = gaussians(rng, dim);
      const exact = new Set(hard.exactSearch(q, { k: 10 }).map((h) => h.row));
      hits += hard.search(q, { k: 10, ef }).filter((h) => exact.has(h.row)).length;
    }
    return hits / 300;
  };
  const low = recallAt(10);
  const high = recallAt(400);
  assert.ok(low < 0.9 && high > low + 0.1 && high > 0.95, `recall@10 at ef 10: ${low}, at ef 400: ${high}`);
});

test('index: k and ef bounds, query width and zero queries are user errors; k above the count returns every row', async () => {
  const { index } = await loadRecipeIndex(indexDir);
  const q = queries(1, 2)[0];
  for (const k of [0, 101, 2.5]) assert.throws(() => index.search(q, { k }), (e: Error) => e instanceof UserError && /^k must be an integer from 1 to 100, got /.test(e.message));
  assert.throws(() => index.exactSearch(q, { k: 0 }), UserError);
  assert.throws(() => index.search(q, { k: 10, ef: 9 }), /ef must be an integer from k \(10\) to 1000, got 9/);
  assert.throws(() => index.search(q, { k: 10, ef: 1001 }), /to 1000, got 1001/);
  assert.equal(index.search(q, { k: 10, ef: 10 }).length, 10);
  assert.equal(index.search(q, { k: 100, ef: 1000 }).length, 100);
  assert.throws(() => index.search(new Float32Array(DIM + 1)), /query must be a Float32Array of width 32, got width 33/);
  assert.throws(() => index.search(new Float32Array(DIM)), /query is all zeros/);
  assert.throws(() => index.search(new Float32Array(DIM).fill(Number.NaN)), /non-finite/);

  const tiny = await buildRecipeIndex({ embeddings: embeddings.slice(0, 5 * DIM), dim: DIM, ids: ids.slice(0, 5) });
  const all = tiny.search(q, { k: 10 });
  assert.deepEqual(all.map((h) => h.row).sort(), [0, 1, 2, 3, 4]);
  assert.deepEqual(all, tiny.exactSearch(q, { k: 10 }));
});

test('index: build refuses bad input; an ip index keeps raw vectors and scores by inner product', async () => {
  await assert.rejects(buildRecipeIndex({ embeddings: new Float32Array(10), dim: 4, ids: ['a', 'b'] }), /10 embedding values do not make 2 rows of width 4/);
  await assert.rejects(buildRecipeIndex({ embeddings: new Float32Array(8).fill(1), dim: 4, ids: ['a', 'a'] }), /ids must be unique/);
  await assert.rejects(buildRecipeIndex({ embeddings: Float32Array.of(1, 0, 0, 0, 0, 0), dim: 3, ids: ['a', 'b'] }), /row 1 is all zeros/);
  await assert.rejects(buildRecipeIndex({ embeddings: new Float32Array(4).fill(1), dim: 4, ids: ['a'], M: 1 }), /M must be at least 2/);
  await assert.rejects(saveRecipeIndex(path.join(tmp, 'bad'), built, { model: MODEL, dataset: { root: '', splits: ['test'] }, recipes: recipes.slice(1) }), /holds 500 rows but 499 recipes/);
  await assert.rejects(saveRecipeIndex(path.join(tmp, 'bad'), built, { model: MODEL, dataset: { root: '', splits: ['test'] }, recipes }), /recipe r000000000 is of split "train", not one of the index's \[test\]/);

  const raw = Float32Array.of(1, 0, 3, 0, 0, 2);
  const ip = await buildRecipeIndex({ embeddings: raw, dim: 2, ids: ['a', 'b', 'c'], space: 'ip' });
  assert.deepEqual(ip.vectors, raw);
  assert.deepEqual(ip.search(Float32Array.of(1, 1), { k: 3 }), [{ row: 1, id: 'b', score: 3 }, { row: 2, id: 'c', score: 2 }, { row: 0, id: 'a', score: 1 }]);
});

test('index: load refuses another model or width, saying which, and checks every file against the manifest', async () => {
  await assert.rejects(loadRecipeIndex(indexDir, { expectModelId: 'ht-baseline' }), (e: Error) => {
    assert.ok(e instanceof DataFileError);
    assert.match(e.message, /manifest\.json: index was built with model ht-debiased-test, but the loaded model is ht-baseline; rebuild the index/);
    return true;
  });
  await assert.rejects(loadRecipeIndex(indexDir, { expectModelId: MODEL.id, expectDim: 1024 }), /index vectors are 32 wide, but the model's embeddings are 1024 wide/);

  const flipped = await copyIndex('flipped');
  const vectorsFile = path.join(flipped, 'embeddings.f32');
  const bytes = await fs.readFile(vectorsFile);
  bytes[1234] ^= 0x40;
  await fs.writeFile(vectorsFile, bytes);
  await assert.rejects(loadRecipeIndex(flipped), (e: Error) => e instanceof DataFileError && e.message === `${vectorsFile}: sha256 does not match the manifest: the file is corrupted or was replaced after the index was built; rebuild the index`);

  const truncated = await copyIndex('truncated');
  const graphFile = path.join(truncated, 'hnsw.bin');
  await fs.truncate(graphFile, 1000);
  await assert.rejects(loadRecipeIndex(truncated), new RegExp(`hnsw\\.bin: holds 1000 bytes, but the manifest records \\d+: the file is truncated`));

  const edited = await copyIndex('edited');
  const recipesFile = path.join(edited, 'recipes.json');
  await fs.writeFile(recipesFile, (await fs.readFile(recipesFile, 'utf8')).replace('dish 7', 'dish 8'));
  await assert.rejects(loadRecipeIndex(edited), /recipes\.json: holds .*|recipes\.json: sha256 does not match/);

  const incomplete = await copyIndex('incomplete');
  await fs.rm(path.join(incomplete, MANIFEST_FILE));
  await assert.rejects(loadRecipeIndex(incomplete), /manifest\.json: missing: the index folder is incomplete/);

  const wrongFormat = await copyIndex('wrong-format');
  const m = JSON.parse(await fs.readFile(path.join(wrongFormat, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
  await fs.writeFile(path.join(wrongFormat, MANIFEST_FILE), JSON.stringify({ ...m, width: 0 }));
  await assert.rejects(loadRecipeIndex(wrongFormat), /manifest\.json: width must be a positive integer, got 0/);

  // Format 1 held one split per index and no split per recipe: refused with what to do.
  const version1 = await copyIndex('version-1');
  await fs.writeFile(path.join(version1, MANIFEST_FILE), JSON.stringify({ ...m, version: 1, dataset: { root: '/data/recipe1m', split: 'test' } }));
  await assert.rejects(loadRecipeIndex(version1), /manifest\.json: index format version 1 \(one split per index\) is not supported: this build reads version 2, .*rebuild the index with the index command/);
});

test('resumable embedding: an interrupted run resumes at its last commit and gives identical embeddings', async () => {
  const total = 100;
  const dim = 6;
  // Deterministic "encoder": row r -> a fixed vector.
  const embedRows = (start: number, end: number) => Float32Array.from({ length: (end - start) * dim }, (_, i) => Math.sin((start * dim + i) * 0.37) + Math.floor(start + i / dim) / 1000);

  const straight = path.join(tmp, 'embed-straight');
  const reference = await embedRecipesResumable({ outDir: straight, total, batchSize: 16, key: 'k1', embedBatch: async (s, e) => embedRows(s, e) });
  assert.equal(reference.dim, dim);
  assert.equal(reference.resumedFrom, 0);
  assert.deepEqual(reference.embeddings, embedRows(0, total));

  const outDir = path.join(tmp, 'embed-resume');
  const calls: number[] = [];
  await assert.rejects(embedRecipesResumable({
    outDir, total, batchSize: 16, key: 'k1',
    embedBatch: async (s, e) => {
      if (s === 48) throw new Error('interrupted');
      calls.push(s);
      return embedRows(s, e);
    },
  }), /interrupted/);
  assert.deepEqual(calls, [0, 16, 32]);
  // A chunk torn mid-write leaves bytes past the last commit.
  await fs.appendFile(path.join(outDir, PARTIAL_FILE), new Uint8Array(40).fill(7));
  assert.equal(JSON.parse(await fs.readFile(path.join(outDir, PROGRESS_FILE), 'utf8')).rows, 48);

  calls.length = 0;
  const progress: number[] = [];
  const resumed = await embedRecipesResumable({
    outDir, total, batchSize: 16, key: 'k1', onProgress: (done) => progress.push(done),
    embedBatch: async (s, e) => { calls.push(s); return embedRows(s, e); },
  });
  assert.deepEqual(calls, [48, 64, 80, 96]);
  assert.deepEqual(progress, [48, 64, 80, 96, 100]);
  assert.equal(resumed.resumedFrom, 48);
  assert.deepEqual(resumed.embeddings, reference.embeddings);

  // Progress recorded for another model is not mixed in.
  calls.length = 0;
  const lines: string[] = [];
  const other = await embedRecipesResumable({ outDir, total, batchSize: 50, key: 'k2', log: (l) => lines.push(l), embedBatch: async (s, e) => { calls.push(s); return embedRows(s, e); } });
  assert.deepEqual(calls, [0, 50]);
  assert.equal(other.resumedFrom, 0);
  assert.match(lines[0], /progress from other embeddings \(another key\); starting over/);
  await assert.rejects(embedRecipesResumable({ outDir, total, batchSize: 10, key: 'k3', embedBatch: async () => new Float32Array(7) }), /returned 7 values, not 10 rows/);

  await discardEmbeddingProgress(outDir);
  assert.deepEqual(await fs.readdir(outDir), []);
});

test('index: a projected graph (top principal directions) finds the exact neighbours after re-scoring; its basis is saved and verified', async () => {
  // 1200 rows of width 64 with an 8-dimensional signal: a 12-wide projection keeps the neighbours.
  const count = 1200;
  const dim = 64;
  const vectors = lowRankVectors(count, dim, 8, 0.15, 5);
  const rowIds = Array.from({ length: count }, (_, r) => idOf(r));
  const index = await buildRecipeIndex({ embeddings: vectors, dim, ids: rowIds, M: 16, efConstruction: 100, efSearch: 100, seed: 2, projectedDim: 12 });
  assert.equal(index.params.projectedDim, 12);
  const basis = index.projection!.basis;
  // Orthonormal rows (Gram-Schmidt in float64, stored as float32).
  for (let a = 0; a < 12; a++) {
    for (let b = 0; b <= a; b++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += basis[a * dim + j] * basis[b * dim + j];
      assert.ok(Math.abs(d - (a === b ? 1 : 0)) < 1e-5, `basis rows ${a}, ${b}: ${d}`);
    }
  }
  const rng = new SeededRandom(4);
  let found = 0;
  const qs = Array.from({ length: 40 }, (_, i) => {
    const q = gaussians(rng, dim);
    const row = (i * 29) % count;
    for (let j = 0; j < dim; j++) q[j] = vectors[row * dim + j] + 0.3 * q[j];
    return q;
  });
  for (const q of qs) {
    const exact = index.exactSearch(q, { k: 10 });
    const hits = index.search(q, { k: 10, ef: 100 });
    assert.equal(hits.length, 10);
    // Scores are the exact cosines of the full vectors, best first.
    for (const h of hits) assert.ok(Math.abs(h.score - exact.find((e) => e.row === h.row)!.score) < 1e-12 || !exact.some((e) => e.row === h.row));
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score);
    found += hits.filter((h) => exact.some((e) => e.row === h.row)).length;
  }
  assert.ok(found / (qs.length * 10) >= 0.95, `recall@10 ${found / (qs.length * 10)}`);

  const dir = path.join(tmp, 'projected');
  const rowRecipes = rowIds.map((id) => ({ id, title: id, ingredients: [], instructions: [], images: [], split: 'test' }));
  const manifest = await saveRecipeIndex(dir, index, { model: MODEL, dataset: { root: '/data', splits: ['test'] }, recipes: rowRecipes });
  assert.equal(manifest.hnsw.projectedDim, 12);
  assert.equal(manifest.files['projection.f32']?.bytes, 12 * dim * 4);
  const loaded = (await loadRecipeIndex(dir)).index;
  for (const q of qs.slice(0, 10)) assert.deepEqual(loaded.search(q, { k: 10, ef: 100 }), index.search(q, { k: 10, ef: 100 }));
  // A changed basis is refused like any other index file.
  const file = path.join(dir, 'projection.f32');
  const bytes = await fs.readFile(file);
  bytes[5] ^= 1;
  await fs.writeFile(file, bytes);
  await assert.rejects(loadRecipeIndex(dir), (e: unknown) => e instanceof DataFileError && /projection\.f32/.test(e.message) && /sha256/.test(e.message));
  // Automatic: narrow or small galleries keep the full vectors.
  assert.equal(built.params.projectedDim, undefined);
});
