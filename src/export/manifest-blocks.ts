import { RESIZE_KERNEL, SEED_GEOMETRY } from '../data/images/index.js';
import type { ModelConfig } from '../model/config.js';
import { KEEP_THRESHOLD } from '../model/debias.js';
import { IR_VERSION, OPSET_VERSION } from '../onnx/proto.js';
import { LABELS_FILE, TEXT_LIMITS, VOCAB_FILE } from '../model-format/io-spec.js';
import { EXPORT_FORMAT, EXPORT_VERSION, type ExportManifest } from '../model-format/manifest.js';

/**
 * The parts of manifest.json that `export` and `import-checkpoint` write alike, so the two kinds of
 * model folder cannot drift apart. Kept out of model-format/manifest.ts, which the server and setup import to
 * read manifests: these builders pull in sharp (resize kernel) and TF.js (keep threshold).
 * Each returns its entries in manifest order; callers spread them in place, which keeps the JSON
 * key order (and so the file) unchanged.
 */

export interface ManifestHeaderParts {
  modelId: string;
  /** This package's version. */
  producer: string;
  preset: string;
  stage: string;
  config: ModelConfig;
}

type ManifestHeader = Pick<
  ExportManifest, 'format' | 'version' | 'modelId' | 'createdAt' | 'producer' | 'preset' | 'stage' | 'config' | 'embeddingDim' | 'onnx'
>;

/** format ... onnx: what the folder is, who wrote it when, and the model's configuration. */
export function manifestHeader(p: ManifestHeaderParts): ManifestHeader {
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    modelId: p.modelId,
    createdAt: new Date().toISOString(),
    producer: { name: 'recipe-retrieval', version: p.producer },
    preset: p.preset,
    stage: p.stage,
    config: p.config,
    embeddingDim: p.config.embeddingDim,
    onnx: { opset: OPSET_VERSION, irVersion: IR_VERSION },
  };
}

/** The debias entry; the dictionary's hash only when debiasing is on and the hash is known. */
export function debiasEntry(active: boolean, reason: string, dictionarySha256?: string): ExportManifest['debias'] {
  return {
    active, reason, keepThreshold: KEEP_THRESHOLD,
    ...(active && dictionarySha256 ? { dictionarySha256 } : {}),
  };
}

export interface PreprocessingParts {
  config: ModelConfig;
  /** How the graph normalises the uint8 crop: the one preprocessing step the backbones differ in. */
  imageNormalisation: string;
  vocabSha256: string;
  vocabWords: number;
  labels: number;
  backbone?: { source: string; sha256: string };
}

/** preprocessing, vocabulary, labels and (when given) backbone. */
export function preprocessingEntries(
  p: PreprocessingParts,
): Pick<ExportManifest, 'preprocessing' | 'vocabulary' | 'labels' | 'backbone'> {
  return {
    preprocessing: {
      image: {
        resizeShorterSide: SEED_GEOMETRY.resizeShorterTo,
        centreCrop: SEED_GEOMETRY.cropSize,
        resizeKernel: `sharp/libvips ${RESIZE_KERNEL} (antialiased, like torchvision's bilinear on PIL)`,
        input: 'uint8 RGB, NHWC [batch, 224, 224, 3], the centre crop of the resized photo',
        normalisation: p.imageNormalisation,
      },
      text: {
        vocabulary: VOCAB_FILE,
        encoding: 'lower-case, NLTK word_tokenize, ids = [1 <start>] + word ids (unknown -> last id <unk>) + [2 <end>], cut to the limit; pad with 0',
        limits: { ...TEXT_LIMITS },
        maxPositions: p.config.recipe.maxPositions,
      },
    },
    vocabulary: { file: VOCAB_FILE, sha256: p.vocabSha256, words: p.vocabWords },
    labels: { file: LABELS_FILE, count: p.labels },
    ...(p.backbone ? { backbone: p.backbone } : {}),
  };
}
