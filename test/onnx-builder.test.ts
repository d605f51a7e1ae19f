import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { AttentionParams } from '../src/onnx/attention.js';
import { batchNorm, conv2d, foldBatchNorm, globalAveragePool, maxPool, reduceMean, samePadding } from '../src/onnx/conv-blocks.js';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import {
  addLearnedPositions,
  embedding,
  layerNorm,
  linear,
  maskedMean,
  paddingMaskFromIds,
  relu,
  sigmoid,
  tanh,
  validMaskFromPadding,
} from '../src/onnx/nn-blocks.js';
import { onnx, type OnnxTypes } from '../src/onnx/proto.js';
import { multiHeadAttention } from './helpers/onnx-attention.js';
import { transformerEncoderLayer, type EncoderLayerParams } from './helpers/onnx-transformer.js';
import { tensor32 } from '../src/onnx/weights.js';
import { SeededRandom } from '../src/util/random.js';
import {
  batchNormRef,
  conv2dRef,
  encoderLayerRef,
  f32,
  globalAvgPoolRef,
  layerNormRef,
  linearRef,
  mapRef,
  maskedMeanRef,
  maxPoolRef,
  mhaRef,
  randomArr,
  relativeError,
  type Arr,
  type AttentionRefParams,
  type EncoderLayerRefParams,
} from './helpers/float64-reference.js';

const TOLERANCE = 1e-5;

async function session(b: GraphBuilder): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(b.serialize(), { executionProviders: ['cpu'] });
}

function floatTensor(a: Arr): ort.Tensor {
  return new ort.Tensor('float32', f32(a), a.shape);
}

function assertClose(actual: ort.Tensor, expected: Arr, what: string): void {
  assert.deepEqual(actual.dims, expected.shape, `${what}: shape`);
  const err = relativeError(actual.data as Float32Array, expected.data);
  assert.ok(err <= TOLERANCE, `${what}: error ${err.toExponential(2)} > ${TOLERANCE}`);
}

const t32 = (a: Arr) => tensor32(f32(a), a.shape);

test('builder: unique names, wiring checks, typed model metadata', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', 'float32', ['batch', 3]);
  assert.equal(b.uniqueName('x'), 'x_1');
  const y1 = b.op('Relu', [x]);
  const y2 = b.op('Relu', [x]);
  assert.notEqual(y1, y2);
  assert.throws(() => b.op('Relu', ['nowhere']), /Relu node refers to nowhere, which nothing in graph g defines/);
  assert.throws(() => b.input('x', 'float32', [1]), /already used/);
  // A reserved name is skipped by generated names and stays free for an output.
  b.reserve('y');
  assert.equal(b.uniqueName('y'), 'y_1');
  b.output(y2, 'y', 'float32', ['batch', 3]);
  const model = onnx.ModelProto.decode(b.serialize({ metadata: { k: 'v' } }));
  assert.equal(Number(model.irVersion), 8);
  assert.equal(Number(model.opsetImport[0].version), 17);
  const graph = model.graph as OnnxTypes.GraphProto;
  assert.deepEqual(graph.output.map((o) => o.name), ['y']);
  assert.equal(graph.input[0].type?.tensorType?.shape?.dim?.[0].dimParam, 'batch');
  assert.deepEqual(model.metadataProps.map((p) => [p.key, p.value]), [['k', 'v']]);
  assert.throws(() => new GraphBuilder('empty').serialize(), /has no outputs/);
});

test('int64 initializers are little-endian raw data', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', 'int64', [3]);
  const big = b.initializer('c', BigInt64Array.of(1n, -2n, 2n ** 40n), [3]);
  b.output(b.op('Add', [x, big]), 'y', 'int64', [3]);
  const out = await (await session(b)).run({ x: new ort.Tensor('int64', BigInt64Array.of(1n, 1n, 1n), [3]) });
  assert.deepEqual(Array.from(out.y.data as BigInt64Array), [2n, -1n, 2n ** 40n + 1n]);
});

