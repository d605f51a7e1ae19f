import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { embedding, linear, maskedMean, paddingMaskFromIds, validMaskFromPadding } from '../src/onnx/nn-blocks.js';
import { tensor32 } from '../src/onnx/weights.js';
import { canMerge, mergeInputs, splitOutputs } from '../src/runtime/batching.js';
import { InferenceError, PoolClosedError, QueueFullError } from '../src/runtime/errors.js';
import { InferencePool } from '../src/runtime/inference-pool.js';
import { openModelPools } from '../src/runtime/model-pools.js';
import type { ExportedModel } from '../src/model-format/exported-model.js';
import { cudaUnavailableReason } from '../src/runtime/session-factory.js';
import type { TensorMap, TensorValue } from '../src/runtime/tensor-value.js';
import { DataFileError, UserError } from '../src/util/errors.js';
import { SeededRandom } from '../src/util/random.js';

const VOCAB = 50;
const WIDTH = 8;
const OUT = 4;
const TOKEN_PADDING = { ids: { dims: [1], value: 0 } } as const;

let dir: string;
/** ids int64 [batch, T] -> masked mean of embeddings `pooled` [batch, 8] and `projected` = tanh(Linear) [batch, 4]. */
let tokenModel: string;
/** x float32 [batch, 8] -> y = x W + b [batch, 4]: fixed feature width, for shape errors. */
let featureModel: string;

function randomFloats(rng: SeededRandom, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.nextFloat() * 2 - 1);
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-runtime-'));
  const rng = new SeededRandom(7);
  const t = new GraphBuilder('tokens');
  const ids = t.input('ids', 'int64', ['batch', 'T']);
  const table = t.initializer('table', randomFloats(rng, VOCAB * WIDTH), [VOCAB, WIDTH]);
  const vectors = embedding(t, table, ids);
  const pooled = maskedMean(t, vectors, validMaskFromPadding(t, paddingMaskFromIds(t, ids)));
  const projected = t.op('Tanh', [linear(t, pooled, { weight: tensor32(randomFloats(rng, OUT * WIDTH), [OUT, WIDTH]), bias: tensor32(randomFloats(rng, OUT), [OUT]) })]);
  t.output(pooled, 'pooled', 'float32', ['batch', WIDTH]);
  t.output(projected, 'projected', 'float32', ['batch', OUT]);
  tokenModel = path.join(dir, 'tokens.onnx');
  await fs.writeFile(tokenModel, t.serialize());

  const f = new GraphBuilder('features');
  const x = f.input('x', 'float32', ['batch', WIDTH]);
  f.output(linear(f, x, { weight: tensor32(randomFloats(rng, OUT * WIDTH), [OUT, WIDTH]), bias: tensor32(randomFloats(rng, OUT), [OUT]) }), 'y', 'float32', ['batch', OUT]);
  featureModel = path.join(dir, 'features.onnx');
  await fs.writeFile(featureModel, f.serialize());
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function tokenRequest(rng: SeededRandom, length: number): TensorMap {
  const data = BigInt64Array.from({ length }, () => BigInt(1 + rng.nextInt(VOCAB - 1)));
  return { ids: { type: 'int64', dims: [1, length], data } };
}

/** The reference: the same model in a plain session on the main thread, one request at a time. */
async function directRun(modelPath: string, inputs: TensorMap): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, new ort.Tensor(v.type, v.data, v.dims)]));
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

