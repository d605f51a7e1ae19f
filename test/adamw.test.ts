import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { AdamW } from '../src/train/adamw.js';
import { ParamStore } from '../src/model/param-store.js';

await tf.setBackend('cpu');

/** torch.optim.AdamW, written out in float64 for one parameter vector. */
function referenceAdamW(p: number[], grads: number[][], lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[] {
  let m = p.map(() => 0), v = p.map(() => 0);
  let x = [...p];
  grads.forEach((g, step) => {
    const t = step + 1;
    x = x.map((xi) => xi * (1 - lr * wd));
    m = m.map((mi, i) => b1 * mi + (1 - b1) * g[i]);
    v = v.map((vi, i) => b2 * vi + (1 - b2) * g[i] * g[i]);
    x = x.map((xi, i) => xi - (lr / (1 - b1 ** t)) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps));
  });
  return x;
}

test('AdamW follows torch.optim.AdamW over several steps (decoupled decay, bias correction)', () => {
  const start = [0.5, -1.25, 2, 0.001];
  const grads = [[0.1, -0.3, 0.02, 0], [0.05, 0.4, -0.01, 0.2], [-0.2, 0.1, 0.03, -0.1]];
  const store = ParamStore.initialise([{ name: 'w', shape: [4], init: { kind: 'constant', value: 0 } }], 1);
  store.get('w').assign(tf.tensor1d(start));
  const optimizer = new AdamW({ learningRate: 0.01, weightDecay: 0.1 });
  for (const g of grads) optimizer.step(store, new Map([['w', tf.tensor1d(g)]]));
  const expected = referenceAdamW(start, grads, 0.01, 0.1);
  const actual = store.get('w').dataSync();
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) < 1e-6, `${i}: ${actual[i]} vs ${e}`));
  // The state round-trips (checkpoint/resume) and a changed learning rate applies to the next step.
  const resumed = new AdamW({ learningRate: 0.01, weightDecay: 0.1 });
  resumed.loadState(optimizer.state());
  assert.equal(resumed.state().steps.get('w'), 3);
  assert.deepEqual(resumed.state().expAvg.get('w')!.dataSync(), optimizer.state().expAvg.get('w')!.dataSync());
  optimizer.dispose();
  resumed.dispose();
  store.dispose();
});

test('AdamW leaves parameters without a gradient untouched (no decay either)', () => {
  const store = ParamStore.initialise([
    { name: 'a', shape: [2], init: { kind: 'constant', value: 1 } },
    { name: 'b', shape: [2], init: { kind: 'constant', value: 1 } },
  ], 1);
  const optimizer = new AdamW({ learningRate: 0.1 });
  optimizer.step(store, new Map([['a', tf.tensor1d([1, -1])]]));
  assert.deepEqual(Array.from(store.get('b').dataSync()), [1, 1]);
  assert.notDeepEqual(Array.from(store.get('a').dataSync()), [1, 1]);
  optimizer.dispose();
  store.dispose();
});
