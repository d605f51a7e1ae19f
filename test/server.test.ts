import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type * as ort from 'onnxruntime-node';
import { loadTestCrop } from '../src/data/images/index.js';
import { batchRecipes } from '../src/data/text/batch.js';
import { encodeRecipe } from '../src/data/text/encode.js';
import { loadVocabulary } from '../src/data/text/vocabulary.js';
import { evaluateRetrieval } from '../src/eval/protocol.js';
import { openSession, runImageEncoder, runRecipeEncoder } from '../src/export/onnx-run.js';
import { buildServer, type RetrievalServer } from '../src/server/app.js';
import { buildDatasetIndex } from '../src/index/runners/dataset-index.js';
import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '../src/server/error-catalogue.js';
import { exportModel } from '../src/export/export-model.js';
import { parseServerTiming } from '../src/runtime/stage-trace.js';
import { TINY_LABELS } from './helpers/export-run.js';
import { multipartBody, rawRequest } from './helpers/http.js';
import { createServedModel } from './helpers/served-model.js';
import { createServerFixture, DEMO_ROOT, type ServerFixture } from './helpers/server-fixture.js';

const MAX_UPLOAD = 300_000;
const MAX_PIXELS = 1_000_000;
const MAX_BATCH_PHOTOS = 4;
const MAX_BATCH_BYTES = 700_000;

let fx: ServerFixture;
let server: RetrievalServer;
let base: string;
let dataDir: string;
let imageSession: ort.InferenceSession;
/** A demo photo for which the tiny classifier keeps at least one label (so debiasing moves the query). */
let photoIndex: number;
let photo: Buffer;
let lastPayload: any; // what the last handler returned (a JSON copy), before serialisation

before(async () => {
  fx = await createServerFixture('rr-server-', { viaCli: true });
  // The data folder evaluations may name: a copy of the demo test split, and a link leading outside.
  dataDir = path.join(fx.dir, 'data');
  await fs.mkdir(path.join(dataDir, 'demo', 'images'), { recursive: true });
  await fs.copyFile(path.join(DEMO_ROOT, 'test.pkl'), path.join(dataDir, 'demo', 'test.pkl'));
  await fs.copyFile(path.join(DEMO_ROOT, 'test_noimages.pkl'), path.join(dataDir, 'demo', 'test_noimages.pkl'));
  await fs.cp(path.join(DEMO_ROOT, 'images', 'test'), path.join(dataDir, 'demo', 'images', 'test'), { recursive: true });
  await fs.symlink(DEMO_ROOT, path.join(dataDir, 'escape'));

  imageSession = await openSession(path.join(fx.modelDir, 'image_encoder.onnx'), 1);
  photoIndex = -1;
  for (const [i, file] of fx.photos.entries()) {
    const out = await runImageEncoder(imageSession, [await loadTestCrop(file)]);
    if (out.logits.some((l) => l >= 0)) { photoIndex = i; break; }
  }
  assert.ok(photoIndex >= 0, 'some demo photo keeps an ingredient label');
  photo = await fs.readFile(fx.photos[photoIndex]);

  server = await buildServer({
    config: {
      modelDir: fx.modelDir, indexDir: fx.indexDir, device: 'cpu', dataDir, imageWorkers: 1, threadsPerWorker: 1,
      maxUploadBytes: MAX_UPLOAD, maxPixels: MAX_PIXELS, maxBatchPhotos: MAX_BATCH_PHOTOS, maxBatchBytes: MAX_BATCH_BYTES,
    },
    logger: false,
  });
  // What the handlers returned, before the response schemas serialised it (see the schema test).
  server.app.addHook('preSerialization', async (_request, _reply, payload) => {
    // A copy: an evaluation job object keeps changing after it was answered.
    lastPayload = JSON.parse(JSON.stringify(payload));
    return payload;
  });
  base = await server.app.listen({ port: 0, host: '127.0.0.1' });
});

after(async () => {
  await server?.app.close();
  await imageSession?.release();
  await fx?.cleanup();
});

interface ErrorBody { error: { code: string; message: string } }

async function post(pathAndQuery: string, body: RequestInit['body'] | undefined, contentType?: string): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(`${base}${pathAndQuery}`, { method: 'POST', body, headers: contentType ? { 'content-type': contentType } : {} });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

async function get(p: string): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(`${base}${p}`);
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