test('batching: pads ruled dims with the pad value, refuses to merge unruled differences, splits per caller', () => {
  const a: TensorValue = { type: 'int64', dims: [1, 2], data: BigInt64Array.of(5n, 6n) };
  const b: TensorValue = { type: 'int64', dims: [2, 3], data: BigInt64Array.of(1n, 2n, 3n, 4n, 5n, 6n) };
  const merged = mergeInputs([{ ids: a }, { ids: b }], { ids: { dims: [1], value: -1n } });
  assert.deepEqual(merged.ids.dims, [3, 3]);
  assert.deepEqual([...merged.ids.data as BigInt64Array], [5n, 6n, -1n, 1n, 2n, 3n, 4n, 5n, 6n]);
  assert.equal(canMerge({ ids: a }, { ids: b }, {}), false, 'T differs and no rule allows it');
  assert.equal(canMerge({ ids: a }, { ids: b }, TOKEN_PADDING), true);

  // Hierarchical [B, L, T]: both inner dims padded with 0.
  const r1: TensorValue = { type: 'int32', dims: [1, 1, 2], data: Int32Array.of(7, 8) };
  const r2: TensorValue = { type: 'int32', dims: [1, 2, 1], data: Int32Array.of(9, 10) };
  const m3 = mergeInputs([{ x: r1 }, { x: r2 }], { x: { dims: [1, 2], value: 0 } });
  assert.deepEqual(m3.x.dims, [2, 2, 2]);
  assert.deepEqual([...m3.x.data as Int32Array], [7, 8, 0, 0, 9, 0, 10, 0]);

  const parts = splitOutputs({ y: { type: 'float32', dims: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) } }, [1, 2]);
  assert.deepEqual(parts.map((p) => [p.y.dims, [...p.y.data as Float32Array]]), [[[1, 2], [1, 2]], [[2, 2], [3, 4, 5, 6]]]);
  assert.throws(() => splitOutputs({ y: { type: 'float32', dims: [2], data: Float32Array.of(1, 2) } }, [1, 2]), /cannot be micro-batched/);
});

test('pool: 50 concurrent requests with different T: batched, split exactly, equal to single runs', async () => {
  // One worker and a long maxWaitMs make the batches deterministic: 16, 16, 16, then the last 2.
  const pool = await InferencePool.create({ modelPath: tokenModel, device: 'cpu', workers: 1, threadsPerWorker: 1, maxBatch: 16, maxWaitMs: 200, padding: TOKEN_PADDING });
  const rng = new SeededRandom(11);
  const requests = Array.from({ length: 50 }, (_, i) => tokenRequest(rng, 1 + (i % 13)));
  let results: TensorMap[];
  try {
    assert.equal(pool.provider, 'cpu');
    assert.deepEqual([...pool.inputNames], ['ids']);
    results = await Promise.all(requests.map((r) => pool.run(r)));
    const stats = pool.stats();
    assert.equal(stats.sessionRuns, 4, '50 calls should take 4 session runs');
    assert.deepEqual(stats.batchSizes, { 16: 3, 2: 1 });
    assert.equal(stats.inferenceMs.count, 4);
    assert.equal(stats.queueWaitMs.count, 50);
    assert.equal(stats.queueDepth, 0);
  } finally {
    await pool.close();
  }
  let maxSingleError = 0;
  for (let start = 0; start < 50; start += 16) {
    const group = requests.slice(start, start + 16);
    // The same padded batch run directly: the pool's merge, transfer and split add no error at all.
    const merged = await directRun(tokenModel, mergeInputs(group, TOKEN_PADDING));
    group.forEach((_, j) => {
      assert.deepEqual(results[start + j].pooled.dims, [1, WIDTH]);
      assert.deepEqual(results[start + j].pooled.data, merged.pooled.subarray(j * WIDTH, (j + 1) * WIDTH), `request ${start + j} pooled`);
      assert.deepEqual(results[start + j].projected.data, merged.projected.subarray(j * OUT, (j + 1) * OUT), `request ${start + j} projected`);
    });
    for (let j = 0; j < group.length; j++) {
      const single = await directRun(tokenModel, group[j]);
      maxSingleError = Math.max(maxSingleError, maxAbsDiff(results[start + j].pooled.data as Float32Array, single.pooled), maxAbsDiff(results[start + j].projected.data as Float32Array, single.projected));
    }
  }
  // Against one-at-a-time runs only the kernels' summation order (which follows the batch shape) differs.
  assert.ok(maxSingleError <= 1e-6, `batched vs single: max |diff| ${maxSingleError}`);
});

