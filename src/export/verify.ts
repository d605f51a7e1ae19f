import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../data/images/index.js';
import { batchRecipes } from '../data/text/batch.js';
import type { EncodedRecipe } from '../data/text/encode.js';
import { loadVocabulary } from '../data/text/vocabulary.js';
import { selectBackend, type BackendRequest } from '../tf/backend.js';
import { DataFileError, UserError } from '../util/errors.js';
import { fromRoot } from '../util/paths.js';
import { buildImageHeadModel } from './image-graph.js';
import { DEBIASED_OUTPUT, EMBEDDING_OUTPUT, LOGITS_OUTPUT, VOCAB_FILE } from '../model-format/io-spec.js';
import { checkManifestFiles, readExportManifest, type ExportManifest } from '../model-format/manifest.js';
import { debiasSetup, exportParamsOf, paramStoreOf, type DebiasSetup } from './model-weights.js';
import { openSession, runImageEncoder, runImageHead, runRecipeEncoder } from './onnx-run.js';
import { keptLabelCounts, PARITY_TOLERANCE, relativeError, rowsNotIdentical, type ParityRow } from './parity.js';
import { overrideParams, tfBackboneFeatures, TfReference, type ImageHeadResult } from './tfjs-reference.js';
import { disposeTrainedModel, loadTrainedModel, type TrainedModel } from './trained-model.js';
import {
  edgeCaseRecipes, fillTo, imageBatch, loadSplitInputs, randomFeatureMaps, randomRecipes, widenSingleIdLines,
} from './verify-cases.js';

/**
 * verify-export: run the exported ONNX files (onnxruntime-node, CPU) and the TF.js model of the
 * run they came from on the same inputs, output by output: max |onnx - tfjs| / max |tfjs| must
 * stay within the tolerance. Also checks, bit for bit, that debiasing leaves e_I unchanged where
 * no label reaches 0.5, on real inputs and on variants of the head whose logit biases force
 * "no label kept" and "several labels kept".
 */

export interface VerifyOptions {
  modelDir: string;
  runDir: string;
  /** Dataset in the Recipe1M layout for real recipes and photos (default: the demo dataset). */
  datasetRoot?: string;
  split?: string;
  batchSizes?: number[];
  backend?: BackendRequest;
  tolerance?: number;
  log?: (line: string) => void;
}

export interface ExactCheck {
  name: string;
  passed: boolean;
  detail: string;
}

export interface VerifyReport {
  modelDir: string;
  runDir: string;
  tolerance: number;
  debiasActive: boolean;
  rows: ParityRow[];
  exact: ExactCheck[];
  /** Worst relative error per model file and output. */
  worst: Record<string, number>;
  passed: boolean;
  seconds: number;
}

const ROW_LENGTH_2048 = 7 * 7 * 2048;
/** Added to fc.b to force a label's logit far below / above 0 (sigmoid saturates to exactly 0 / 1). */
const FORCE_LOGIT = 1e4;
/** How many labels the "several kept" variant forces on. */
const FORCED_ON = 3;

class Verifier {
  readonly rows: ParityRow[] = [];
  readonly exact: ExactCheck[] = [];

  constructor(readonly tolerance: number, readonly log: (line: string) => void) {}

  compare(model: string, caseName: string, batch: number, output: string, actual: ArrayLike<number>, expected: ArrayLike<number>): void {
    const row = { model, case: caseName, batch, output, ...relativeError(actual, expected) };
    this.rows.push(row);
    if (!(row.relError <= this.tolerance)) this.log(`  FAIL ${model} ${caseName} (batch ${batch}) ${output}: ${row.relError.toExponential(2)}`);
  }

  compareImage(model: string, caseName: string, batch: number, actual: ImageHeadResult, expected: ImageHeadResult): void {
    this.compare(model, caseName, batch, EMBEDDING_OUTPUT, actual.embedding, expected.embedding);
    this.compare(model, caseName, batch, LOGITS_OUTPUT, actual.logits, expected.logits);
    this.compare(model, caseName, batch, DEBIASED_OUTPUT, actual.debiased, expected.debiased);
  }

