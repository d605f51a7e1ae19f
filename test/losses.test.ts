import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { tripletLoss, recipeSelfSupervisedLoss, asymmetricLoss, trainingLoss } from '../src/train/losses.js';
import { COMPONENTS, PROJECTION_PAIRS, projectionKey, type ComponentName, type ProjectionKey } from '../src/model/components.js';
import { LabelledRandom } from '../src/util/labelled-random.js';
import type { ModelOutputs } from '../src/model/forward.js';

await tf.setBackend('cpu');

const rng = new LabelledRandom(42);
const matrix = (rows: number, cols: number, scale = 1): number[][] =>
  Array.from({ length: rows }, () => Array.from({ length: cols }, () => rng.normal() * scale));

// ---- float64 references, written from the formulas (not from the implementation) ----

function cosineDistances(x: number[][], y: number[][]): number[][] {
  const unit = (v: number[]) => {
    const n = Math.max(Math.hypot(...v), 1e-12);
    return v.map((a) => a / n);
  };
  const xu = x.map(unit);
  const yu = y.map(unit);
  return xu.map((a) => yu.map((b) => 1 - a.reduce((s, v, k) => s + v * b[k], 0)));
}

function referenceTriplet(x: number[][], y: number[][], margin = 0.3): number {
  const D = cosineDistances(x, y);
  const b = x.length;
  let total = 0;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      if (i === j) continue;
      total += Math.max(0, margin + D[i][i] - D[i][j]) + Math.max(0, margin + D[j][j] - D[i][j]);
    }
  }
  return total / (b * b);
}

function referenceAsl(logits: number[][], targets: number[][], gNeg = 2, gPos = 0, eps = 1e-5): number {
  let total = 0;
  logits.forEach((row, i) => row.forEach((x, c) => {
    const y = targets[i][c];
    const p = 1 / (1 + Math.exp(-x));
    const ll = y * Math.log(Math.max(p, eps)) + (1 - y) * Math.log(Math.max(1 - p, eps));
    const w = (1 - p * y - (1 - p) * (1 - y)) ** (gPos * y + gNeg * (1 - y));
    total += w * ll;
  }));
  return (-total / (logits.length * logits[0].length)) * 1000;
}

function relClose(actual: number, expected: number, tol: number, label: string): void {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1e-8, Math.abs(expected)), `${label}: ${actual} vs ${expected}`);
}

test('triplet loss: a 2x2 case computed by hand', () => {
  // D = [[0, 1-1/sqrt2], [1, 1-1/sqrt2]]; only (0,1) contributes: (0.3 - (1-1/sqrt2)) + 0.3, over 4 cells.
  const value = tripletLoss(tf.tensor2d([[1, 0], [0, 1]]), tf.tensor2d([[1, 0], [1, 1]])).dataSync()[0];
  relClose(value, (0.6 - 1 + Math.SQRT1_2) / 4, 1e-6, '2x2');
  // Perfectly separated pairs: zero loss; and the margin is a parameter.
  assert.equal(tripletLoss(tf.eye(3) as tf.Tensor2D, tf.mul(tf.eye(3), 5) as tf.Tensor2D, 0.3).dataSync()[0], 0);
  relClose(tripletLoss(tf.eye(2) as tf.Tensor2D, tf.eye(2) as tf.Tensor2D, 1.5).dataSync()[0], (2 * 2 * 0.5) / 4, 1e-6, 'margin');
});

test('triplet loss matches the float64 reference on random batches (both directions)', () => {
  for (const [b, d] of [[5, 7], [16, 12]]) {
    const x = matrix(b, d);
    const y = x.map((row) => row.map((v) => v + rng.normal() * 0.8)); // correlated pairs: some hinges active, some not
    const value = tripletLoss(tf.tensor2d(x), tf.tensor2d(y)).dataSync()[0];
    relClose(value, referenceTriplet(x, y), 1e-5, `B=${b}`);
    // Symmetric in its arguments (image->recipe and recipe->image terms).
    relClose(tripletLoss(tf.tensor2d(y), tf.tensor2d(x)).dataSync()[0], value, 1e-5, 'swap');
  }
});

