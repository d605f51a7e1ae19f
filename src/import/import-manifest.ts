import { IMAGE_ENCODER_FILE, imageEncoderInterface, RECIPE_ENCODER_FILE, recipeEncoderInterface } from '../model-format/io-spec.js';
import type { ExportManifest, FileRecord } from '../model-format/manifest.js';
import type { ModelEvaluation } from '../model-format/model-evaluation.js';
import { debiasEntry, manifestHeader, preprocessingEntries } from '../export/manifest-blocks.js';
import type { ModelConfig } from '../model/config.js';
import { portablePath } from '../util/portable-path.js';
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
  evaluation?: ModelEvaluation;
}

export function buildImportManifest(p: ImportManifestParts): ExportManifest {
  const { config } = p;
  const stage = p.plan.debias ? 'debias' : 'baseline';
  const imageInterface = imageEncoderInterface(config);
  imageInterface.inputs = imageInterface.inputs.map((i) => ({
    ...i, description: 'RGB centre crop, NHWC, 0..255 (ImageNet normalisation happens inside the graph)',
  }));
  return {
    ...manifestHeader({ modelId: p.modelId, producer: p.producer, preset: 'seed-checkpoint', stage, config }),
    models: {
      imageEncoder: { file: IMAGE_ENCODER_FILE, ...imageInterface },
      recipeEncoder: { file: RECIPE_ENCODER_FILE, ...recipeEncoderInterface(config) },
    },
    debias: debiasEntry(p.debias.active, p.debias.reason, p.debias.dictionarySha256),
    ...preprocessingEntries({
      config,
      imageNormalisation: `torchvision ImageNet ((x / 255 - mean) / std, mean ${IMAGENET_MEAN.join('/')}, std ${IMAGENET_STD.join('/')}) inside the graph; feed raw bytes`,
      vocabSha256: p.vocabSha256,
      vocabWords: p.vocabWords,
      labels: p.labels,
      backbone: { source: `torchvision ResNet-50 (v1.5) weights from the imported checkpoint (stem width ${p.plan.stemWidth})`, sha256: p.checkpointSha256 },
    }),
    source: {
      run: portablePath(p.checkpoint),
      runName: p.checkpointFolder,
      stage,
      ...(typeof p.epoch === 'number' ? { epoch: p.epoch } : {}),
      checkpointSha256: p.checkpointSha256,
      metrics: typeof p.bestRecall1 === 'number' ? { best_recall1: p.bestRecall1 } : null,
    },
    ...(p.evaluation ? { evaluation: p.evaluation } : {}),
    checks: { ...p.checks, ignoredCheckpointEntries: p.ignored },
    files: p.files,
  };
}