test('pool: with maxBatch 1 every result is bit-identical to a direct single run', async () => {
  const pool = await InferencePool.create({ modelPath: tokenModel, device: 'cpu', workers: 2, threadsPerWorker: 1, maxBatch: 1, padding: TOKEN_PADDING });
  try {
    const rng = new SeededRandom(12);
    const requests = Array.from({ length: 8 }, (_, i) => tokenRequest(rng, 2 + i));
    // An ort.Tensor is accepted as is (its data sits behind a getter, which must survive the trip to the worker).
    const asOrtTensor = (r: TensorMap): TensorMap => ({ ids: new ort.Tensor('int64', r.ids.data as BigInt64Array, r.ids.dims) as unknown as TensorValue });
    const results = await Promise.all(requests.map((r, i) => pool.run(i % 2 ? asOrtTensor(r) : r)));
    assert.equal(pool.stats().sessionRuns, 8);
    for (let i = 0; i < requests.length; i++) {
      const direct = await directRun(tokenModel, requests[i]);
      assert.deepEqual(results[i].pooled.data, direct.pooled);
      assert.deepEqual(results[i].projected.data, direct.projected);
    }
  } finally {
    await pool.close();
  }
});

test('pool: auto falls back to CPU with one log line; cuda fails clearly; a missing model is a DataFileError', async () => {
  const lines: string[] = [];
  const pool = await InferencePool.create({ modelPath: featureModel, device: 'auto', workers: 2, log: (l) => lines.push(l) });
  await pool.close();
  assert.equal(pool.provider, 'cpu');
  const fallback = lines.filter((l) => /CUDA execution provider unavailable/.test(l));
  assert.equal(fallback.length, 1, lines.join('\n'));
  assert.match(fallback[0], /onnxruntime: CUDA execution provider unavailable \(.+\); running on CPU/);

  await assert.rejects(InferencePool.create({ modelPath: featureModel, device: 'cuda', workers: 1 }), (err: Error) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /^device cuda: onnxruntime-node could not start its CUDA execution provider \(.+\); .*--device auto or cpu/);
    return true;
  });
  await assert.rejects(InferencePool.create({ modelPath: path.join(dir, 'nope.onnx'), workers: 1 }), DataFileError);
  await assert.rejects(InferencePool.create({ modelPath: featureModel, workers: 0 }), /workers must be an integer >= 1/);
});