test('recipe self-supervised loss: mean over ordered pairs of L(f_a, P[b->a](f_b))', () => {
  const b = 6, d = 5;
  const feats = Object.fromEntries(COMPONENTS.map((c) => [c, matrix(b, d)])) as Record<ComponentName, number[][]>;
  const proj = Object.fromEntries(PROJECTION_PAIRS.map(([from, to]) => [projectionKey(from, to), matrix(b, d)])) as Record<ProjectionKey, number[][]>;
  let expected = 0;
  for (const a of COMPONENTS) for (const c of COMPONENTS) if (a !== c) expected += referenceTriplet(feats[a], proj[projectionKey(c, a)]);
  expected /= 6;
  const toTensors = <K extends string>(o: Record<K, number[][]>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, tf.tensor2d(v as number[][])])) as Record<K, tf.Tensor2D>;
  const value = recipeSelfSupervisedLoss(toTensors(feats), toTensors(proj)).dataSync()[0];
  relClose(value, expected, 1e-5, 'L_rec');
  // The other pairing (f_a against P[a->b](f_a)'s target space) gives a different number: the test can tell.
  let wrong = 0;
  for (const a of COMPONENTS) for (const c of COMPONENTS) if (a !== c) wrong += referenceTriplet(feats[a], proj[projectionKey(a, c)]);
  assert.ok(Math.abs(wrong / 6 - expected) > 1e-3);
});

test('asymmetric loss matches the float64 reference, including the eps clamp', () => {
  const logits = matrix(4, 9, 3);
  logits[0][0] = 20; // 1-p underflows below eps: the log is clamped
  logits[1][1] = -25; // p below eps
  const targets = logits.map((row) => row.map(() => (rng.uniform() < 0.3 ? 1 : 0)));
  targets[0][0] = 0;
  targets[1][1] = 1;
  const value = asymmetricLoss(tf.tensor2d(logits), tf.tensor2d(targets)).dataSync()[0];
  relClose(value, referenceAsl(logits, targets), 1e-5, 'ASL');
});

test('asymmetric loss: the focusing weight carries no gradient', () => {
  const logits = matrix(3, 5, 2);
  const targets = logits.map((row, i) => row.map((_, c) => ((i + c) % 3 === 0 ? 1 : 0)));
  const grad = tf.grad((x: tf.Tensor) => asymmetricLoss(x as tf.Tensor2D, tf.tensor2d(targets)))(tf.tensor2d(logits)).arraySync() as number[][];
  const scale = 1000 / (3 * 5);
  logits.forEach((row, i) => row.forEach((x, c) => {
    const y = targets[i][c];
    const p = 1 / (1 + Math.exp(-x));
    const w = y ? 1 : p * p; // constant weight
    const expected = -scale * w * (y ? 1 - p : -p); // d/dx of -w * log-likelihood with w held fixed
    relClose(grad[i][c], expected, 1e-4, `grad[${i}][${c}]`);
  }));
});

test('trainingLoss: stage 1 = L_tri(e_I, e_R) + L_rec; stage 2 uses the debiased image side and adds 0.001 L_cls', () => {
  const b = 4, d = 6;
  const t = (rows: number[][]) => tf.tensor2d(rows);
  const features = Object.fromEntries(COMPONENTS.map((c) => [c, t(matrix(b, d))])) as Record<ComponentName, tf.Tensor2D>;
  const projections = Object.fromEntries(PROJECTION_PAIRS.map(([f, to]) => [projectionKey(f, to), t(matrix(b, d))])) as Record<ProjectionKey, tf.Tensor2D>;
  const eI = t(matrix(b, 8)), eR = t(matrix(b, 8)), debiased = t(matrix(b, 8)), logits = t(matrix(b, 3));
  const targets = t([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]);
  const recipe = { embedding: eR, features, projections, lines: { ingredients: eR, instructions: eR } };
  const rec = recipeSelfSupervisedLoss(features, projections).dataSync()[0];
  const stage1: ModelOutputs = { image: { embedding: eI }, recipe };
  relClose(trainingLoss(stage1, { classificationWeight: 0 }).total.dataSync()[0], tripletLoss(eI, eR).dataSync()[0] + rec, 1e-6, 'stage 1');
  const stage2: ModelOutputs = {
    image: { embedding: eI, logits, debiased: { embedding: debiased, z: eI, probNormalised: logits, dictProjected: eI } }, recipe,
  };
  const expected = tripletLoss(debiased, eR).dataSync()[0] + rec + 0.001 * asymmetricLoss(logits, targets).dataSync()[0];
  relClose(trainingLoss(stage2, { targets, classificationWeight: 0.001 }).total.dataSync()[0], expected, 1e-6, 'stage 2');
  // Text-only batch: the recipe loss alone.
  relClose(trainingLoss({ recipe }, { classificationWeight: 0 }).total.dataSync()[0], rec, 1e-6, 'text only');
  assert.throws(() => trainingLoss(stage1, { classificationWeight: 0.001 }), /needs classifier logits/);
});