test('linear (with and without bias) and activations match float64', async () => {
  const rng = new SeededRandom(1);
  const x = randomArr(rng, [2, 3, 5]);
  const w = randomArr(rng, [4, 5]);
  const bias = randomArr(rng, [4]);
  const b = new GraphBuilder();
  const xin = b.input('x', 'float32', ['batch', 'len', 5]);
  const y = linear(b, xin, { weight: t32(w), bias: t32(bias) });
  b.output(y, 'y', 'float32', ['batch', 'len', 4]);
  b.output(linear(b, xin, { weight: t32(w) }, 'nobias'), 'y_nobias', 'float32', ['batch', 'len', 4]);
  b.output(relu(b, y), 'relu', 'float32', ['batch', 'len', 4]);
  b.output(tanh(b, y), 'tanh', 'float32', ['batch', 'len', 4]);
  b.output(sigmoid(b, y), 'sigmoid', 'float32', ['batch', 'len', 4]);
  const out = await (await session(b)).run({ x: floatTensor(x) });
  const ref = linearRef(x, w, bias);
  assertClose(out.y, ref, 'linear');
  assertClose(out.y_nobias, linearRef(x, w), 'linear without bias');
  assertClose(out.relu, mapRef(ref, (v) => Math.max(0, v)), 'relu');
  assertClose(out.tanh, mapRef(ref, Math.tanh), 'tanh');
  assertClose(out.sigmoid, mapRef(ref, (v) => 1 / (1 + Math.exp(-v))), 'sigmoid');
  // The check can fail: the same weights read in the other layout give a different answer.
  const wOtherLayout = { data: Array.from({ length: 20 }, (_, i) => w.data[(i % 4) * 5 + Math.floor(i / 4)]), shape: [4, 5] };
  assert.ok(relativeError(out.y.data as Float32Array, linearRef(x, wOtherLayout, bias).data) > 1e-2);
});

test('layer norm matches float64 (eps 1e-5)', async () => {
  const rng = new SeededRandom(2);
  const x = randomArr(rng, [3, 4, 8], 3);
  const g = randomArr(rng, [8]);
  const be = randomArr(rng, [8]);
  const b = new GraphBuilder();
  b.output(layerNorm(b, b.input('x', 'float32', ['batch', 'len', 8]), { weight: t32(g), bias: t32(be) }), 'y', 'float32', ['batch', 'len', 8]);
  const out = await (await session(b)).run({ x: floatTensor(x) });
  assertClose(out.y, layerNormRef(x, g, be, 1e-5), 'layer norm');
});

function attentionParams(rng: SeededRandom, d: number): { onnx: AttentionParams; ref: AttentionRefParams } {
  const ref = {
    inProjWeight: randomArr(rng, [3 * d, d], 0.5),
    inProjBias: randomArr(rng, [3 * d], 0.2),
    outWeight: randomArr(rng, [d, d], 0.5),
    outBias: randomArr(rng, [d], 0.2),
  };
  return {
    ref,
    onnx: {
      inProjWeight: t32(ref.inProjWeight),
      inProjBias: t32(ref.inProjBias),
      outProj: { weight: t32(ref.outWeight), bias: t32(ref.outBias) },
    },
  };
}

/** ids with 0 = padding, per row a number of real tokens. */
function idsWithLengths(lengths: number[], maxLen: number): { ids: BigInt64Array; padded: boolean[][] } {
  const ids = new BigInt64Array(lengths.length * maxLen);
  const padded = lengths.map((n, r) => Array.from({ length: maxLen }, (_, j) => {
    if (j < n) ids[r * maxLen + j] = BigInt(3 + j);
    return j >= n;
  }));
  return { ids, padded };
}

test('multi-head self-attention with key padding mask (incl. only position 0 valid) matches float64', async () => {
  const rng = new SeededRandom(3);
  const d = 8;
  const heads = 2;
  const p = attentionParams(rng, d);
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['batch', 'len', d]);
  const ids = b.input('ids', 'int64', ['batch', 'len']);
  const mask = paddingMaskFromIds(b, ids);
  b.output(multiHeadAttention(b, { query: x, key: x, value: x, keyPaddingMask: mask }, p.onnx, heads), 'y', 'float32', ['batch', 'len', d]);
  const s = await session(b);
  const L = 5;
  const { ids: idData, padded } = idsWithLengths([5, 3, 1], L); // full, last two padded, only position 0 valid
  const xs = randomArr(rng, [3, L, d]);
  const out = await s.run({ x: floatTensor(xs), ids: new ort.Tensor('int64', idData, [3, L]) });
  assertClose(out.y, mhaRef(xs, xs, xs, p.ref, heads, padded), 'masked self-attention');
  // The mask matters: without it the answer differs.
  assert.ok(relativeError(out.y.data as Float32Array, mhaRef(xs, xs, xs, p.ref, heads).data) > 1e-3);
});