function assertError(res: { status: number; json: ErrorBody }, status: number, code: string | RegExp, what: string): void {
  assert.equal(res.status, status, `${what}: ${JSON.stringify(res.json)}`);
  assert.equal(typeof res.json.error.message, 'string', what);
  if (typeof code === 'string') assert.equal(res.json.error.code, code, what);
  else assert.match(res.json.error.code, code, what);
  // Every code answered is catalogued (and so documented) with this status, or with a status its description names.
  const entry = ERROR_CATALOGUE[res.json.error.code as ErrorCode];
  assert.ok(entry, `${what}: code ${res.json.error.code} is in the error catalogue`);
  assert.ok(entry.status === status || entry.description.includes(String(status)) || FRAMEWORK_STATUS.has(status), `${what}: ${status} is ${res.json.error.code}'s catalogued status`);
}

/** Statuses the HTTP layer (Fastify, multipart) chooses itself for a catalogued code, e.g. 406 for a non-multipart batch body. */
const FRAMEWORK_STATUS = new Set([406]);

function unit(v: Float32Array): Float32Array {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return v.map((x) => x / n);
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);

/** The server's ranking recomputed from a direct onnxruntime run and the stored index vectors. */
async function expectedRanking(debias: boolean, k: number): Promise<{ ids: string[]; scores: number[]; probabilities: number[] }> {
  const direct = await runImageEncoder(imageSession, [await loadTestCrop(fx.photos[photoIndex])]);
  const q = unit(debias ? direct.debiased : direct.embedding);
  const vectors = new Float32Array((await fs.readFile(path.join(fx.indexDir, 'embeddings.f32'))).buffer.slice(0));
  const ids = JSON.parse(await fs.readFile(path.join(fx.indexDir, 'recipes.json'), 'utf8')).map((r: { id: string }) => r.id) as string[];
  const scored = ids.map((id, row) => ({ id, score: dot(q, vectors.subarray(row * 24, (row + 1) * 24)) })).sort((a, b) => b.score - a.score);
  return {
    ids: scored.slice(0, k).map((s) => s.id),
    scores: scored.slice(0, k).map((s) => s.score),
    probabilities: Array.from(direct.logits, (l) => 1 / (1 + Math.exp(-l))),
  };
}

test('POST /v1/search: ranked recipes, scores and ingredient probabilities equal a direct onnxruntime run + exact search', async () => {
  for (const debias of [true, false]) {
    const res = await post(`/v1/search?k=5&debias=${debias}`, photo, 'image/jpeg');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const body = res.json;
    const expected = await expectedRanking(debias, 5);
    assert.deepEqual(body.recipes.map((r: { id: string }) => r.id), expected.ids, `debias=${debias}`);
    body.recipes.forEach((r: { rank: number; score: number }, i: number) => {
      assert.equal(r.rank, i + 1);
      assert.ok(Math.abs(r.score - expected.scores[i]) < 1e-5, `score ${r.score} vs ${expected.scores[i]}`);
    });
    assert.deepEqual(body.debias, { requested: debias, applied: debias });
    // Ingredients: every label >= 0.5, then the next five, best first, probabilities as computed here.
    const present = expected.probabilities.filter((p) => p >= 0.5).length;
    assert.ok(present >= 1);
    assert.equal(body.ingredients.length, Math.min(TINY_LABELS.length, present + 5));
    for (const ing of body.ingredients) {
      const i = TINY_LABELS.indexOf(ing.name);
      assert.ok(i >= 0, ing.name);
      assert.ok(Math.abs(ing.probability - expected.probabilities[i]) < 1e-5);
      assert.equal(ing.present, ing.probability >= 0.5);
    }
    assert.deepEqual(body.ingredients.map((x: { probability: number }) => x.probability), [...body.ingredients.map((x: { probability: number }) => x.probability)].sort((a, b) => b - a));
    for (const key of ['decodeMs', 'encodeMs', 'searchMs', 'totalMs']) assert.ok(body.timings[key] >= 0, key);
    assert.ok(body.timings.totalMs >= body.timings.decodeMs + body.timings.encodeMs);
    // Server-Timing: the server's total, then every stage of the photo's path, which together fit in it.
    const timing = parseServerTiming(res.headers.get('server-timing'));
    const stages = ['read', 'header', 'decodeWait', 'decode', 'queue', 'merge', 'toWorker', 'tensor', 'ort', 'outputs', 'fromWorker', 'split', 'resume', 'search', 'post', 'serialise'];
    assert.deepEqual(Object.keys(timing), ['total', ...stages], res.headers.get('server-timing') ?? '');
    assert.ok(timing.ort > 0 && timing.decode > 0, JSON.stringify(timing));
    const sum = stages.reduce((a, k) => a + timing[k], 0);
    assert.ok(sum <= timing.total + 1, `stages ${sum.toFixed(2)} ms, total ${timing.total} ms`);
    const top = body.recipes[0];
    assert.equal(typeof top.title, 'string');
    assert.ok(Array.isArray(top.ingredients) && Array.isArray(top.instructions));
    assert.match(top.images[0].url, /^\/v1\/images\/[0-9a-f]{10}\.jpg$/);
  }
  // Debiasing moves the query for this photo, so the two rankings' scores differ.
  const on = await post('/v1/search?k=3', photo, 'image/jpeg');
  const off = await post('/v1/search?k=3&debias=false', photo, 'image/jpeg');
  assert.notDeepEqual(on.json.recipes.map((r: { score: number }) => r.score), off.json.recipes.map((r: { score: number }) => r.score));
});

