import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readIng2Label } from '../data/label-files.js';
import { loadVocabulary } from '../data/text/vocabulary.js';
import { ExportParams, isTrainingOnlyParam } from '../export/export-params.js';
import { IMAGE_ENCODER_FILE, LABELS_FILE, MANIFEST_FILE, RECIPE_ENCODER_FILE, VOCAB_FILE } from '../model-format/io-spec.js';
import { fileRecord, type FileRecord } from '../model-format/manifest.js';
import { recipeEncoderModelProto } from '../export/recipe-graph.js';
import { sinePositionValues } from '../model/sine-position.js';
import type { ModelConfig } from '../model/config.js';
import type { Tensor32 } from '../onnx/weights.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { fromRoot } from '../util/paths.js';
import { sha256File } from '../util/sha256.js';
import { readIngredientDictionary, type IngredientDictionary } from './ingredient-dictionary.js';
import { buildImportManifest } from './import-manifest.js';
import { CheckpointTensors, findStateDict } from './checkpoint-tensors.js';
import { modelPieces, writePieces } from './onnx-stream.js';
import { seedImageEncoderModel } from './seed-graphs.js';
import { planSeedImport, POSITION_BUFFER, SEED_DEFAULT_HEADS, type SeedImportPlan } from './seed-state-dict.js';
import { TorchCheckpoint } from './torch-checkpoint.js';
import type { ModelEvaluation } from '../model-format/model-evaluation.js';

/**
 * `import-checkpoint`: the seed's PyTorch checkpoint (+ its ingredient dictionary, vocabulary and
 * label map) -> the same model folder `export` writes (image_encoder.onnx, recipe_encoder.onnx,
 * vocab.pkl, labels.json, manifest.json), so index, serve and evaluate use it unchanged.
 * Weights are read from the checkpoint one tensor at a time as the graph emitters ask for them,
 * and graphs are streamed to disk, so memory stays near the size of the model's weights however
 * large the file (optimizer state included) is.
 */

export interface ImportOptions {
  checkpoint: string;
  /** ingredient_dict_textual.pkl; required for a stage-2 (debiasing) checkpoint. */
  dictionary?: string;
  vocab: string;
  /** ing2label pickle (ingredient name -> label). */
  labels: string;
  outDir: string;
  modelId?: string;
  recipeHeads?: number;
  classifierHeads?: number;
  /** The model's measured quality, recorded in the manifest (see src/model-format/model-evaluation.ts). */
  evaluation?: ModelEvaluation;
  log?: (line: string) => void;
}

export interface ImportSummary {
  outDir: string;
  modelId: string;
  config: ModelConfig;
  debiasActive: boolean;
  files: Record<string, FileRecord>;
  checks: Record<string, unknown>;
  seconds: number;
}

/** Above this (max |stored - ours| / max |ours|) the checkpoint's sine map is not the one our graph computes. */
const POSITION_TOLERANCE = 1e-5;

/** V = D Wv^T + b [K, E], accumulated in float64 and rounded once. */
export function projectDictionary(d: Tensor32, weight: Tensor32, bias: Tensor32): Tensor32 {
  const [k, width] = d.dims;
  const [e, inWidth] = weight.dims;
  if (inWidth !== width) throw new UserError(`dictionary width ${width} does not match Wv's input width ${inWidth}`);
  const out = new Float32Array(k * e);
  for (let r = 0; r < k; r++) {
    for (let o = 0; o < e; o++) {
      let sum = bias.data[o];
      for (let j = 0; j < width; j++) sum += d.data[r * width + j] * weight.data[o * width + j];
      out[r * e + o] = sum;
    }
  }
  return { data: out, dims: [k, e] };
}

/** The stored query2labels position buffer [1, C, 7, 7] against our sine map [49, C]. */
function checkPositionBuffer(params: ExportParams, config: ModelConfig, source: string): number {
  const stored = params.get(POSITION_BUFFER);
  const c = config.classifier.width;
  const ours = sinePositionValues(7, 7, c);
  let maxDiff = 0;
  let maxRef = 0;
  for (let p = 0; p < 49; p++) {
    for (let ch = 0; ch < c; ch++) {
      maxDiff = Math.max(maxDiff, Math.abs(stored.data[ch * 49 + p] - ours[p * c + ch]));
      maxRef = Math.max(maxRef, Math.abs(ours[p * c + ch]));
    }
  }
  const rel = maxDiff / maxRef;
  if (!(rel <= POSITION_TOLERANCE)) {
    throw new UserError(`${source}: ${POSITION_BUFFER} differs from the DETR sine encoding the exported graph computes (relative error ${rel.toExponential(2)}); refusing to write a model that would not match`);
  }
  return rel;
}

