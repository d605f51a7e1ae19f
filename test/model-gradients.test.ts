import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { linear } from '../src/model/linear.js';
import { layerNorm } from '../src/model/layer-norm.js';
import { feedForward } from '../src/model/feed-forward.js';
import { multiHeadAttention } from '../src/model/attention.js';
import { embedAll } from '../src/model/embedding.js';
import { dropout, SeedStream, type LayerContext } from '../src/model/layer-context.js';
import type { ParamReader } from '../src/model/param-store.js';

// The model's layers carry hand-written gradients (for wasm speed and memory); each is checked
// here against tf.js autodiff of a plain composition of the same math.
await tf.setBackend('cpu');

const ctx: LayerContext = { training: false, dropout: 0.1, layerNormEps: 1e-5, seeds: new SeedStream('g'), checkpoint: false };

function reader(map: Record<string, tf.Tensor>): ParamReader {
  return { get: (n) => map[n], names: () => Object.keys(map) };
}

/** Gradients of sum(f(...xs) * probe) with respect to every x. */
function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], probe: tf.Tensor): tf.Tensor[] {
  return tf.grads((...args: tf.Tensor[]) => tf.sum(tf.mul(f(...args), probe)))(xs);
}

function assertAllClose(actual: tf.Tensor[], expected: tf.Tensor[], tol: number, label: string): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => {
    assert.deepEqual(a.shape, expected[i].shape, `${label} #${i} shape`);
    const diff = tf.max(tf.abs(tf.sub(a, expected[i]))).dataSync()[0];
    const scale = Math.max(1, tf.max(tf.abs(expected[i])).dataSync()[0]);
    assert.ok(diff <= tol * scale, `${label} #${i}: max diff ${diff}`);
  });
}

const rand = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

test('linear: value and gradients match x W^T + b autodiff (3-D input)', () => {
  const x = rand([2, 5, 7], 1), w = rand([3, 7], 2), b = rand([3], 3), probe = rand([2, 5, 3], 4);
  const reference = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
    tf.add(tf.reshape(tf.matMul(tf.reshape(xi, [10, 7]) as tf.Tensor2D, wi as tf.Tensor2D, false, true), [2, 5, 3]), bi);
  assertAllClose([linear(x, w, b)], [reference(x, w, b)], 1e-6, 'value');
  assertAllClose(gradsOf(linear, [x, w, b], probe), gradsOf(reference, [x, w, b], probe), 1e-5, 'grads');
  // Without bias.
  assertAllClose(gradsOf((a, c) => linear(a, c), [x, w], probe), gradsOf((a, c) => reference(a, c, tf.zeros([3])), [x, w], probe), 1e-5, 'no bias');
});

test('layerNorm: value and gradients match the composed formula', () => {
  const x = tf.add(tf.mul(rand([4, 3, 6], 5), 3), 1), w = rand([6], 6), b = rand([6], 7), probe = rand([4, 3, 6], 8);
  const ours = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => layerNorm(reader({ 'n.weight': wi, 'n.bias': bi }), 'n', xi, 1e-5);
  const reference = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => {
    const mean = tf.mean(xi, -1, true);
    const variance = tf.mean(tf.square(tf.sub(xi, mean)), -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(xi, mean), tf.sqrt(tf.add(variance, 1e-5))), wi), bi);
  };
  assertAllClose([ours(x, w, b)], [reference(x, w, b)], 1e-5, 'value');
  assertAllClose(gradsOf(ours, [x, w, b], probe), gradsOf(reference, [x, w, b], probe), 1e-4, 'grads');
});

test('feedForward: value and gradients match linear2(relu(linear1 x)) autodiff', () => {
  const x = rand([3, 4, 6], 9), w1 = rand([10, 6], 10), b1 = rand([10], 11), w2 = rand([6, 10], 12), b2 = rand([6], 13);
  const probe = rand([3, 4, 6], 14);
  const ours = (xi: tf.Tensor, a: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) => feedForward(
    reader({ 'f.linear1.weight': a, 'f.linear1.bias': c, 'f.linear2.weight': d, 'f.linear2.bias': e }), 'f', xi, ctx);
  const lin = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.add(tf.matMul(tf.reshape(xi, [12, -1]) as tf.Tensor2D, wi as tf.Tensor2D, false, true), bi);
  const reference = (xi: tf.Tensor, a: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) =>
    tf.reshape(lin(tf.relu(lin(xi, a, c)), d, e), [3, 4, 6]);
  assertAllClose([ours(x, w1, b1, w2, b2)], [reference(x, w1, b1, w2, b2)], 1e-5, 'value');
  assertAllClose(gradsOf(ours, [x, w1, b1, w2, b2], probe), gradsOf(reference, [x, w1, b1, w2, b2], probe), 1e-4, 'grads');
});