  check(name: string, passed: boolean, detail: string): void {
    this.exact.push({ name, passed, detail });
    if (!passed) this.log(`  FAIL ${name}: ${detail}`);
  }

  /** ẽ_I must be e_I, bit for bit, on rows where no label is kept (all rows when debiasing is off). */
  checkUnchangedWhereNoneKept(name: string, out: ImageHeadResult, labels: number, width: number, debiasActive: boolean): void {
    const counts = keptLabelCounts(out.logits, labels);
    const rows = debiasActive ? counts.flatMap((c, i) => (c === 0 ? [i] : [])) : counts.map((_, i) => i);
    const differing = rowsNotIdentical(out.debiased, out.embedding, width, rows);
    const kept = `rows with 0 / 1 / >=2 labels kept: ${counts.filter((c) => c === 0).length} / ${counts.filter((c) => c === 1).length} / ${counts.filter((c) => c >= 2).length}`;
    this.check(`${name}: debiased = embedding where ${debiasActive ? 'no label is kept' : 'debiasing is off'}`, differing.length === 0,
      differing.length === 0 ? `${rows.length ? `${rows.length} row(s) identical` : 'no row to check'}; ${kept}` : `rows ${differing.slice(0, 5).join(', ')} differ; ${kept}`);
  }
}

async function verifyRecipes(v: Verifier, manifest: ExportManifest, modelDir: string, ref: TfReference, real: EncodedRecipe[], vocabSize: number, batchSizes: number[]): Promise<void> {
  const file = manifest.models.recipeEncoder.file;
  const session = await openSession(path.join(modelDir, file));
  const maxBatch = Math.max(...batchSizes);
  const randoms = randomRecipes(maxBatch, vocabSize, 11);
  const edges = edgeCaseRecipes(vocabSize, 12);
  const run = async (caseName: string, recipes: EncodedRecipe[]): Promise<void> => {
    const batch = batchRecipes(recipes);
    v.compare(file, caseName, recipes.length, EMBEDDING_OUTPUT, await runRecipeEncoder(session, batch), ref.recipes(widenSingleIdLines(batch)));
  };
  for (const b of batchSizes) {
    if (real.length) await run('real recipes', fillTo(real, randoms, b));
    await run('random recipes', randoms.slice(0, b));
    if (b > 1) await run('edge cases + random', fillTo(edges.map((e) => e.recipe), randoms, b));
  }
  for (const edge of edges) await run(`edge: ${edge.name}`, [edge.recipe]);
  await session.release();
}

interface ImageContext {
  model: TrainedModel;
  ref: TfReference;
  debias: DebiasSetup;
  batchSizes: number[];
}

async function verifyImageEncoder(v: Verifier, c: ImageContext, manifest: ExportManifest, modelDir: string, photos: RgbImage[]): Promise<Float32Array> {
  const file = manifest.models.imageEncoder!.file;
  const maxBatch = Math.max(...c.batchSizes);
  const crops = imageBatch(photos, maxBatch, 13);
  v.log(`  TF.js backbone on ${crops.length} crops (${photos.length} photos)`);
  const features = await tfBackboneFeatures(crops);
  const session = await openSession(path.join(modelDir, file));
  for (const b of c.batchSizes) {
    const out = await runImageEncoder(session, crops.slice(0, b));
    v.compareImage(file, photos.length ? 'real photos' : 'noise images', b, out, c.ref.imageHead(features.subarray(0, b * ROW_LENGTH_2048), b));
    v.checkUnchangedWhereNoneKept(`${file} batch ${b}`, out, c.model.config.classifier.labels, c.model.config.embeddingDim, c.debias.active);
  }
  await session.release();
  return features;
}