test('POST /v1/search as multipart equals the raw body; default k is 10; ef is accepted', async () => {
  const raw = await post('/v1/search', photo, 'image/jpeg');
  const form = await post('/v1/search?ef=50', multipartBody([{ field: 'image', filename: 'dish.jpg', data: photo, type: 'image/jpeg' }]));
  assert.equal(form.status, 200, JSON.stringify(form.json));
  assert.equal(raw.json.recipes.length, 10);
  assert.deepEqual(form.json.recipes.map((r: { id: string; score: number }) => [r.id, r.score]), raw.json.recipes.map((r: { id: string; score: number }) => [r.id, r.score]));
});

test('POST /v1/search/batch: one result list per photo in order; a bad photo fails alone', async () => {
  const other = await fs.readFile(fx.photos[(photoIndex + 1) % fx.photos.length]);
  const res = await post('/v1/search/batch?k=4', multipartBody([
    { field: 'image', filename: 'a.jpg', data: photo },
    { field: 'image', filename: 'notes.txt', data: 'not a photo at all' },
    { field: 'image', filename: 'b.jpg', data: other },
    { field: 'image', filename: 'big.jpg', data: Buffer.alloc(MAX_UPLOAD + 10, 7) },
  ]));
  assert.equal(res.status, 200, JSON.stringify(res.json));
  const { results } = res.json;
  assert.deepEqual(results.map((r: { index: number; filename: string; ok: boolean }) => [r.index, r.filename, r.ok]), [[0, 'a.jpg', true], [1, 'notes.txt', false], [2, 'b.jpg', true], [3, 'big.jpg', false]]);
  assert.deepEqual([res.json.count, res.json.failed], [4, 2]);
  assert.deepEqual([results[1].status, results[1].error.code], [415, 'not_an_image']);
  assert.deepEqual([results[3].status, results[3].error.code], [413, 'too_large']);
  // Photos of one batch may share a session run: scores agree with a lone search to float rounding.
  const single = await post('/v1/search?k=4', photo, 'image/jpeg');
  assert.deepEqual(results[0].recipes.map((r: { id: string }) => r.id), single.json.recipes.map((r: { id: string }) => r.id));
  results[0].recipes.forEach((r: { score: number }, i: number) => assert.ok(Math.abs(r.score - single.json.recipes[i].score) < 1e-5));
  const second = await post('/v1/search?k=4', other, 'image/jpeg');
  assert.deepEqual(results[2].recipes.map((r: { id: string }) => r.id), second.json.recipes.map((r: { id: string }) => r.id));

  const tooMany = await post('/v1/search/batch', multipartBody(Array.from({ length: MAX_BATCH_PHOTOS + 1 }, (_, i) => ({ field: 'image', filename: `${i}.jpg`, data: photo }))));
  assertError(tooMany, 413, 'too_many_images', 'five photos');
  const heavy = await post('/v1/search/batch', multipartBody(Array.from({ length: 3 }, (_, i) => ({ field: 'image', filename: `${i}.jpg`, data: Buffer.alloc(MAX_UPLOAD - 10, 1) }))));
  assertError(heavy, 413, 'too_large', 'three photos under the per-photo limit but over the per-request total');
  assertError(await post('/v1/search/batch', photo, 'image/jpeg'), 415, 'unsupported_media_type', 'raw body to batch');
  assertError(await post('/v1/search/batch', multipartBody([{ field: 'note', data: 'hi' }])), 400, 'unexpected_field', 'batch text field');
  assertError(await post('/v1/search/batch', multipartBody([])), 400, 'missing_image', 'empty batch form');
});