test('openModelPools: the recipe pool runs where the image pool settled (auto resolved once); a pool that cannot start closes the other', async () => {
  // The two graph paths are all openModelPools reads of an export.
  const model = { dir, imageEncoderPath: featureModel, recipeEncoderPath: tokenModel } as unknown as ExportedModel;
  const lines: string[] = [];
  const pools = await openModelPools(model, { device: 'auto', image: { workers: 1 }, recipe: { workers: 1 }, log: (l) => lines.push(l) });
  try {
    assert.equal(pools.recipe.provider, pools.image.provider);
    assert.equal(pools.provider, pools.image.provider);
    assert.ok(lines.filter((l) => /CUDA execution provider unavailable/.test(l)).length <= 1, lines.join('\n'));
    const rng = new SeededRandom(3);
    const image = await pools.image.run({ x: { type: 'float32', dims: [1, WIDTH], data: randomFloats(rng, WIDTH) } });
    assert.deepEqual(image.y.dims, [1, OUT]);
    const recipe = await pools.recipe.run(tokenRequest(rng, 5));
    assert.deepEqual(recipe.projected.dims, [1, OUT]);
  } finally {
    await pools.close();
  }
  await assert.rejects(pools.image.run({ x: { type: 'float32', dims: [1, WIDTH], data: new Float32Array(WIDTH) } }), PoolClosedError);
  await assert.rejects(pools.recipe.run(tokenRequest(new SeededRandom(4), 3)), PoolClosedError);

  const recipeOnly = await openModelPools(model, { device: 'cpu', recipe: { workers: 1 } });
  assert.equal(recipeOnly.image, undefined);
  assert.equal(recipeOnly.provider, 'cpu');
  await recipeOnly.close();

  // The recipe pool fails after the image pool started: the error goes on, and the image pool's
  // worker is stopped, which a child process shows by exiting on its own (a live worker thread
  // would keep it running until the timeout kills it).
  const missing = path.join(dir, 'absent-recipe.onnx');
  const script = `import { openModelPools } from ${JSON.stringify(path.resolve('dist/src/runtime/model-pools.js'))};
const model = { dir: '', imageEncoderPath: ${JSON.stringify(featureModel)}, recipeEncoderPath: ${JSON.stringify(missing)} };
try {
  await openModelPools(model, { device: 'cpu', image: { workers: 1 }, recipe: { workers: 1 } });
  console.log('opened');
} catch (err) {
  console.log(err.message);
}`;
  const scriptFile = path.join(dir, 'failing-pools.mjs');
  await fs.writeFile(scriptFile, script);
  const child = spawnSync(process.execPath, [scriptFile], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(child.signal, null, 'the child had to be killed: a pool was left running');
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), `${missing}: model file not found`);
});

test('CUDA is ruled out before onnxruntime is asked when its provider libraries are absent: a CPU start prints nothing on stderr', async () => {
  const bindingDir = path.join(dir, 'binding');
  await fs.mkdir(bindingDir, { recursive: true });
  if (process.platform === 'linux' && process.arch === 'x64') {
    assert.match(cudaUnavailableReason(bindingDir) ?? '', /CUDA provider libraries are not installed: no libonnxruntime_providers_shared\.so or libonnxruntime_providers_cuda\.so/);
    await fs.writeFile(path.join(bindingDir, 'libonnxruntime_providers_shared.so'), '');
    assert.match(cudaUnavailableReason(bindingDir) ?? '', /no libonnxruntime_providers_cuda\.so beside/);
    await fs.writeFile(path.join(bindingDir, 'libonnxruntime_providers_cuda.so'), '');
    assert.equal(cudaUnavailableReason(bindingDir), undefined, 'both present: onnxruntime is asked');
  } else {
    assert.match(cudaUnavailableReason(bindingDir) ?? '', /no CUDA provider for/);
  }
  // An auto pool in a child process, as `serve` starts one: onnxruntime's own "Failed to load library" error must not appear.
  if (cudaUnavailableReason() === undefined) return; // this machine has the CUDA providers: onnxruntime is rightly asked
  const script = `import { InferencePool } from ${JSON.stringify(path.resolve('dist/src/runtime/inference-pool.js'))};
const lines = [];
const pool = await InferencePool.create({ modelPath: ${JSON.stringify(featureModel)}, device: 'auto', workers: 1, log: (l) => lines.push(l) });
await pool.close();
console.log(JSON.stringify({ provider: pool.provider, lines }));`;
  // A file, not -e: worker threads inherit the parent's flags, and --input-type would stop them.
  const scriptFile = path.join(dir, 'auto-pool.mjs');
  await fs.writeFile(scriptFile, script);
  const child = spawnSync(process.execPath, [scriptFile], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stderr, '', 'nothing on stderr');
  const out = JSON.parse(child.stdout) as { provider: string; lines: string[] };
  assert.equal(out.provider, 'cpu');
  assert.deepEqual(out.lines.slice(0, 1), ['onnxruntime: CUDA execution provider unavailable (onnxruntime-node\'s CUDA provider libraries are not installed: no libonnxruntime_providers_shared.so or libonnxruntime_providers_cuda.so beside its binding); running on CPU']);
});

