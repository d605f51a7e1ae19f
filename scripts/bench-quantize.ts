/**
 * int8 vs fp32 image encoder of an exported model (after `recipe-retrieval quantize`), side by side
 * in one process: batch-1 latency (median of interleaved runs, same threads), embedding cosine with
 * fp32, the predicted ingredient set (probability >= 0.5) and top-10 retrieval overlap on an index
 * (debiased embeddings, as the server searches), over every photo of the dataset. Calibration used
 * the train split: the other splits' photos were never seen by it. For scale, the same accuracy figures
 * for fp32 against itself on each photo re-encoded as a quality-95 JPEG (an imperceptible change, as a
 * messaging app makes): how much of int8's disagreement any small change of input would cause.
 * Writes bench-results/quantize.json.
 *
 *   node dist/scripts/bench-quantize.js [--model models/demo] [--dataset index-data/demo]
 *                                       [--index index-data/demo-index] [--threads N] [--reps 30]
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { promises as fs } from 'node:fs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { loadTestCrop } from '../src/data/images/index.js';
import { DEBIASED_OUTPUT, EMBEDDING_OUTPUT, IMAGE_INPUT, IMAGE_SIZE, LOGITS_OUTPUT } from '../src/model-format/io-spec.js';
import { loadRecipeIndex } from '../src/index/store.js';
import { openExportedModel } from '../src/model-format/exported-model.js';
import { createSession } from '../src/runtime/session-factory.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';
import { cosine, photoFiles } from './quantize-compare.js';

const labelSet = (logits: Float32Array) => Array.from(logits, (v) => (v >= 0 ? '1' : '0')).join('');
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
/** Probabilities this close to the 0.5 cut are "on the fence": a rounding error of that size flips them. */
const FENCE = 0.02;