test('bad photos are refused with 4xx JSON errors: non-image, empty, truncated, HEIC, over the byte and pixel limits', async () => {
  assertError(await post('/v1/search', Buffer.from('definitely not an image'), 'image/jpeg'), 415, 'not_an_image', 'text bytes');
  assertError(await post('/v1/search', Buffer.alloc(0), 'image/jpeg'), 400, 'empty', 'empty raw body');
  assertError(await post('/v1/search', multipartBody([{ field: 'image', filename: 'empty.jpg', data: Buffer.alloc(0) }])), 400, 'empty', 'empty file');
  assertError(await post('/v1/search', photo.subarray(0, Math.floor(photo.length * 0.6)), 'image/jpeg'), 400, /^(truncated|corrupt)$/, 'truncated JPEG');
  const heic = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic', 'latin1'), Buffer.alloc(4), Buffer.from('mif1heic', 'latin1'), Buffer.alloc(200)]);
  const heicRes = await post('/v1/search', heic, 'image/heic');
  assertError(heicRes, 415, 'unsupported_format', 'HEIC');
  assert.match(heicRes.json.error.message, /HEIC.*JPEG or PNG/);
  assertError(await post('/v1/search', Buffer.alloc(MAX_UPLOAD + 1, 1), 'image/jpeg'), 413, 'too_large', 'raw body over the byte limit');
  assertError(await post('/v1/search', multipartBody([{ field: 'image', filename: 'big.jpg', data: Buffer.alloc(MAX_UPLOAD + 1, 1) }])), 413, 'too_large', 'file over the byte limit');
  const bomb = await sharp({ create: { width: 1200, height: 1000, channels: 3, background: '#808080' } }).png().toBuffer();
  assert.ok(bomb.length < MAX_UPLOAD);
  const bombRes = await post('/v1/search', bomb, 'image/png');
  assertError(bombRes, 413, 'too_many_pixels', '1.2 MP photo');
  assert.match(bombRes.json.error.message, /1200x1000/);
});

test('missing or extra fields, wrong content types and out-of-range parameters are 4xx; the server keeps serving', async () => {
  assertError(await post('/v1/search', undefined), 400, 'missing_image', 'no body');
  assertError(await post('/v1/search', multipartBody([{ field: 'caption', data: 'pasta' }])), 400, 'unexpected_field', 'text field only');
  assertError(await post('/v1/search', multipartBody([{ field: 'image', filename: 'a.jpg', data: photo }, { field: 'caption', data: 'pasta' }])), 400, 'unexpected_field', 'extra text field');
  assertError(await post('/v1/search', multipartBody([{ field: 'photo', filename: 'a.jpg', data: photo }])), 400, 'unexpected_field', 'wrong file field name');
  assertError(await post('/v1/search', multipartBody([{ field: 'image', filename: 'a.jpg', data: photo }, { field: 'image', filename: 'b.jpg', data: photo }])), 400, 'too_many_images', 'two photos');
  assertError(await post('/v1/search', JSON.stringify({ image: 'x' }), 'application/json'), 415, 'unsupported_media_type', 'JSON body');
  assertError(await post('/v1/search', 'hello', 'text/plain'), 415, 'unsupported_media_type', 'text body');
  assertError(await post('/v1/search', photo, 'application/octet-stream'), 415, 'unsupported_media_type', 'octet-stream');
  const broken = await post('/v1/search', '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nabc', 'multipart/form-data; boundary=xyz');
  assertError(broken, 400, /^(invalid_multipart|empty|not_an_image|missing_image)$/, 'cut-off multipart');
  for (const query of ['k=0', 'k=101', 'k=abc', 'k=2.5', 'ef=5', 'k=20&ef=10', 'ef=1001', 'debias=maybe', 'colour=red']) {
    assertError(await post(`/v1/search?${query}`, photo, 'image/jpeg'), 400, 'invalid_parameter', query);
  }
  const noBoundary = await rawRequest(base, 'POST', '/v1/search', Buffer.from('abc'), { 'content-type': 'multipart/form-data' });
  assert.deepEqual([noBoundary.status, JSON.parse(noBoundary.body.toString()).error.code], [400, 'invalid_multipart']);
  // A body longer than its Content-Length is refused by the HTTP parser, still in the JSON error format.
  const lying = await rawRequest(base, 'POST', '/v1/search', Buffer.from('abcdef'), { 'content-type': 'image/jpeg', 'content-length': '2' });
  assert.deepEqual([lying.status, JSON.parse(lying.body.toString()).error.code], [400, 'bad_request']);
  const extra = await post('/v1/search?colour=red', photo, 'image/jpeg');
  assert.match(extra.json.error.message, /additional properties: "colour"/);
  assertError(await get('/v1/nothing-here'), 404, 'not_found', 'unknown route');
  const ok = await post('/v1/search?k=1', photo, 'image/jpeg');
  assert.equal(ok.status, 200);
  assert.equal(ok.json.recipes.length, 1);
});