async function producerVersion(): Promise<string> {
  const pkg = JSON.parse(await fs.readFile(fromRoot('package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

function heads(value: number | undefined, flag: string): number {
  const n = value ?? SEED_DEFAULT_HEADS;
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--${flag} must be a positive integer, got ${n}`);
  return n;
}

export async function importSeedCheckpoint(opts: ImportOptions): Promise<ImportSummary> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const outDir = path.resolve(opts.outDir);
  const modelId = opts.modelId ?? path.basename(outDir);
  const recipeHeads = heads(opts.recipeHeads, 'recipe-heads');
  const classifierHeads = heads(opts.classifierHeads, 'classifier-heads');

  const checkpoint = TorchCheckpoint.open(opts.checkpoint);
  try {
    const { stateDict, ignored } = findStateDict(checkpoint.root, opts.checkpoint);
    const plan: SeedImportPlan = planSeedImport(
      new Map([...stateDict].map(([k, t]) => [k, { shape: t.shape, dtype: t.dtype }])),
      { recipeHeads, classifierHeads, source: opts.checkpoint },
    );
    const { config } = plan;
    log(`checkpoint ${checkpoint.format === 'zip' ? `${checkpoint.folder}/` : '(legacy torch.save format)'}: ${stateDict.size} state_dict entries (${plan.debias ? 'stage 2, with Wv' : 'stage 1'}); ignored: ${ignored.join(', ') || 'nothing'}`);

    // Side files first: a wrong vocabulary or label map is refused before any graph is built.
    const vocab = await loadVocabulary(opts.vocab);
    if (vocab.size !== config.vocabSize) {
      throw new UserError(`${opts.vocab}: ${vocab.size} words, but the checkpoint's word embedding has ${config.vocabSize} rows (another vocabulary?)`);
    }
    const labelNames = await readIng2Label(opts.labels);
    if (labelNames.length !== config.classifier.labels) {
      throw new UserError(`${opts.labels}: ${labelNames.length} ingredient labels, but the checkpoint's classifier has ${config.classifier.labels}`);
    }
    let dictionary: IngredientDictionary | undefined;
    let debiasReason: string;
    if (plan.debias) {
      if (!opts.dictionary) throw new UserError(`${opts.checkpoint} is a debiasing (stage-2) checkpoint: --dictionary <ingredient_dict_textual.pkl> is required`);
      dictionary = await readIngredientDictionary(opts.dictionary, config.classifier.labels, config.recipe.width);
      debiasReason = 'Wv and the ingredient dictionary are present: debiased_embedding = embedding + pi V';
    } else {
      debiasReason = opts.dictionary
        ? 'stage-1 checkpoint (no Wv): the given dictionary is not used; debiased_embedding = embedding'
        : 'stage-1 checkpoint without Wv and dictionary: debiased_embedding = embedding';
    }

    const params = new ExportParams(new CheckpointTensors(checkpoint, stateDict, plan.prefix), opts.checkpoint);
    params.skip(isTrainingOnlyParam);
    const positionError = checkPositionBuffer(params, config, opts.checkpoint);
    const projectedDictionary = dictionary ? projectDictionary(dictionary.matrix, params.get('Wv.weight'), params.get('Wv.bias')) : undefined;

    const checkpointSha256 = await sha256File(opts.checkpoint);
    const metadata = { model_id: modelId, checkpoint_sha256: checkpointSha256, debias_active: String(plan.debias) };

    await fs.mkdir(outDir, { recursive: true });
    // Graphs go to a staging folder and move in only when all are built: a refusal leaves the folder as it was.
    const staging = await fs.mkdtemp(path.join(outDir, '.import-'));
    try {
      const written: string[] = [];
      const stage = (name: string, model: Parameters<typeof modelPieces>[0]): void => {
        const bytes = writePieces(path.join(staging, name), modelPieces(model));
        written.push(name);
        log(`built ${name} (${(bytes / 1e6).toFixed(2)} MB)`);
      };
      // One graph at a time: its weights become garbage once it is on disk.
      stage(RECIPE_ENCODER_FILE, recipeEncoderModelProto(params, config, metadata));
      stage(IMAGE_ENCODER_FILE, seedImageEncoderModel(params, config, plan.stemWidth, { projectedDictionary, metadata }));
      const untranslated = params.unused();
      if (untranslated.length) throw new UserError(`cannot import ${opts.checkpoint}: no graph uses parameter(s) ${untranslated.join(', ')}`);

      // A manifest present means a complete model folder, so the old one goes before any file changes.
      await fs.rm(path.join(outDir, MANIFEST_FILE), { force: true });
      for (const name of written) await fs.rename(path.join(staging, name), path.join(outDir, name));
      // A previous export's feature-map head would contradict this manifest.
      await fs.rm(path.join(outDir, 'image_head.onnx'), { force: true });
      await writeFileAtomic(path.join(outDir, VOCAB_FILE), await fs.readFile(opts.vocab));
      await writeFileAtomic(path.join(outDir, LABELS_FILE), `${JSON.stringify({ labels: labelNames }, null, 1)}\n`);
      written.push(VOCAB_FILE, LABELS_FILE);

      const files: Record<string, FileRecord> = {};
      for (const name of written) files[name] = await fileRecord(path.join(outDir, name));
      const checks: Record<string, unknown> = {
        positionEncoding: { relError: positionError, tolerance: POSITION_TOLERANCE },
        heads: { recipe: recipeHeads, classifier: classifierHeads, from: 'option (attention heads leave no trace in tensor shapes; the seed uses 4)' },
        keys: { stateDict: stateDict.size, mapped: plan.specs.length, prefix: plan.prefix },
        ...(dictionary ? { dictionary: { labels: dictionary.counts.length, vectors: dictionary.counts.reduce((a, b) => a + b, 0), streamed: dictionary.streamed } } : {}),
      };
      const manifest = buildImportManifest({
        modelId, config, plan, files, checks, labels: labelNames.length, vocabWords: vocab.size,
        vocabSha256: files[VOCAB_FILE].sha256, checkpoint: opts.checkpoint, checkpointFolder: checkpoint.folder, checkpointSha256,
        epoch: checkpoint.root instanceof Map ? checkpoint.root.get('epoch') : undefined,
        bestRecall1: checkpoint.root instanceof Map ? checkpoint.root.get('best_recall1') : undefined,
        ignored, debias: { active: plan.debias, reason: debiasReason, dictionarySha256: dictionary?.sha256 }, producer: await producerVersion(),
        evaluation: opts.evaluation,
      });
      await writeFileAtomic(path.join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      log(`wrote ${MANIFEST_FILE}`);
      return { outDir, modelId, config, debiasActive: plan.debias, files, checks, seconds: (performance.now() - started) / 1000 };
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  } finally {
    checkpoint.close();
  }
}
