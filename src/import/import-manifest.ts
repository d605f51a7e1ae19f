import path from 'node:path';
import { RESIZE_KERNEL, SEED_GEOMETRY } from '../data/images/index.js';
import {
  IMAGE_ENCODER_FILE, imageEncoderInterface, LABELS_FILE, RECIPE_ENCODER_FILE, recipeEncoderInterface, TEXT_LIMITS, VOCAB_FILE,
} from '../export/io-spec.js';
import { EXPORT_FORMAT, EXPORT_VERSION, type ExportManifest, type FileRecord } from '../export/manifest.js';
import { KEEP_THRESHOLD } from '../model/debias.js';
import type { ModelConfig } from '../model/config.js';
import { IR_VERSION, OPSET_VERSION } from '../onnx/proto.js';
import { packageRoot } from '../util/paths.js';
import type { SeedImportPlan } from './seed-state-dict.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './torchvision-resnet-graph.js';

/** manifest.json of an imported model: the exporter's format, so every reader of exported models reads it. */

export interface ImportManifestParts {
  modelId: string;
  config: ModelConfig;
  plan: SeedImportPlan;
  files: Record<string, FileRecord>;
  checks: Record<string, unknown>;
  labels: number;
  vocabWords: number;
  vocabSha256: string;
  checkpoint: string;
  checkpointFolder: string;
  checkpointSha256: string;
  epoch: unknown;
  bestRecall1: unknown;
  ignored: string[];
  debias: { active: boolean; reason: string; dictionarySha256?: string };
  producer: string;
}

/** A path inside the project is recorded relative to it, so a committed manifest names no machine path. */
function portablePath(file: string): string {
  const absolute = path.resolve(file);
  const relative = path.relative(packageRoot, absolute);
  return relative.startsWith('..') || path.isAbsolute(relative) ? absolute : relative;
}

export function buildImportManifest(p: ImportManifestParts): ExportManifest {
  const { config } = p;
  const stage = p.plan.debias ? 'debias' : 'baseline';
  const imageInterface = imageEncoderInterface(config);
  imageInterface.inputs = imageInterface.inputs.map((i) => ({
    ...i, description: 'RGB centre crop, NHWC, 0..255 (ImageNet normalisation happens inside the graph)',
  }));
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    modelId: p.modelId,
    createdAt: new Date().toISOString(),
    producer: { name: 'recipe-retrieval', version: p.producer },
    preset: 'seed-checkpoint',
    stage,
    config,
    embeddingDim: config.embeddingDim,
    onnx: { opset: OPSET_VERSION, irVersion: IR_VERSION },
    models: {
      imageEncoder: { file: IMAGE_ENCODER_FILE, ...imageInterface },
      recipeEncoder: { file: RECIPE_ENCODER_FILE, ...recipeEncoderInterface(config) },
    },
    debias: {
      active: p.debias.active, reason: p.debias.reason, keepThreshold: KEEP_THRESHOLD,
      ...(p.debias.active && p.debias.dictionarySha256 ? { dictionarySha256: p.debias.dictionarySha256 } : {}),
    },
    preprocessing: {
      image: {
        resizeShorterSide: SEED_GEOMETRY.resizeShorterTo,
        centreCrop: SEED_GEOMETRY.cropSize,
        resizeKernel: `sharp/libvips ${RESIZE_KERNEL} (antialiased, like torchvision's bilinear on PIL)`,
        input: 'uint8 RGB, NHWC [batch, 224, 224, 3], the centre crop of the resized photo',
        normalisation: `torchvision ImageNet ((x / 255 - mean) / std, mean ${IMAGENET_MEAN.join('/')}, std ${IMAGENET_STD.join('/')}) inside the graph; feed raw bytes`,
      },
      text: {
        vocabulary: VOCAB_FILE,
        encoding: 'lower-case, NLTK word_tokenize, ids = [1 <start>] + word ids (unknown -> last id <unk>) + [2 <end>], cut to the limit; pad with 0',
        limits: { ...TEXT_LIMITS },
        maxPositions: config.recipe.maxPositions,
      },
    },
    vocabulary: { file: VOCAB_FILE, sha256: p.vocabSha256, words: p.vocabWords },
    labels: { file: LABELS_FILE, count: p.labels },
    backbone: { source: `torchvision ResNet-50 (v1.5) weights from the imported checkpoint (stem width ${p.plan.stemWidth})`, sha256: p.checkpointSha256 },
    source: {
      run: portablePath(p.checkpoint),
      runName: p.checkpointFolder,
      stage,
      ...(typeof p.epoch === 'number' ? { epoch: p.epoch } : {}),
      checkpointSha256: p.checkpointSha256,
      metrics: typeof p.bestRecall1 === 'number' ? { best_recall1: p.bestRecall1 } : null,
    },
    checks: { ...p.checks, ignoredCheckpointEntries: p.ignored },
    files: p.files,
  };
}