test('GET /v1/recipes/:id and /v1/images/:name serve only what the index lists; traversal attempts are 404', async () => {
  const recipe = fx.recipes[5];
  const res = await get(`/v1/recipes/${recipe.id}`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { id: recipe.id, title: recipe.title, ingredients: recipe.ingredients, instructions: recipe.instructions, images: recipe.images.map((name) => ({ name, url: `/v1/images/${name}` })), split: 'test' });
  assertError(await get('/v1/recipes/ffffffffff'), 404, 'recipe_not_found', 'unknown recipe');

  const imageRes = await fetch(`${base}/v1/images/${recipe.images[0]}`);
  assert.equal(imageRes.status, 200);
  assert.equal(imageRes.headers.get('content-type'), 'image/jpeg');
  assert.deepEqual(Buffer.from(await imageRes.arrayBuffer()), await fs.readFile(fx.photos[5]));

  const trainPhoto = (await fs.readdir(path.join(DEMO_ROOT, 'images', 'train', '0'), { recursive: true })).find((f) => f.endsWith('.jpg'))!;
  const attempts = [
    '/v1/images/..%2F..%2F..%2Fpackage.json', '/v1/images/%2e%2e%2f%2e%2e%2fpackage.json', '/v1/images/../../package.json',
    '/v1/images/..%2ftest.pkl', '/v1/images/test.pkl', '/v1/images/%2Fetc%2Fpasswd', '/v1/images/x%00.jpg',
    `/v1/images/${path.basename(trainPhoto)}`, // a real demo photo, but of the train split: not this index's
    `/v1/images/${recipe.images[0].toUpperCase()}`,
    `/v1/images/${'a'.repeat(300)}`,
  ];
  for (const attempt of attempts) {
    const r = await rawRequest(base, 'GET', attempt);
    assert.ok([400, 404, 414].includes(r.status), `${attempt}: ${r.status}`);
    assert.ok(!r.body.toString('latin1').includes('"dependencies"') && !r.body.includes(Buffer.from([0xff, 0xd8, 0xff])), `${attempt} leaked a file`);
    assert.ok(r.status !== 414 || JSON.parse(r.body.toString()).error.code === 'url_too_long', attempt);
    if (r.status === 404 && !attempt.includes('/../')) {
      assert.equal(JSON.parse(r.body.toString()).error.code, 'image_not_found', attempt);
    }
  }
});

async function waitForJob(id: string): Promise<any> {
  for (let i = 0; i < 300; i++) {
    const res = await get(`/v1/evaluations/${id}`);
    assert.equal(res.status, 200);
    if (['succeeded', 'failed', 'cancelled'].includes(res.json.state)) return res.json;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`evaluation ${id} did not finish`);
}