async function verifyImageHead(v: Verifier, c: ImageContext, manifest: ExportManifest, modelDir: string, realMaps?: Float32Array): Promise<void> {
  const file = manifest.models.imageHead!.file;
  const { config } = c.model;
  const maxBatch = Math.max(...c.batchSizes);
  const session = await openSession(path.join(modelDir, file));
  const sets: Array<[string, Float32Array]> = [['random maps', randomFeatureMaps(maxBatch, config.backboneChannels, 14)]];
  if (realMaps && config.backboneChannels === 2048) sets.push(['real photo maps', realMaps]);
  const rowLength = 49 * config.backboneChannels;
  for (const [caseName, maps] of sets) {
    for (const b of c.batchSizes) {
      const input = maps.slice(0, b * rowLength);
      const out = await runImageHead(session, input, b, config.backboneChannels);
      v.compareImage(file, caseName, b, out, c.ref.imageHead(input, b));
      v.checkUnchangedWhereNoneKept(`${file} ${caseName} batch ${b}`, out, config.classifier.labels, config.embeddingDim, c.debias.active);
    }
  }
  await session.release();
}

/**
 * The debias graph in both regimes, on head variants built by the exporter from the run with fc.b
 * pushed to -1e4 everywhere (no label kept) or +1e4 on the first labels (several kept).
 */
async function verifyDebiasRegimes(v: Verifier, c: ImageContext, maps: Float32Array): Promise<void> {
  const { config } = c.model;
  const labels = config.classifier.labels;
  const rowLength = 49 * config.backboneChannels;
  const base = c.model.params.get('fc.b')!.dataSync() as Float32Array;
  const want = Math.min(FORCED_ON, labels);
  const variants: Array<[string, Float32Array]> = [
    ['no label kept (fc.b - 1e4)', base.map((x) => x - FORCE_LOGIT)],
    [`labels 0..${want - 1} kept (fc.b + 1e4)`, base.map((x, k) => (k < FORCED_ON ? x + FORCE_LOGIT : x))],
  ];
  for (const [name, bias] of variants) {
    const forced = new Map([['fc.b', { data: bias, dims: [1, labels] }]]);
    const bytes = buildImageHeadModel(exportParamsOf(c.model, forced), config, { projectedDictionary: c.debias.projectedDictionary });
    const session = await openSession(bytes);
    const biasTensor = tf.tensor2d(bias, [1, labels]);
    const ref = c.ref.withParams(overrideParams(c.ref.params, new Map([['fc.b', biasTensor]])));
    for (const n of c.batchSizes) {
      const input = maps.slice(0, n * rowLength);
      const out = await runImageHead(session, input, n, config.backboneChannels);
      v.compareImage('image head variant', name, n, out, ref.imageHead(input, n));
      const counts = keptLabelCounts(out.logits, labels);
      const unchanged = n - rowsNotIdentical(out.debiased, out.embedding, config.embeddingDim).length;
      if (name.startsWith('no label')) {
        v.check(`${name}, batch ${n}: debiased = embedding on every row`, counts.every((k) => k === 0) && unchanged === n,
          `${counts.filter((k) => k > 0).length} row(s) kept a label; ${n - unchanged} row(s) differ`);
      } else {
        // With debiasing on every row must move; off, none may.
        const expectUnchanged = c.debias.active ? 0 : n;
        v.check(`${name}, batch ${n}: every row keeps >= ${want} labels and ${c.debias.active ? 'is shifted' : 'debiased = embedding (debiasing off)'}`,
          counts.every((k) => k >= want) && unchanged === expectUnchanged,
          `kept counts ${Math.min(...counts)}..${Math.max(...counts)}; ${unchanged} of ${n} row(s) unshifted`);
      }
    }
    biasTensor.dispose();
    await session.release();
  }
}