test('pool: a full queue rejects with QueueFullError and the queued requests still complete', async () => {
  const pool = await InferencePool.create({ modelPath: featureModel, device: 'cpu', workers: 1, maxBatch: 100, maxWaitMs: 50, maxQueue: 4 });
  try {
    const rng = new SeededRandom(3);
    const calls = Array.from({ length: 6 }, () => pool.run({ x: { type: 'float32', dims: [1, WIDTH], data: randomFloats(rng, WIDTH) } }));
    const settled = await Promise.allSettled(calls);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    const reason = (settled[4] as PromiseRejectedResult).reason as QueueFullError;
    assert.ok(reason instanceof QueueFullError);
    assert.equal(reason.maxQueue, 4);
    assert.ok(reason.retryAfterMs > 0);
    const stats = pool.stats();
    assert.equal(stats.rejectedQueueFull, 2);
    assert.deepEqual(stats.batchSizes, { 4: 1 }, 'the four waiting requests ran as one batch');
  } finally {
    await pool.close();
  }
});

test('pool: a bad request fails alone (own batch, or isolated after its merged batch failed) and the pool keeps serving', async () => {
  const pool = await InferencePool.create({ modelPath: tokenModel, device: 'cpu', workers: 1, threadsPerWorker: 1, maxBatch: 16, maxWaitMs: 20, padding: TOKEN_PADDING });
  try {
    const rng = new SeededRandom(5);
    const good = Array.from({ length: 5 }, () => tokenRequest(rng, 4));
    // Token id out of the embedding table: merges with the others, and Gather fails the merged run.
    const bad: TensorMap = { ids: { type: 'int64', dims: [1, 3], data: BigInt64Array.of(1n, BigInt(VOCAB + 5), 2n) } };
    const settled = await Promise.allSettled([...good.slice(0, 2).map((r) => pool.run(r)), pool.run(bad), ...good.slice(2).map((r) => pool.run(r))]);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    const err = (settled[2] as PromiseRejectedResult).reason as Error;
    assert.ok(err instanceof InferenceError);
    assert.match(err.message, /^inference failed for a request of 1 row\(s\): .*(indices|out of|bounds)/i);
    const stats = pool.stats();
    assert.equal(stats.isolatedRetries, 6);
    assert.ok(stats.failedRuns >= 2, 'the merged run and the lone bad run failed');
    for (let i = 0; i < good.length; i++) {
      const expected = await directRun(tokenModel, good[i]);
      const got = (settled[i < 2 ? i : i + 1] as PromiseFulfilledResult<TensorMap>).value;
      assert.ok(maxAbsDiff(got.pooled.data as Float32Array, expected.pooled) <= 1e-6);
    }
    const again = await pool.run(good[0]);
    assert.deepEqual(again.pooled.data, (await directRun(tokenModel, good[0])).pooled, 'a lone request is bit-identical');
    // Wrong batch layout is refused before it reaches a worker.
    await assert.rejects(pool.run({ ids: { type: 'int64', dims: [1, 2], data: BigInt64Array.of(1n) } }), /data holds 1 values/);
    await assert.rejects(pool.run({ tokens: good[0].ids }), /model inputs are \[ids\]; missing ids; unknown tokens/);
  } finally {
    await pool.close();
  }

  const features = await InferencePool.create({ modelPath: featureModel, device: 'cpu', workers: 1, maxWaitMs: 20 });
  try {
    const rng = new SeededRandom(6);
    const ok = Array.from({ length: 4 }, () => features.run({ x: { type: 'float32', dims: [1, WIDTH], data: randomFloats(rng, WIDTH) } }));
    // Width 5 cannot merge with width 8, so it runs (and fails) in a batch of its own.
    const wrongWidth = features.run({ x: { type: 'float32', dims: [1, 5], data: randomFloats(rng, 5) } });
    await assert.rejects(wrongWidth, (e: Error) => e instanceof InferenceError && /^inference failed for a request of 1 row\(s\): .*(dimension|shape)/i.test(e.message));
    const results = await Promise.all(ok);
    assert.equal(results.length, 4);
    assert.equal(features.stats().isolatedRetries, 0);
    assert.deepEqual(features.stats().batchSizes, { 4: 1, 1: 1 });
  } finally {
    await features.close();
  }
});