test('evaluations: a job computes medR and R@K through the serving pools, equal to the protocol on direct onnxruntime embeddings', async () => {
  const started = await post('/v1/evaluations', JSON.stringify({ dataset: 'demo', split: 'test', n: 10, runs: 3, seed: 5, directions: ['image_to_recipe', 'recipe_to_image'] }), 'application/json');
  assert.equal(started.status, 202, JSON.stringify(started.json));
  assert.equal(started.headers.get('location'), `/v1/evaluations/${started.json.id}`);
  assert.ok(['queued', 'running'].includes(started.json.state));
  // Searches are answered while the job runs.
  const during = await Promise.all([1, 2, 3].map(() => post('/v1/search?k=2', photo, 'image/jpeg')));
  assert.deepEqual(during.map((r) => r.status), [200, 200, 200]);
  const job = await waitForJob(started.json.id);
  assert.equal(job.state, 'succeeded', job.error);
  assert.deepEqual([job.result.pairs, job.result.skipped, job.result.n, job.result.runs], [28, 0, 10, 3]);
  assert.deepEqual(job.progress.phase, 'done');

  // The same protocol on embeddings computed here: photos alone, recipes in the server's chunks of 8.
  const vocab = await loadVocabulary(path.join(fx.modelDir, 'vocab.pkl'));
  const recipeSession = await openSession(path.join(fx.modelDir, 'recipe_encoder.onnx'), 1);
  const images = new Float32Array(28 * 24);
  const recipes = new Float32Array(28 * 24);
  for (const [i, file] of fx.photos.entries()) images.set((await runImageEncoder(imageSession, [await loadTestCrop(file)])).debiased, i * 24);
  for (let s = 0; s < 28; s += 8) recipes.set(await runRecipeEncoder(recipeSession, batchRecipes(fx.recipes.slice(s, s + 8).map((r) => encodeRecipe(r, vocab)))), s * 24);
  await recipeSession.release();
  const expected = await evaluateRetrieval({ values: images, rows: 28, dim: 24 }, { values: recipes, rows: 28, dim: 24 }, { n: 10, runs: 3, seed: 5 });
  for (const [key, dir] of [['image_to_recipe', expected.imageToRecipe], ['recipe_to_image', expected.recipeToImage]] as const) {
    const got = job.result.metrics[key];
    for (const m of ['medR', 'r1', 'r5', 'r10'] as const) assert.ok(Math.abs(got[m] - dir[m]) < 1e-9, `${key} ${m}: ${got[m]} vs ${dir[m]}`);
  }
  assert.equal(job.result.metrics.image_to_recipe.r10, 100); // N = 10: every true match ranks within 10

  // One direction only, all pairs, plain embeddings, text-only distractors.
  const one = await post('/v1/evaluations', JSON.stringify({ dataset: 'demo', n: 'all', directions: ['recipe_to_image'], debias: false, withNoImages: true }), 'application/json');
  const oneJob = await waitForJob(one.json.id);
  assert.equal(oneJob.state, 'succeeded', oneJob.error);
  assert.deepEqual(Object.keys(oneJob.result.metrics), ['recipe_to_image']);
  assert.deepEqual([oneJob.result.n, oneJob.result.runs, oneJob.result.galleryExtra], [28, 1, 57]);
  assert.deepEqual(oneJob.result.debias, { requested: false, applied: false });

  // N larger than the split: the job fails with the protocol's reason.
  const tooBig = await post('/v1/evaluations', JSON.stringify({ dataset: 'demo', n: 1000 }), 'application/json');
  const failed = await waitForJob(tooBig.json.id);
  assert.equal(failed.state, 'failed');
  assert.match(failed.error, /subset size 1000 is larger than the 28 image-recipe pairs/);
});

test('evaluations refuse dataset roots outside --data-dir, unknown datasets and invalid bodies', async () => {
  const body = (b: unknown) => post('/v1/evaluations', JSON.stringify(b), 'application/json');
  for (const dataset of ['../demo', '..', 'demo/../../', '/etc', '/work', 'demo/../../../etc/passwd', 'escape', 'escape/images', '..\\demo']) {
    assertError(await body({ dataset }), 400, 'path_outside_data_dir', dataset);
  }
  assertError(await body({ dataset: 'nope' }), 404, 'dataset_not_found', 'missing dataset');
  assertError(await body({ dataset: 'demo/test.pkl' }), 404, 'dataset_not_found', 'a file');
  assertError(await body({}), 400, 'invalid_parameter', 'no dataset');
  assertError(await body({ dataset: 'demo', colour: 'red' }), 400, 'invalid_parameter', 'extra property');
  assertError(await body({ dataset: 'demo', n: 0 }), 400, 'invalid_parameter', 'n 0');
  assertError(await body({ dataset: 'demo', runs: 1000 }), 400, 'invalid_parameter', 'runs 1000');
  assertError(await body({ dataset: 'demo', directions: ['sideways'] }), 400, 'invalid_parameter', 'direction');
  assertError(await body({ dataset: 'demo', split: 'dev' }), 400, 'invalid_parameter', 'split');
  assertError(await post('/v1/evaluations', '{"dataset": ', 'application/json'), 400, 'invalid_body', 'broken JSON');
  assertError(await get('/v1/evaluations/0c6a9a4e-0000-4000-8000-000000000000'), 404, 'evaluation_not_found', 'unknown job');
});