test('multiHeadAttention: value and gradients match a plain implementation with key padding', () => {
  const n = 2, tq = 3, tk = 4, d = 8, heads = 2;
  const q = rand([n, tq, d], 15), k = rand([n, tk, d], 16), v = rand([n, tk, d], 17);
  const inW = rand([3 * d, d], 18), inB = rand([3 * d], 19), outW = rand([d, d], 20), outB = rand([d], 21);
  const keyValid = tf.tensor2d([[1, 1, 0, 1], [1, 0, 0, 0]]);
  const probe = rand([n, tq, d], 22);
  const ours = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => multiHeadAttention(
    reader({ 'm.in_proj_weight': a, 'm.in_proj_bias': b, 'm.out_proj.weight': c, 'm.out_proj.bias': e }), 'm', heads,
    { query: qi as tf.Tensor3D, key: ki as tf.Tensor3D, value: vi as tf.Tensor3D, keyValid }, ctx);
  // Reference: per head, loops and plain ops; -inf style masking via a large negative.
  const reference = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => {
    const mm = (x: tf.Tensor, w: tf.Tensor) => tf.reshape(
      tf.matMul(tf.reshape(x, [-1, d]) as tf.Tensor2D, w as tf.Tensor2D, false, true), [n, -1, d]);
    const proj = (x: tf.Tensor, i: number) => tf.add(mm(x, tf.slice(a, [i * d, 0], [d, d])), tf.slice(b, [i * d], [d]));
    const [Q, K, V] = [proj(qi, 0), proj(ki, 1), proj(vi, 2)];
    const hd = d / heads;
    const outs: tf.Tensor[] = [];
    for (let h = 0; h < heads; h++) {
      const qh = tf.slice(Q, [0, 0, h * hd], [n, tq, hd]);
      const kh = tf.slice(K, [0, 0, h * hd], [n, tk, hd]);
      const vh = tf.slice(V, [0, 0, h * hd], [n, tk, hd]);
      const raw = tf.matMul(qh as tf.Tensor3D, kh as tf.Tensor3D, false, true);
      const scores = tf.add(tf.div(raw, Math.sqrt(hd)), tf.mul(tf.sub(1, tf.expandDims(keyValid, 1)), -1e9));
      outs.push(tf.matMul(tf.softmax(scores, -1) as tf.Tensor3D, vh as tf.Tensor3D));
    }
    return tf.add(mm(tf.concat(outs, -1), c), e);
  };
  const xs = [q, k, v, inW, inB, outW, outB];
  assertAllClose([ours(...(xs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]))],
    [reference(...(xs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]))], 1e-5, 'value');
  const f1 = (...a: tf.Tensor[]) => ours(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
  const f2 = (...a: tf.Tensor[]) => reference(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
  const g1 = gradsOf(f1, xs, probe);
  const g2 = gradsOf(f2, xs, probe);
  assertAllClose(g1, g2, 1e-4, 'grads');
  // Padded keys get no gradient at all.
  const dk = g1[1].arraySync() as number[][][];
  assert.ok(dk[0][2].every((x) => x === 0) && dk[1][3].every((x) => x === 0));
});

test('embedAll: one lookup for several id tensors; gradient equals tf.gather autodiff', () => {
  const table = rand([9, 4], 23);
  const a = tf.tensor2d([[1, 2, 0], [8, 8, 3]], undefined, 'int32');
  const b = tf.tensor1d([0, 5, 1], 'int32');
  const [ea, eb] = embedAll(table as tf.Tensor2D, [a, b]);
  assert.deepEqual(ea.shape, [2, 3, 4]);
  assert.deepEqual(eb.shape, [3, 4]);
  const pa = rand([2, 3, 4], 24), pb = rand([3, 4], 25);
  const ours = tf.grad((t: tf.Tensor) => {
    const [x, y] = embedAll(t as tf.Tensor2D, [a, b]);
    return tf.add(tf.sum(tf.mul(x, pa)), tf.sum(tf.mul(y, pb)));
  })(table);
  const reference = tf.grad((t: tf.Tensor) => tf.add(tf.sum(tf.mul(tf.gather(t, a), pa)), tf.sum(tf.mul(tf.gather(t, b), pb))))(table);
  assertAllClose([ours], [reference], 1e-6, 'grad');
});

test('dropout: active only in training; keeps ~1-rate, scales by 1/(1-rate); gradient is the mask', () => {
  const x = tf.add(tf.abs(rand([200, 50], 26)), 0.1);
  assert.equal(dropout(x, ctx), x);
  const train = { ...ctx, training: true, seeds: new SeedStream('d') };
  const y = dropout(x, train);
  const ratio = tf.div(y, x).dataSync();
  const kept = ratio.filter((r) => r > 0);
  assert.ok(kept.every((r) => Math.abs(r - 1 / 0.9) < 1e-5));
  assert.ok(Math.abs(kept.length / ratio.length - 0.9) < 0.01);
  const g = tf.grad((t: tf.Tensor) => tf.sum(dropout(t, { ...ctx, training: true, seeds: new SeedStream('d') })))(x);
  assert.deepEqual(g.dataSync(), ratio.map((r) => Math.fround(r > 0 ? 1 / 0.9 : 0)));
});