test('pool: close finishes queued and in-flight work, then refuses new work', async () => {
  const pool = await InferencePool.create({ modelPath: tokenModel, device: 'cpu', workers: 1, maxBatch: 4, maxWaitMs: 1000, padding: TOKEN_PADDING });
  const rng = new SeededRandom(9);
  const requests = Array.from({ length: 10 }, (_, i) => tokenRequest(rng, 1 + i));
  const calls = requests.map((r) => pool.run(r));
  const started = Date.now();
  const closing = pool.close();
  const results = await Promise.all(calls);
  await closing;
  // close() dispatches queued work at once instead of waiting out maxWaitMs (1 s).
  assert.ok(Date.now() - started < 900, `close took ${Date.now() - started} ms`);
  assert.equal(results.length, 10);
  assert.ok(maxAbsDiff(results[9].pooled.data as Float32Array, (await directRun(tokenModel, requests[9])).pooled) <= 1e-6);
  assert.deepEqual(pool.stats().batchSizes, { 4: 2, 2: 1 });
  assert.equal(pool.stats().workers, 0);
  await assert.rejects(pool.run(requests[0]), PoolClosedError);
  await pool.close(); // idempotent
});

test('pool: an idle worker takes a lone request at once (default maxWaitMs 0); requests submitted in one tick run as one batch', async () => {
  const pool = await InferencePool.create({ modelPath: tokenModel, device: 'cpu', workers: 1, threadsPerWorker: 1, padding: TOKEN_PADDING });
  try {
    const rng = new SeededRandom(21);
    // Same tick: the pump runs after this task's submissions, so all five share one session run.
    const together = Array.from({ length: 5 }, (_, i) => tokenRequest(rng, 3 + i));
    const results = await Promise.all(together.map((r) => pool.run(r)));
    assert.deepEqual(pool.stats().batchSizes, { 5: 1 });
    for (let i = 0; i < together.length; i++) {
      const direct = await directRun(tokenModel, together[i]);
      assert.ok(maxAbsDiff(results[i].projected.data as Float32Array, direct.projected) < 1e-6);
    }
    // One at a time: each runs alone, and does not wait in the queue for companions.
    const queued: number[] = [];
    for (let i = 0; i < 3; i++) {
      const trace: Record<string, number> = {};
      await pool.run(tokenRequest(rng, 4), { trace });
      queued.push(trace.queue);
    }
    assert.deepEqual(pool.stats().batchSizes, { 5: 1, 1: 3 });
    // Against a pool told to wait 200 ms for companions (bounds far apart, so a loaded machine cannot blur them).
    const waiting = await InferencePool.create({ modelPath: tokenModel, device: 'cpu', workers: 1, threadsPerWorker: 1, maxWaitMs: 200, padding: TOKEN_PADDING });
    const trace: Record<string, number> = {};
    try {
      await waiting.run(tokenRequest(rng, 4), { trace });
    } finally {
      await waiting.close();
    }
    assert.ok(trace.queue >= 150, `maxWaitMs 200: a lone request queued ${trace.queue} ms`);
    assert.ok(Math.min(...queued) < 50, `default: lone requests queued ${queued.map((q) => q.toFixed(2)).join(', ')} ms`);
  } finally {
    await pool.close();
  }
});