test('multi-head cross-attention (query length != key length) matches float64', async () => {
  const rng = new SeededRandom(4);
  const d = 12;
  const heads = 3;
  const p = attentionParams(rng, d);
  const b = new GraphBuilder();
  const q = b.input('q', 'float32', ['batch', 'lq', d]);
  const kv = b.input('kv', 'float32', ['batch', 'lk', d]);
  const pos = b.input('pos', 'float32', ['batch', 'lk', d]);
  // The query2labels decoder's pattern: positions added to keys, not to values.
  const keys = b.op('Add', [kv, pos]);
  b.output(multiHeadAttention(b, { query: q, key: keys, value: kv }, p.onnx, heads), 'y', 'float32', ['batch', 'lq', d]);
  const qs = randomArr(rng, [2, 4, d]);
  const kvs = randomArr(rng, [2, 6, d]);
  const ps = randomArr(rng, [2, 6, d]);
  const out = await (await session(b)).run({ q: floatTensor(qs), kv: floatTensor(kvs), pos: floatTensor(ps) });
  const keysRef = { data: kvs.data.map((v, i) => Math.fround(v + ps.data[i])), shape: kvs.shape };
  assertClose(out.y, mhaRef(qs, keysRef, kvs, p.ref, heads), 'cross-attention');
});

test('post-norm transformer encoder layer: one model, batch 1 and 5, different lengths, matches float64', async () => {
  const rng = new SeededRandom(5);
  const d = 8;
  const ff = 16;
  const heads = 4;
  const attn = attentionParams(rng, d);
  const ref: EncoderLayerRefParams = {
    attn: attn.ref,
    w1: randomArr(rng, [ff, d], 0.5),
    b1: randomArr(rng, [ff], 0.1),
    w2: randomArr(rng, [d, ff], 0.5),
    b2: randomArr(rng, [d], 0.1),
    g1: randomArr(rng, [d]),
    be1: randomArr(rng, [d]),
    g2: randomArr(rng, [d]),
    be2: randomArr(rng, [d]),
  };
  const params: EncoderLayerParams = {
    selfAttn: attn.onnx,
    linear1: { weight: t32(ref.w1), bias: t32(ref.b1) },
    linear2: { weight: t32(ref.w2), bias: t32(ref.b2) },
    norm1: { weight: t32(ref.g1), bias: t32(ref.be1) },
    norm2: { weight: t32(ref.g2), bias: t32(ref.be2) },
  };
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['batch', 'len', d]);
  const ids = b.input('ids', 'int64', ['batch', 'len']);
  const y = transformerEncoderLayer(b, x, params, { numHeads: heads, keyPaddingMask: paddingMaskFromIds(b, ids) });
  b.output(y, 'y', 'float32', ['batch', 'len', d]);
  const s = await session(b);
  for (const [lengths, L] of [[[4], 4], [[7, 1, 3, 7, 5], 7]] as [number[], number][]) {
    const { ids: idData, padded } = idsWithLengths(lengths, L);
    const xs = randomArr(rng, [lengths.length, L, d]);
    const out = await s.run({ x: floatTensor(xs), ids: new ort.Tensor('int64', idData, [lengths.length, L]) });
    assertClose(out.y, encoderLayerRef(xs, ref, heads, padded, 1e-5), `encoder layer, batch ${lengths.length}`);
  }
});

test('masked mean: valid positions only, all-padding row -> zeros', async () => {
  const rng = new SeededRandom(6);
  const b = new GraphBuilder();
  const x = b.input('x', 'float32', ['batch', 'len', 6]);
  const ids = b.input('ids', 'int64', ['batch', 'len']);
  b.output(maskedMean(b, x, validMaskFromPadding(b, paddingMaskFromIds(b, ids))), 'y', 'float32', ['batch', 6]);
  const { ids: idData, padded } = idsWithLengths([4, 2, 0], 4);
  const xs = randomArr(rng, [3, 4, 6]);
  const out = await (await session(b)).run({ x: floatTensor(xs), ids: new ort.Tensor('int64', idData, [3, 4]) });
  const expected = maskedMeanRef(xs, padded.map((row) => row.map((p) => (p ? 0 : 1))));
  assertClose(out.y, expected, 'masked mean');
  assert.deepEqual(Array.from((out.y.data as Float32Array).subarray(12, 18)), [0, 0, 0, 0, 0, 0]);
});