/** How int8 changes one photo's ingredient labels: flips, how far from the cut fp32 had them, and |delta p|. */
function labelChanges(fp32: Float32Array, int8: Float32Array) {
  let flips = 0;
  let flipsOffFence = 0;
  let onFence = 0;
  let closest = Infinity;
  let sumDelta = 0;
  let maxDelta = 0;
  for (let i = 0; i < fp32.length; i++) {
    const p = sigmoid(fp32[i]);
    const q = sigmoid(int8[i]);
    const margin = Math.abs(p - 0.5);
    closest = Math.min(closest, margin);
    if (margin <= FENCE) onFence++;
    if ((fp32[i] >= 0) !== (int8[i] >= 0)) {
      flips++;
      if (margin > FENCE) flipsOffFence++;
    }
    sumDelta += Math.abs(p - q);
    maxDelta = Math.max(maxDelta, Math.abs(p - q));
  }
  return { flips, flipsOffFence, onFence, closest, meanDelta: sumDelta / fp32.length, maxDelta };
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** How far one encoder's outputs agree with another's over the photos (int8 vs fp32, or fp32 vs itself on re-encoded photos). */
function agreement(rows: { cosine: number; sameLabels: boolean; top10Overlap: number }[]) {
  return {
    cosineMean: rows.reduce((s, r) => s + r.cosine, 0) / rows.length,
    cosineMin: Math.min(...rows.map((r) => r.cosine)),
    sameIngredientSet: rows.filter((r) => r.sameLabels).length / rows.length,
    top10OverlapMean: rows.reduce((s, r) => s + r.top10Overlap, 0) / rows.length,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'models/demo' },
      dataset: { type: 'string', default: 'index-data/demo' },
      index: { type: 'string', default: 'index-data/demo-index' },
      threads: { type: 'string', default: String(os.availableParallelism()) },
      reps: { type: 'string', default: '30' },
      out: { type: 'string', default: fromRoot('bench-results', 'quantize.json') },
    },
  });
  const threads = Number(values.threads);
  const reps = Number(values.reps);
  const loadBefore = os.loadavg();
  console.log(`bench-quantize: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, node ${process.version}, load ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, ${threads} threads`);
  const fp32 = await openExportedModel(values.model);
  const int8 = await openExportedModel(values.model, { precision: 'int8' });
  // Sessions made as the server's workers make theirs (no spin-waiting threads: with spinning, each
  // session's idle threads spun through the other's runs here and slowed both).
  const open = async (file: string) => (await createSession(file, 'cpu', { intraOp: threads })).session;
  const sessions = { fp32: await open(fp32.imageEncoderPath!), int8: await open(int8.imageEncoderPath!) };
  const index = (await loadRecipeIndex(values.index)).index;

  const photos = await photoFiles(path.join(values.dataset, 'images'));
  const perPhoto: { photo: string; cosine: number; sameLabels: boolean; top10Overlap: number; labels: ReturnType<typeof labelChanges> }[] = [];
  const reencoded: { cosine: number; sameLabels: boolean; top10Overlap: number }[] = [];
  const feedOf = async (photo: string | Buffer) => ({ [IMAGE_INPUT]: new ort.Tensor('uint8', (await loadTestCrop(photo)).data, [1, IMAGE_SIZE, IMAGE_SIZE, 3]) });
  const top = (out: ort.InferenceSession.OnnxValueMapType) => new Set(index.search(out[DEBIASED_OUTPUT].data as Float32Array, { k: 10 }).map((h) => h.id));
  const compare = (a: ort.InferenceSession.OnnxValueMapType, b: ort.InferenceSession.OnnxValueMapType) => {
    const [ta, tb] = [top(a), top(b)];
    return {
      cosine: cosine(a[EMBEDDING_OUTPUT].data as Float32Array, b[EMBEDDING_OUTPUT].data as Float32Array),
      sameLabels: labelSet(a[LOGITS_OUTPUT].data as Float32Array) === labelSet(b[LOGITS_OUTPUT].data as Float32Array),
      top10Overlap: [...ta].filter((id) => tb.has(id)).length / ta.size,
    };
  };
  for (const photo of photos) {
    const feed = await feedOf(photo);
    const a = await sessions.fp32.run(feed);
    const b = await sessions.int8.run(feed);
    perPhoto.push({
      photo: path.relative(values.dataset, photo),
      ...compare(a, b),
      labels: labelChanges(a[LOGITS_OUTPUT].data as Float32Array, b[LOGITS_OUTPUT].data as Float32Array),
    });
    // rotate(): the EXIF orientation applied, since the re-encoded file carries no EXIF.
    const jpeg95 = await sharp(await fs.readFile(photo)).rotate().jpeg({ quality: 95 }).toBuffer();
    reencoded.push(compare(a, await sessions.fp32.run(await feedOf(jpeg95))));
  }
  const accuracy = { photos: perPhoto.length, ...agreement(perPhoto) };
  const reference = { change: 'fp32 on the photo vs fp32 on it re-encoded as JPEG quality 95 (sharp, orientation applied)', ...agreement(reencoded) };
  // Why sets change: are the flipped labels ones fp32 itself had on the fence (|p - 0.5| <= FENCE)?
  const changed = perPhoto.filter((p) => !p.sameLabels);
  const deltas = perPhoto.map((p) => p.labels.maxDelta).sort((a, b) => a - b);
  const labelFlips = {
    fence: FENCE,
    photosChanged: changed.length,
    photosChangedOnlyOnFence: changed.filter((p) => p.labels.flipsOffFence === 0).length,
    flippedLabels: changed.reduce((s, p) => s + p.labels.flips, 0),
    flippedLabelsOffFence: changed.reduce((s, p) => s + p.labels.flipsOffFence, 0),
    photosWithALabelOnFence: perPhoto.filter((p) => p.labels.onFence > 0).length,
    // Agreement counting only the labels fp32 puts more than FENCE from the cut.
    sameIngredientSetOffFence: perPhoto.filter((p) => p.labels.flipsOffFence === 0).length / perPhoto.length,
    medianClosestMargin: median(perPhoto.map((p) => p.labels.closest)),
    meanAbsDeltaP: perPhoto.reduce((s, p) => s + p.labels.meanDelta, 0) / perPhoto.length,
    medianMaxAbsDeltaP: median(deltas),
  };
  console.log(`accuracy over ${accuracy.photos} photos: cosine mean ${accuracy.cosineMean.toFixed(4)} (goal >= 0.99), min ${accuracy.cosineMin.toFixed(4)} (>= 0.98); same ingredient set ${(100 * accuracy.sameIngredientSet).toFixed(1)}% (>= 95%); top-10 overlap ${accuracy.top10OverlapMean.toFixed(3)} (>= 0.9)`);

  console.log(`for scale, fp32 against itself on each photo re-encoded as JPEG q95: cosine mean ${reference.cosineMean.toFixed(4)}, min ${reference.cosineMin.toFixed(4)}; `
    + `same ingredient set ${(100 * reference.sameIngredientSet).toFixed(1)}%; top-10 overlap ${reference.top10OverlapMean.toFixed(3)}`);
  console.log(`label flips: ${labelFlips.photosChanged} photos change their set, ${labelFlips.photosChangedOnlyOnFence} of them only in labels fp32 has within ${FENCE} of 0.5 `
    + `(${labelFlips.flippedLabelsOffFence} of ${labelFlips.flippedLabels} flipped labels are further); ${labelFlips.photosWithALabelOnFence} of ${perPhoto.length} photos have a label that close in fp32 `
    + `(median closest ${labelFlips.medianClosestMargin.toFixed(4)}), while int8 moves each photo's probabilities by up to ${labelFlips.medianMaxAbsDeltaP.toFixed(4)} (median); `
    + `same set off the fence ${(100 * labelFlips.sameIngredientSetOffFence).toFixed(1)}%`);

  // Latency: fp32 and int8 runs interleaved on the same photo, so load changes hit both alike.
  const crop = await loadTestCrop(photos[0]);
  const feed = { [IMAGE_INPUT]: new ort.Tensor('uint8', crop.data, [1, IMAGE_SIZE, IMAGE_SIZE, 3]) };
  for (let i = 0; i < 3; i++) {
    await sessions.fp32.run(feed);
    await sessions.int8.run(feed);
  }
  const times = { fp32: [] as number[], int8: [] as number[] };
  for (let i = 0; i < reps; i++) {
    for (const which of ['fp32', 'int8'] as const) {
      const t = performance.now();
      await sessions[which].run(feed);
      times[which].push(performance.now() - t);
    }
  }
  const latency = { fp32MedianMs: median(times.fp32), int8MedianMs: median(times.int8), fp32MinMs: Math.min(...times.fp32), int8MinMs: Math.min(...times.int8) };
  const speedup = latency.fp32MedianMs / latency.int8MedianMs;
  console.log(`batch 1: fp32 ${latency.fp32MedianMs.toFixed(1)} ms, int8 ${latency.int8MedianMs.toFixed(1)} ms (medians of ${reps}); speed-up x${speedup.toFixed(2)} (goal >= 1.8); best runs ${latency.fp32MinMs.toFixed(1)} / ${latency.int8MinMs.toFixed(1)} ms`);

  const manifest = int8.manifest as typeof int8.manifest & { quantized?: { int8?: unknown } };
  const report = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg() },
    model: values.model,
    quantized: manifest.quantized?.int8,
    threads,
    latency: { ...latency, reps, speedup, goal: 1.8 },
    accuracy: { ...accuracy, goals: { cosineMean: 0.99, cosineMin: 0.98, sameIngredientSet: 0.95, top10OverlapMean: 0.9 } },
    labelFlips,
    reencodedReference: reference,
    worstPhotos: [...perPhoto].sort((a, b) => a.cosine - b.cosine).slice(0, 5).map(({ labels: _labels, ...p }) => p),
  };
  await writeFileAtomic(values.out, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${values.out}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