test('pool: a trace receives every stage of the request; handed-over inputs move to the worker, others stay the caller\'s', async () => {
  const pool = await InferencePool.create({ modelPath: tokenModel, device: 'cpu', workers: 1, threadsPerWorker: 1, padding: TOKEN_PADDING });
  try {
    const rng = new SeededRandom(22);
    const kept = tokenRequest(rng, 6);
    const keptCopy = (kept.ids.data as BigInt64Array).slice();
    const trace: Record<string, number> = {};
    const started = performance.now();
    const out = await pool.run(kept, { trace });
    const wallMs = performance.now() - started;
    for (const stage of ['queue', 'merge', 'toWorker', 'tensor', 'ort', 'outputs', 'fromWorker', 'split']) {
      assert.ok(Number.isFinite(trace[stage]) && trace[stage] >= 0, `stage ${stage}: ${trace[stage]}`);
    }
    assert.ok(trace.ort > 0, `ort ${trace.ort}`);
    const sum = Object.values(trace).reduce((a, b) => a + b, 0);
    // The stages partition the request's time in the pool (clocks of two threads: allow 1 ms of skew).
    assert.ok(sum <= wallMs + 1, `stages sum to ${sum.toFixed(3)} ms, the run took ${wallMs.toFixed(3)} ms`);
    assert.deepEqual(kept.ids.data, keptCopy, 'a request not handed over keeps its buffer');

    const given = tokenRequest(rng, 6);
    const reference = await directRun(tokenModel, { ids: { ...given.ids, data: (given.ids.data as BigInt64Array).slice() } });
    const moved = await pool.run(given, { handOver: true });
    assert.equal((given.ids.data as BigInt64Array).buffer.byteLength, 0, 'a handed-over buffer was transferred (detached here), not cloned');
    assert.deepEqual(moved.projected.data, reference.projected);
    assert.ok(out.projected.data.length === OUT);
  } finally {
    await pool.close();
  }
});

test('pool: an idle worker waits for announced requests (bounded), a cancelled announcement stops the wait; whenFree resolves when the run ends', async () => {
  const pool = await InferencePool.create({ modelPath: tokenModel, device: 'cpu', workers: 1, threadsPerWorker: 1, maxArrivalWaitMs: 5000, padding: TOKEN_PADDING });
  try {
    const rng = new SeededRandom(23);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // A is queued while B is announced: A waits for B, and the two run as one batch.
    const b = pool.announce();
    const first = pool.run(tokenRequest(rng, 3));
    await sleep(100);
    assert.equal(pool.stats().sessionRuns, 0, 'A waited for the announced B');
    await Promise.all([first, pool.run(tokenRequest(rng, 4), { arrival: b })]);
    assert.deepEqual(pool.stats().batchSizes, { 2: 1 });
    // C is announced then cancelled (its photo failed to decode, say): D stops waiting at once.
    const c = pool.announce();
    const trace: Record<string, number> = {};
    const d = pool.run(tokenRequest(rng, 5), { trace });
    await sleep(100);
    c.cancel();
    c.cancel(); // idempotent
    await d;
    assert.ok(trace.queue >= 90 && trace.queue < 4000, `D queued ${trace.queue} ms`);
    assert.deepEqual(pool.stats().batchSizes, { 2: 1, 1: 1 });
    // whenFree: pending while a run is in flight, resolved once it is over.
    assert.equal(await Promise.race([pool.whenFree().then(() => 'free'), sleep(1000).then(() => 'pending')]), 'free', 'an idle pool is free');
    // run() dispatches in a microtask and the reply is a message (a macrotask), so after one
    // awaited microtask the worker is busy and cannot have answered yet. (Polling with timers here
    // raced the reply on a fast machine and looped forever.)
    const running = pool.run(tokenRequest(rng, 6));
    await Promise.resolve();
    assert.equal(pool.stats().busyWorkers, 1, 'the run was dispatched');
    let freed = false;
    const free = pool.whenFree().then(() => { freed = true; });
    await Promise.resolve();
    assert.equal(freed, false, 'whenFree is pending while the run is in flight');
    await free;
    assert.equal(pool.stats().busyWorkers, 0);
    await running;
  } finally {
    await pool.close();
  }
});