test('GET /healthz, /readyz, /v1/info, /docs/json (every route documented, every code catalogued), /metrics and the web page', async () => {
  assert.deepEqual((await get('/healthz')).json, { status: 'ok' });
  assert.deepEqual((await get('/readyz')).json, { status: 'ready' });
  const info = (await get('/v1/info')).json;
  assert.equal(info.model.id, 'tiny-served');
  assert.equal(info.model.debias.active, true);
  assert.equal(info.model.embeddingDim, 24);
  assert.deepEqual(info.provider, { image: 'cpu', recipe: 'cpu', requested: 'cpu' });
  assert.deepEqual([info.index.count, info.index.width, info.index.photos, info.index.dataset], [28, 24, fx.recipes.flatMap((r) => r.images).length, { root: 'index-data/demo', splits: ['test'] }]);
  assert.match(info.versions.onnxruntime, /^\d+\.\d+\.\d+$/);
  assert.equal(info.limits.maxUploadBytes, MAX_UPLOAD);

  const doc = (await get('/docs/json')).json;
  assert.equal(doc.openapi, '3.1.0');
  // Every route but the page's assets and the documentation's own is in the document, with a summary and a 2xx answer.
  const documented = Object.entries(doc.paths as Record<string, Record<string, { summary?: string; responses: Record<string, unknown> }>>)
    .flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ route: `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`, op })));
  const undocumented = new Set(['GET /app.js', 'GET /style.css']);
  assert.deepEqual(documented.map((d) => d.route).sort(), server.routes.filter((r) => !undocumented.has(r) && !r.startsWith('GET /docs')).sort());
  for (const { route, op } of documented) {
    assert.ok(op.summary, `${route} has a summary`);
    assert.ok(Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${route} documents its success`);
  }
  assert.deepEqual(doc.paths['/v1/search'].post.parameters.map((p: { name: string }) => p.name), ['k', 'debias', 'ef']);
  assert.deepEqual(Object.keys(doc.paths['/v1/search'].post.requestBody.content), ['multipart/form-data', 'image/*']);
  assert.deepEqual(Object.keys(doc.paths['/v1/search'].post.responses).sort(), ['200', '400', '413', '415', '500', '503']);
  // The error codes: one catalogue, listed in the description and as the enum of Error.code.
  assert.deepEqual(doc.components.schemas.Error.properties.error.properties.code.enum, ERROR_CODES);
  for (const code of ERROR_CODES) assert.match(doc.info.description, new RegExp(`\\| \`${code}\` \\| \\d{3} \\|`), code);
  const docsPage = await fetch(`${base}/docs`);
  assert.equal(docsPage.status, 200);
  assert.match(docsPage.headers.get('content-type')!, /^text\/html/);

  await post('/v1/search?k=2', photo, 'image/jpeg');
  await post('/v1/search', Buffer.from('nope'), 'image/jpeg');
  const metricsRes = await fetch(`${base}/metrics`);
  assert.match(metricsRes.headers.get('content-type')!, /^text\/plain/);
  const metrics = await metricsRes.text();
  const value = (line: RegExp) => Number(metrics.match(line)?.[1] ?? NaN);
  assert.ok(value(/^http_requests_total\{method="POST",route="\/v1\/search",status="200"\} (\d+)$/m) >= 5);
  assert.ok(value(/^http_requests_total\{method="POST",route="\/v1\/search",status="415"\} (\d+)$/m) >= 1);
  assert.ok(value(/^http_request_duration_seconds_count\{method="POST",route="\/v1\/search",status="200"\} (\d+)$/m) >= 5);
  assert.ok(value(/^search_stage_duration_seconds_count\{stage="encode"\} (\d+)$/m) >= 5);
  assert.equal(value(/^inference_provider_info\{pool="image",provider="cpu"\} (\d+)$/m), 1);
  assert.ok(value(/^inference_batch_size_count\{pool="image"\} (\d+)$/m) >= 5);
  assert.ok(value(/^inference_duration_seconds_count\{pool="image"\} (\d+)$/m) >= 5);
  assert.ok(value(/^inference_batch_size_count\{pool="recipe"\} (\d+)$/m) >= 1, 'the evaluations used the recipe pool');
  assert.equal(value(/^inference_queue_depth\{pool="image"\} (\d+)$/m), 0);
  assert.match(metrics, /^process_cpu_user_seconds_total /m);

  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /^text\/html/);
  assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
  assert.match(await page.text(), /<input id="photo-input" type="file" accept="image\/\*">/);
  assert.match((await fetch(`${base}/app.js`)).headers.get('content-type')!, /javascript/);
});

