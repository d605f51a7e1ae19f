/**
 * int8 variants of an exported model's image encoder side by side (issue 13, goal 2): for each
 * calibration method (activation ranges) and each part of the ResNet kept in float32, the batch-1
 * speed-up over fp32 (interleaved runs, same threads) and the agreement with fp32 over every photo
 * of the dataset: embedding cosine, same ingredient set (p >= 0.5), and whether the labels that flip
 * are ones fp32 itself puts within 0.02 of the cut. Variants are built in memory with the shipped
 * qdq-graph code; nothing is written to the model folder. Writes bench-results/quantize-variants.json.
 *
 *   node dist/scripts/bench-quantize-variants.js [--model models/demo] [--dataset index-data/demo]
 *     [--variants minmax:none,minmax:stage5,...] [--reps 20] [--threads N]
 *
 * Calibration: every photo of the train split's folder (105 in the demo; `quantize` takes each recipe's
 * first, 89), so minmax:none is close to, not exactly, the shipped int8 graph. Methods: minmax (the extremes over
 * every photo), mean-minmax (the mean of each photo's extremes), p99.99 / p99.999 (percentiles of
 * the values, subsampled). Kept float: none, block5c (the last bottleneck block), stage5 (layer4).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { loadTestCrop } from '../src/data/images/index.js';
import { EMBEDDING_OUTPUT, IMAGE_INPUT, IMAGE_SIZE, LOGITS_OUTPUT } from '../src/model-format/io-spec.js';
import { onnx, type OnnxTypes } from '../src/onnx/proto.js';
import { insertQdq, quantizationTargets, type ActivationRange } from '../src/quantize/qdq-graph.js';
import { threadOptions } from '../src/runtime/session-factory.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';
import { cosine, photoFiles } from './quantize-compare.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/demo' },
    dataset: { type: 'string', default: 'index-data/demo' },
    variants: { type: 'string', default: 'minmax:none,minmax:block5c,minmax:stage5,mean-minmax:none,p99.99:none,p99.999:none' },
    reps: { type: 'string', default: '20' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    out: { type: 'string', default: fromRoot('bench-results', 'quantize-variants.json') },
  },
});
const FENCE = 0.02;
const log = (line: string) => process.stderr.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

const sourceFile = path.join(values.model, 'image_encoder.onnx');
const sourceBytes = await fs.readFile(sourceFile);
const decodeModel = () => onnx.ModelProto.decode(sourceBytes);
const photos = await photoFiles(path.join(values.dataset, 'images'));
const calibration = photos.filter((p) => p.includes(`${path.sep}train${path.sep}`));
const crops = new Map<string, Uint8Array>();
for (const p of photos) crops.set(p, (await loadTestCrop(p)).data);
const feed = (p: string) => ({ [IMAGE_INPUT]: new ort.Tensor('uint8', crops.get(p)!, [1, IMAGE_SIZE, IMAGE_SIZE, 3]) });
const loadBefore = os.loadavg().map((v) => Number(v.toFixed(2)));

// One calibration pass: each photo's extremes per activation, and a subsample of its values for percentiles.
const base = decodeModel();
const targets = quantizationTargets(base.graph!);
const instrumented = onnx.ModelProto.create({
  ...base,
  graph: { ...base.graph, output: [...(base.graph!.output ?? []), ...targets.map((name) => ({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }))] },
});
const calibrator = await ort.InferenceSession.create(onnx.ModelProto.encode(instrumented).finish(), { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
const seen = new Map(targets.map((t) => [t, { lo: [] as number[], hi: [] as number[], sample: [] as number[] }]));
for (const [i, p] of calibration.entries()) {
  const out = await calibrator.run(feed(p), targets);
  for (const t of targets) {
    const data = out[t].data as Float32Array;
    const s = seen.get(t)!;
    let lo = Infinity, hi = -Infinity;
    for (let k = 0; k < data.length; k++) {
      if (data[k] < lo) lo = data[k];
      if (data[k] > hi) hi = data[k];
    }
    s.lo.push(lo);
    s.hi.push(hi);
    const stride = Math.max(1, Math.floor(data.length / 20_000));
    for (let k = 0; k < data.length; k += stride) s.sample.push(data[k]);
  }
  if ((i + 1) % 30 === 0) log(`calibration ${i + 1}/${calibration.length}`);
}
await calibrator.release();

function ranges(method: string): Map<string, ActivationRange> {
  return new Map(targets.map((t) => {
    const s = seen.get(t)!;
    const lo = Math.min(...s.lo);
    const hi = Math.max(...s.hi);
    if (method === 'minmax') return [t, { min: lo, max: hi }];
    if (method === 'mean-minmax') return [t, { min: s.lo.reduce((a, b) => a + b, 0) / s.lo.length, max: s.hi.reduce((a, b) => a + b, 0) / s.hi.length }];
    const pct = /^p([\d.]+)$/.exec(method);
    if (!pct) throw new Error(`unknown calibration method ${method}`);
    const sorted = Float32Array.from(s.sample).sort();
    const q = (x: number) => sorted[Math.min(sorted.length - 1, Math.floor(x * (sorted.length - 1)))];
    const p = Number(pct[1]) / 100;
    return [t, { min: lo >= 0 ? 0 : q(1 - p), max: q(p) }];
  }));
}

const producer = new Map<string, OnnxTypes.INodeProto>();
for (const n of base.graph!.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
const fromStage5 = (n: OnnxTypes.INodeProto) => (n.input ?? []).some((i) => (producer.get(i)?.name ?? '').startsWith('bn5'));
const keepFloat: Record<string, (n: OnnxTypes.INodeProto) => boolean> = {
  none: () => false,
  block5c: (n) => (n.name ?? '').startsWith('bn5c') || (n.opType === 'Add' && (n.input ?? []).some((i) => (producer.get(i)?.name ?? '').startsWith('bn5c'))),
  stage5: (n) => (n.name ?? '').startsWith('bn5') || (n.opType === 'Add' && fromStage5(n)),
};

// The server's thread options (no spin-waiting: a spinning idle session slows the one running beside it).
const options: ort.InferenceSession.SessionOptions = { ...threadOptions({ intraOp: Number(values.threads) }), executionProviders: ['cpu'], logSeverityLevel: 3 };
const fp32 = await ort.InferenceSession.create(sourceFile, options);
const reference = new Map<string, { embedding: Float32Array; logits: Float32Array }>();
for (const p of photos) {
  const out = await fp32.run(feed(p));
  reference.set(p, { embedding: (out[EMBEDDING_OUTPUT].data as Float32Array).slice(), logits: (out[LOGITS_OUTPUT].data as Float32Array).slice() });
}
const onFence = photos.filter((p) => Array.from(reference.get(p)!.logits).some((v) => Math.abs(sigmoid(v) - 0.5) <= FENCE)).length;

const rows = [];
for (const variant of values.variants!.split(',')) {
  const [method, kept] = variant.split(':');
  if (!keepFloat[kept]) throw new Error(`unknown kept-float part ${kept} (none, block5c, stage5)`);
  const model = decodeModel();
  const nodes = insertQdq(model, ranges(method), keepFloat[kept]);
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), options);
  let same = 0, sameOffFence = 0, flipped = 0, flippedOffFence = 0, cosSum = 0, cosMin = 1;
  for (const p of photos) {
    const out = await session.run(feed(p));
    const ref = reference.get(p)!;
    const logits = out[LOGITS_OUTPUT].data as Float32Array;
    const c = cosine(ref.embedding, out[EMBEDDING_OUTPUT].data as Float32Array);
    cosSum += c;
    cosMin = Math.min(cosMin, c);
    let flips = 0, offFence = 0;
    for (let i = 0; i < logits.length; i++) {
      if ((logits[i] >= 0) === (ref.logits[i] >= 0)) continue;
      flips++;
      if (Math.abs(sigmoid(ref.logits[i]) - 0.5) > FENCE) offFence++;
    }
    if (flips === 0) same++;
    if (offFence === 0) sameOffFence++;
    flipped += flips;
    flippedOffFence += offFence;
  }
  // Latency: fp32 and this variant interleaved on one photo, so the shared machine's load hits both alike.
  const f = feed(photos[0]);
  for (let i = 0; i < 3; i++) { await fp32.run(f); await session.run(f); }
  const tf: number[] = [], tq: number[] = [];
  for (let i = 0; i < Number(values.reps); i++) {
    let t = performance.now();
    await fp32.run(f);
    tf.push(performance.now() - t);
    t = performance.now();
    await session.run(f);
    tq.push(performance.now() - t);
  }
  const row = {
    variant, method, keptFloat: kept, quantized: nodes,
    sameIngredientSet: same / photos.length, sameIngredientSetOffFence: sameOffFence / photos.length,
    flippedLabels: flipped, flippedLabelsOffFence: flippedOffFence,
    cosineMean: cosSum / photos.length, cosineMin: cosMin,
    fp32MedianMs: median(tf), int8MedianMs: median(tq), speedup: median(tf) / median(tq), load1m: Number(os.loadavg()[0].toFixed(2)),
  };
  rows.push(row);
  log(`${variant.padEnd(20)} same set ${(100 * row.sameIngredientSet).toFixed(1)}% (off the fence ${(100 * row.sameIngredientSetOffFence).toFixed(1)}%), `
    + `${flipped} flipped labels (${flippedOffFence} off the fence), cosine ${row.cosineMean.toFixed(4)} / min ${row.cosineMin.toFixed(4)}, speed-up x${row.speedup.toFixed(2)} (load ${row.load1m})`);
  await session.release();
}
await fp32.release();
const result = {
  date: new Date().toISOString(),
  machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), node: process.version, loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg().map((v) => Number(v.toFixed(2))) },
  model: values.model, photos: photos.length, calibrationPhotos: calibration.length, threads: Number(values.threads), reps: Number(values.reps),
  fence: FENCE, photosWithALabelOnFence: onFence,
  goals: { speedup: 1.8, sameIngredientSet: 0.95, cosineMean: 0.99, cosineMin: 0.98 },
  variants: rows,
};
await writeFileAtomic(values.out!, `${JSON.stringify(result, null, 2)}\n`);
console.log(`${onFence} of ${photos.length} photos have an ingredient that fp32 puts within ${FENCE} of the 0.5 cut`);
console.log('variant               speed-up  same set  off fence  flipped (off fence)  cosine mean/min');
for (const r of rows) {
  console.log(`${r.variant.padEnd(21)} ${('x' + r.speedup.toFixed(2)).padStart(8)} ${(100 * r.sameIngredientSet).toFixed(1).padStart(8)}% ${(100 * r.sameIngredientSetOffFence).toFixed(1).padStart(9)}% ${String(r.flippedLabels).padStart(8)} (${r.flippedLabelsOffFence})${' '.repeat(8)}${r.cosineMean.toFixed(4)}/${r.cosineMin.toFixed(4)}`);
}
log(`wrote ${values.out}`);
