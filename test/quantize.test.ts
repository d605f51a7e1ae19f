import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { conv2d } from '../src/onnx/conv-blocks.js';
import { GraphBuilder } from '../src/onnx/graph-builder.js';
import { attr } from '../src/onnx/attributes.js';
import { DataType, onnx } from '../src/onnx/proto.js';
import { tensor32 } from '../src/onnx/weights.js';
import { calibrateRanges } from '../src/quantize/calibrate.js';
import { activationQuant, insertQdq, quantizationTargets, quantizeWeightsPerChannel } from '../src/quantize/qdq-graph.js';
import { SeededRandom } from '../src/util/random.js';

test('per-channel int8 weights: scale = max |w| / 127 per output channel, values rounded and clamped', () => {
  // Two output channels of 3 weights each.
  const w = Float32Array.from([1, -0.5, 0.26, 0.2, 0.11, -0.05]);
  const { values, scales } = quantizeWeightsPerChannel(w, 2);
  assert.deepEqual(Array.from(scales), [Math.fround(1 / 127), Math.fround(0.2 / 127)]);
  // 1 -> 127, -0.5 -> -63.5 -> -63 (round half up), 0.26 -> 33.02 -> 33; 0.2 -> 127, 0.11 -> 69.85 -> 70, -0.05 -> -31.75 -> -32
  assert.deepEqual(Array.from(values), [127, -63, 33, 127, 70, -32]);
  // An all-zero channel keeps scale 1 (no division by zero) and zero weights.
  const zero = quantizeWeightsPerChannel(new Float32Array(4), 2);
  assert.deepEqual(Array.from(zero.scales), [1, 1]);
  assert.deepEqual(Array.from(zero.values), [0, 0, 0, 0]);
});

test('uint8 activation parameters cover the range and represent zero exactly', () => {
  assert.deepEqual(activationQuant({ min: -1, max: 3 }), { scale: 4 / 255, zeroPoint: 64 });
  // A ReLU output: zero point 0, the whole 0..255 for the positive range.
  assert.deepEqual(activationQuant({ min: 0, max: 5.1 }), { scale: 5.1 / 255, zeroPoint: 0 });
  // All-positive ranges are widened to include 0; a constant zero tensor gets scale 1.
  assert.deepEqual(activationQuant({ min: 2, max: 2.55 }), { scale: 2.55 / 255, zeroPoint: 0 });
  assert.deepEqual(activationQuant({ min: 0, max: 0 }), { scale: 1, zeroPoint: 0 });
});

/** A small residual conv net (the ResNet pattern): conv-relu-conv-relu-conv + shortcut -> add -> relu -> mean. */
function residualNet(rng: SeededRandom): Uint8Array {
  const g = new GraphBuilder('residual');
  const x = g.input('x', 'float32', ['batch', 3, 12, 12]);
  const weights = (o: number, i: number, k: number) => tensor32(Float32Array.from({ length: o * i * k * k }, () => (rng.nextFloat() - 0.5) / Math.sqrt(i * k * k)), [o, i, k, k]);
  const bias = (o: number) => Float32Array.from({ length: o }, () => (rng.nextFloat() - 0.5) * 0.2);
  const stem = g.op('Relu', [conv2d(g, x, { weight: weights(16, 3, 3), bias: bias(16), pads: [1, 1, 1, 1] }, 'stem')]);
  const a = g.op('Relu', [conv2d(g, stem, { weight: weights(8, 16, 1), bias: bias(8) }, 'branch_a')]);
  const b = g.op('Relu', [conv2d(g, a, { weight: weights(8, 8, 3), bias: bias(8), pads: [1, 1, 1, 1] }, 'branch_b')]);
  const c = conv2d(g, b, { weight: weights(16, 8, 1), bias: bias(16) }, 'branch_c');
  const sum = g.op('Relu', [g.op('Add', [c, stem], {}, 'residual')]);
  const pooled = g.op('ReduceMean', [sum], { axes: attr.ints([2, 3]), keepdims: attr.int(0) });
  g.output(pooled, 'y', 'float32', ['batch', 16]);
  return g.serialize();
}

function randomInput(rng: SeededRandom): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from({ length: 3 * 12 * 12 }, () => 2 * rng.nextFloat() - 0.5), [1, 3, 12, 12]);
}

test('a small residual net quantized in QDQ form runs in onnxruntime within int8 accuracy of fp32', async () => {
  const rng = new SeededRandom(13);
  const bytes = residualNet(rng);
  const model = onnx.ModelProto.decode(bytes);
  const targets = quantizationTargets(model.graph!);
  // The inputs of the 4 Convs and both inputs of the residual Add (the stem's ReLU output is one of both).
  assert.equal(targets.length, 5);
  const ranges = await calibrateRanges(model, targets, Array.from({ length: 16 }, () => ({ x: randomInput(rng) })), { threads: 1 });
  for (const t of targets) assert.ok(Number.isFinite(ranges.get(t)!.min) && ranges.get(t)!.max > ranges.get(t)!.min, t);
  const summary = insertQdq(model, ranges);
  assert.deepEqual(summary, { convs: 4, adds: 1, activations: 5 });
  const ops = model.graph!.node!.map((n) => n.opType);
  assert.equal(ops.filter((o) => o === 'QuantizeLinear').length, 5);
  assert.equal(ops.filter((o) => o === 'DequantizeLinear').length, 5 + 4 + 4); // activations, weights, biases
  // The float weights are gone: only int8 weights and int32 biases remain for the convolutions.
  const types = model.graph!.initializer!.filter((t) => /weight|bias/.test(t.name ?? '') && !/scale|zero_point/.test(t.name ?? '')).map((t) => t.dataType);
  assert.deepEqual([...new Set(types)].sort(), [DataType.int8, DataType.int32].sort());

  const options = { intraOpNumThreads: 1, logSeverityLevel: 3 as const };
  const fp32 = await ort.InferenceSession.create(bytes, options);
  const int8 = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), options);
  let worstCosine = 1;
  let differs = false;
  for (let i = 0; i < 8; i++) {
    const feed = { x: randomInput(rng) };
    const a = (await fp32.run(feed)).y.data as Float32Array;
    const b = (await int8.run(feed)).y.data as Float32Array;
    let dot = 0, na = 0, nb = 0;
    for (let k = 0; k < a.length; k++) {
      dot += a[k] * b[k];
      na += a[k] * a[k];
      nb += b[k] * b[k];
      if (a[k] !== b[k]) differs = true;
    }
    worstCosine = Math.min(worstCosine, dot / Math.sqrt(na * nb));
  }
  // 8-bit activations and weights through 4 layers: ~1% relative error per value, cosine >= 0.995.
  assert.ok(worstCosine >= 0.995, `cosine ${worstCosine}`);
  assert.ok(differs, 'the int8 graph should not compute exactly what fp32 does');
  await fp32.release();
  await int8.release();
});

test('a tensor without a calibration range is refused', () => {
  const model = onnx.ModelProto.decode(residualNet(new SeededRandom(1)));
  assert.throws(() => insertQdq(model, new Map()), /no calibration range for activation/);
});