test('the response schemas serialise every field the handlers return (a field missing from a schema would be dropped)', async () => {
  const same = async (what: string, res: Promise<Response>) => {
    const r = await res;
    const body = JSON.parse(await r.text());
    assert.deepEqual(body, lastPayload, `${what} (${r.status})`);
    return body;
  };
  const search = await same('search', fetch(`${base}/v1/search?k=3`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } }));
  const batch = multipartBody([{ field: 'image', filename: 'a.jpg', data: photo }, { field: 'image', filename: 'x.txt', data: 'not a photo' }]);
  await same('batch', fetch(`${base}/v1/search/batch?k=2`, { method: 'POST', body: batch }));
  await same('recipe', fetch(`${base}${`/v1/recipes/${encodeURIComponent(search.recipes[0].id)}`}`));
  await same('info', fetch(`${base}/v1/info`));
  await same('healthz', fetch(`${base}/healthz`));
  await same('readyz', fetch(`${base}/readyz`));
  const job = await same('evaluation', fetch(`${base}/v1/evaluations`, { method: 'POST', body: JSON.stringify({ dataset: 'demo', n: 'all', runs: 1 }), headers: { 'content-type': 'application/json' } }));
  for (let state = job.state; state === 'queued' || state === 'running';) {
    await new Promise((r) => setTimeout(r, 200));
    state = (await same('evaluation job', fetch(`${base}/v1/evaluations/${job.id}`))).state;
  }
  const done = await same('finished evaluation', fetch(`${base}/v1/evaluations/${job.id}`));
  assert.equal(done.state, 'succeeded', JSON.stringify(done));
  assert.ok(done.result.metrics.image_to_recipe.std, 'metrics with their std');
});

test('a full inference queue answers 503 with Retry-After, and the server recovers', async () => {
  // One photo waits up to 1 s for companions, and only one may wait: the others are refused at once.
  const busy = await buildServer({
    config: { modelDir: fx.modelDir, indexDir: fx.indexDir, device: 'cpu', imageWorkers: 1, threadsPerWorker: 1, maxQueue: 1, maxBatch: 16, maxWaitMs: 1000 },
    logger: false,
  });
  const url = await busy.app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const send = () => fetch(`${url}/v1/search?k=2`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
    const responses = await Promise.all([send(), send(), send(), send()]);
    const statuses = responses.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 200).length >= 1, true, `statuses ${statuses}`);
    const refused = responses.filter((r) => r.status === 503);
    assert.ok(refused.length >= 1, `statuses ${statuses}`);
    for (const r of refused) {
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.equal(((await r.json()) as ErrorBody).error.code, 'overloaded');
    }
    const again = await send();
    assert.equal(again.status, 200);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    // Refused by admission before decoding (queue_full), or by the pool's own queue bound.
    const count = (re: RegExp) => Number(metrics.match(re)?.[1] ?? 0);
    assert.equal(count(/^admission_rejected_total\{reason="queue_full"\} (\d+)$/m) + count(/^inference_rejected_total\{pool="image"\} (\d+)$/m), refused.length);
    assert.match(metrics, /^http_requests_total\{method="POST",route="\/v1\/search",status="503"\} \d+$/m);
  } finally {
    await busy.app.close();
  }
});

test('the server refuses an index of another model, a head-only model, and reports a failed load on /readyz', async () => {
  const other = await createServedModel(path.join(fx.dir, 'other'), { id: 'other-model', seed: 9 });
  const otherIndex = path.join(fx.dir, 'other-index');
  await buildDatasetIndex({ datasetRoot: DEMO_ROOT, splits: ['test'], modelDir: other, outDir: otherIndex, device: 'cpu', workers: 1 });
  await assert.rejects(
    buildServer({ config: { modelDir: fx.modelDir, indexDir: otherIndex, device: 'cpu', imageWorkers: 1 }, logger: false }),
    /index was built with model other-model, but the loaded model is tiny-served; rebuild the index/,
  );
  const headOnly = path.join(fx.dir, 'head-only');
  await exportModel({ runDir: path.join(fx.dir, 'run'), outDir: headOnly, image: 'head' });
  await assert.rejects(
    buildServer({ config: { modelDir: headOnly, indexDir: fx.indexDir, device: 'cpu' }, logger: false }),
    /no image_encoder\.onnx \(exported with --image head\)/,
  );

  const failing = await buildServer({ config: { modelDir: fx.modelDir, indexDir: otherIndex, device: 'cpu' }, logger: false, waitUntilLoaded: false });
  await assert.rejects(failing.loaded, /built with model other-model/);
  const url = await failing.app.listen({ port: 0, host: '127.0.0.1' });
  try {
    assert.equal((await fetch(`${url}/healthz`)).status, 503);
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(((await ready.json()) as ErrorBody).error.message, /failed to load: .*other-model/);
    const search = await fetch(`${url}/v1/search`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(search.status, 503);
    assert.equal(((await search.json()) as ErrorBody).error.code, 'not_ready');
  } finally {
    await failing.app.close();
  }
});