test('embedding gather plus learned positions (dynamic length)', async () => {
  const rng = new SeededRandom(7);
  const table = randomArr(rng, [10, 4]);
  const positions = randomArr(rng, [6, 4]);
  const b = new GraphBuilder();
  const ids = b.input('ids', 'int64', ['batch', 'len']);
  const tableName = b.initializer('word_embedding', f32(table), table.shape);
  const emb = embedding(b, tableName, ids);
  b.output(emb, 'emb', 'float32', ['batch', 'len', 4]);
  b.output(addLearnedPositions(b, emb, b.initializer('pos', f32(positions), positions.shape)), 'y', 'float32', ['batch', 'len', 4]);
  const s = await session(b);
  for (const [rows, L] of [[1, 6], [2, 3]]) {
    const idList = Array.from({ length: rows * L }, (_, i) => (i * 7 + 3) % 10);
    const out = await s.run({ ids: new ort.Tensor('int64', BigInt64Array.from(idList, BigInt), [rows, L]) });
    const emb64 = idList.flatMap((id) => table.data.slice(id * 4, id * 4 + 4));
    assertClose(out.emb, { data: emb64, shape: [rows, L, 4] }, 'gather');
    const withPos = emb64.map((v, i) => v + positions.data[(Math.floor(i / 4) % L) * 4 + (i % 4)]);
    assertClose(out.y, { data: withPos, shape: [rows, L, 4] }, 'positions');
  }
});

test('conv with folded batch norm, max pool, global average pool and reduce mean match float64', async () => {
  const rng = new SeededRandom(8);
  const x = randomArr(rng, [2, 3, 9, 8]);
  const w = randomArr(rng, [4, 3, 3, 3]);
  const convBias = randomArr(rng, [4]).data;
  const bn = {
    gamma: randomArr(rng, [4]).data,
    beta: randomArr(rng, [4]).data,
    mean: randomArr(rng, [4]).data,
    variance: randomArr(rng, [4]).data.map((v) => Math.fround(Math.abs(v) + 0.5)),
    epsilon: 1e-3,
  };
  const bnF32 = { gamma: Float32Array.from(bn.gamma), beta: Float32Array.from(bn.beta), mean: Float32Array.from(bn.mean), variance: Float32Array.from(bn.variance), epsilon: bn.epsilon };
  const folded = foldBatchNorm(t32(w), Float32Array.from(convBias), bnF32);
  const pads: [number, number, number, number] = [1, 0, 2, 1];
  const b = new GraphBuilder();
  const xin = b.input('x', 'float32', ['batch', 3, 9, 8]);
  const conv = conv2d(b, xin, { weight: folded.weight, bias: folded.bias, strides: [2, 2], pads });
  b.output(conv, 'conv', 'float32', ['batch', 4, null, null]);
  const unfolded = batchNorm(b, conv2d(b, xin, { weight: t32(w), bias: Float32Array.from(convBias), strides: [2, 2], pads }, 'plain'), bnF32);
  b.output(unfolded, 'conv_bn', 'float32', ['batch', 4, null, null]);
  b.output(maxPool(b, xin, { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }), 'pool', 'float32', ['batch', 3, null, null]);
  b.output(globalAveragePool(b, xin), 'gap', 'float32', ['batch', 3]);
  b.output(reduceMean(b, xin, [2, 3]), 'mean', 'float32', ['batch', 3]);
  const out = await (await session(b)).run({ x: floatTensor(x) });
  const ref = batchNormRef(conv2dRef(x, w, convBias, [2, 2], pads), bn.gamma, bn.beta, bn.mean, bn.variance, bn.epsilon);
  assertClose(out.conv, ref, 'conv with folded batch norm');
  assertClose(out.conv_bn, ref, 'conv then BatchNormalization');
  assertClose(out.pool, maxPoolRef(x, [3, 3], [2, 2], [1, 1, 1, 1]), 'max pool');
  assertClose(out.gap, globalAvgPoolRef(x), 'global average pool');
  assertClose(out.mean, globalAvgPoolRef(x), 'reduce mean');
});

test("TensorFlow 'same' padding puts the odd pixel at the end", () => {
  assert.deepEqual(samePadding(224, 7, 2), [2, 3]);
  assert.deepEqual(samePadding(56, 3, 1), [1, 1]);
  assert.deepEqual(samePadding(7, 1, 1), [0, 0]);
  assert.deepEqual(samePadding(5, 3, 2), [1, 1]);
  assert.deepEqual(samePadding(6, 3, 2), [0, 1]);
});
