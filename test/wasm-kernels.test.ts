import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels, wasmKernelNames } from '../src/tf/wasm-kernels.js';
import { LabelledRandom } from '../src/util/labelled-random.js';

const registeredFirst = registerWasmKernels();

/** Run f on a backend and return its result's values (inputs are rebuilt there from plain arrays). */
async function on(backend: string, f: () => tf.Tensor): Promise<{ values: Float32Array | Int32Array; shape: number[]; dtype: string }> {
  await tf.setBackend(backend);
  const t = tf.tidy(f);
  const result = { values: t.dataSync() as Float32Array | Int32Array, shape: t.shape, dtype: t.dtype };
  t.dispose();
  return result;
}

test('registerWasmKernels registers UnsortedSegmentSum once and is idempotent', () => {
  assert.deepEqual(registeredFirst, ['UnsortedSegmentSum']);
  assert.deepEqual(wasmKernelNames(), ['UnsortedSegmentSum']);
  assert.deepEqual(registerWasmKernels(), []);
  assert.ok(tf.getKernel('UnsortedSegmentSum', 'wasm'));
});

test('UnsortedSegmentSum on wasm equals the cpu backend (float and int, inner ranks 0-2, repeated, missing and out-of-range ids)', async () => {
  const rng = new LabelledRandom(3);
  const cases: Array<{ shape: number[]; segments: number; dtype: 'float32' | 'int32' }> = [
    { shape: [50, 8], segments: 13, dtype: 'float32' },
    { shape: [9, 4, 3], segments: 5, dtype: 'float32' },
    { shape: [30], segments: 7, dtype: 'int32' },
  ];
  try {
    for (const c of cases) {
      const size = c.shape.reduce((a, b) => a * b, 1);
      const x = Array.from({ length: size }, () => (c.dtype === 'int32' ? Math.floor(rng.uniform() * 100) - 50 : rng.normal()));
      const idCount = c.shape[0];
      // ids in [-1, segments]: -1 and `segments` must be dropped; some segments get nothing.
      const ids = Array.from({ length: idCount }, () => Math.floor(rng.uniform() * (c.segments + 2)) - 1);
      const f = () => tf.unsortedSegmentSum(tf.tensor(x, c.shape, c.dtype), tf.tensor1d(ids, 'int32'), c.segments);
      const cpuIds = ids.map((i) => (i === c.segments ? -1 : i)); // the cpu kernel has no range check above
      const fCpu = () => tf.unsortedSegmentSum(tf.tensor(x, c.shape, c.dtype), tf.tensor1d(cpuIds, 'int32'), c.segments);
      const wasm = await on('wasm', f);
      const cpu = await on('cpu', fCpu);
      assert.deepEqual(wasm.shape, cpu.shape);
      // TensorFlow keeps x's dtype (the cpu kernel returns float32 for int32 input).
      assert.equal(wasm.dtype, c.dtype);
      for (let i = 0; i < cpu.values.length; i++) assert.ok(Math.abs(wasm.values[i] - cpu.values[i]) <= 1e-6, `case ${JSON.stringify(c.shape)} [${i}]`);
    }
  } finally {
    await tf.setBackend('cpu');
  }
});

test('the gradient of tf.gather (embedding lookup) runs on wasm and equals cpu', async () => {
  const rng = new LabelledRandom(4);
  const table = Array.from({ length: 20 * 6 }, () => rng.normal());
  const ids = [[3, 3, 0, 19], [7, 1, 3, 0]];
  const probe = Array.from({ length: 2 * 4 * 6 }, () => rng.normal());
  const f = () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor2d(ids, undefined, 'int32')), tf.tensor(probe, [2, 4, 6]))))(tf.tensor2d(table, [20, 6]));
  try {
    const wasm = await on('wasm', f);
    const cpu = await on('cpu', f);
    for (let i = 0; i < cpu.values.length; i++) assert.ok(Math.abs(wasm.values[i] - cpu.values[i]) <= 1e-6);
    // Row 3 collects three lookups, row 2 none.
    assert.ok(Array.from(cpu.values.slice(12, 18)).every((v) => v === 0));
  } finally {
    await tf.setBackend('cpu');
  }
});