export async function verifyExport(opts: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const tolerance = opts.tolerance ?? PARITY_TOLERANCE;
  const batchSizes = opts.batchSizes ?? [1, 64];
  if (batchSizes.length === 0 || batchSizes.some((b) => !Number.isInteger(b) || b < 1)) throw new UserError('batch sizes must be positive integers');
  const modelDir = path.resolve(opts.modelDir);
  const manifest = await readExportManifest(modelDir);
  await checkManifestFiles(modelDir, manifest);
  const model = await loadTrainedModel(opts.runDir);
  try {
    if (model.checkpointSha256 !== manifest.source.checkpointSha256) {
      throw new DataFileError(path.join(modelDir, 'manifest.json'),
        `was exported from checkpoint ${manifest.source.checkpointSha256.slice(0, 12)}..., but ${model.checkpointDir} holds ${model.checkpointSha256.slice(0, 12)}...`);
    }
    await selectBackend(opts.backend ?? 'wasm', log);
    const store = paramStoreOf(model);
    try {
      const debias = debiasSetup(model, store);
      if (debias.active !== manifest.debias.active) throw new DataFileError(path.join(modelDir, 'manifest.json'), `says debiasing ${manifest.debias.active ? 'on' : 'off'}, the run implies ${debias.active ? 'on' : 'off'}`);
      const ref = new TfReference(store, model.config, debias.active ? model.dictionary : undefined);
      const v = new Verifier(tolerance, log);
      // Real recipes are encoded with the run's vocabulary, which must be the one the export ships.
      if (model.vocabSha256 !== manifest.vocabulary.sha256) {
        throw new DataFileError(model.vocabFile, `differs from the vocabulary ${path.join(modelDir, VOCAB_FILE)} was exported with`);
      }
      const vocab = await loadVocabulary(model.vocabFile);
      const maxBatch = Math.max(...batchSizes);
      const inputs = await loadSplitInputs(opts.datasetRoot ?? fromRoot('index-data', 'demo'), opts.split ?? 'test', vocab, {
        photos: manifest.models.imageEncoder ? maxBatch : 0,
      });
      log(`recipe encoder: ${inputs.recipes.length} real recipes, random ones and edge cases`);
      await verifyRecipes(v, manifest, modelDir, ref, inputs.recipes, vocab.size, batchSizes);
      const c: ImageContext = { model, ref, debias, batchSizes };
      let realMaps: Float32Array | undefined;
      if (manifest.models.imageEncoder) {
        log('image encoder (backbone composed)');
        realMaps = await verifyImageEncoder(v, c, manifest, modelDir, inputs.crops);
      }
      if (manifest.models.imageHead) {
        log('image head');
        await verifyImageHead(v, c, manifest, modelDir, realMaps);
      }
      log('debias regimes');
      const regimeMaps = realMaps && model.config.backboneChannels === 2048 ? realMaps : randomFeatureMaps(maxBatch, model.config.backboneChannels, 15);
      await verifyDebiasRegimes(v, c, regimeMaps);

      const worst: Record<string, number> = {};
      for (const row of v.rows) {
        const key = `${row.model} ${row.output}`;
        worst[key] = Math.max(worst[key] ?? 0, row.relError);
      }
      const passed = v.rows.every((r) => r.relError <= tolerance) && v.exact.every((e) => e.passed);
      return {
        modelDir, runDir: model.runDir, tolerance, debiasActive: debias.active, rows: v.rows, exact: v.exact, worst, passed,
        seconds: (performance.now() - started) / 1000,
      };
    } finally {
      store.dispose();
    }
  } finally {
    disposeTrainedModel(model);
  }
}

/** The report as text: worst error per file and output, the exact checks, and the verdict. */
export function formatVerifyReport(r: VerifyReport): string {
  const lines = [`verify-export ${r.modelDir} against ${r.runDir} (debiasing ${r.debiasActive ? 'on' : 'off'})`,
    'max |onnx - tfjs| / max |tfjs| over all cases (batch sizes ' + [...new Set(r.rows.map((x) => x.batch))].join(', ') + '):'];
  for (const [key, err] of Object.entries(r.worst)) {
    const cases = r.rows.filter((x) => `${x.model} ${x.output}` === key).length;
    lines.push(`  ${key.padEnd(48)} ${err.toExponential(2)}  (${cases} checks)${err <= r.tolerance ? '' : '  FAIL'}`);
  }
  for (const e of r.exact) lines.push(`  ${e.passed ? 'ok  ' : 'FAIL'} ${e.name}: ${e.detail}`);
  lines.push(`${r.passed ? 'PASS' : 'FAIL'}: tolerance ${r.tolerance}, ${r.rows.length} output comparisons, ${r.exact.length} exact checks, ${r.seconds.toFixed(1)} s`);
  return lines.join('\n');
}
