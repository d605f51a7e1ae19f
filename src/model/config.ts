import { UserError } from '../util/errors.js';

/** Sizes of the recipe encoder (HT hierarchical transformer). */
export interface RecipeEncoderConfig {
  /** Width of word embeddings, transformer layers and component features (seed: 512). */
  width: number;
  heads: number;
  /** Transformer layers in each of the five blocks (seed: 2). */
  layersPerBlock: number;
  feedForward: number;
  /** Rows of each block's learned positional table (seed: 50); longer sequences are rejected. */
  maxPositions: number;
}

/** Sizes of the query2labels ingredient classifier head. */
export interface ClassifierConfig {
  width: number;
  heads: number;
  feedForward: number;
  encoderLayers: number;
  decoderLayers: number;
  /**
   * Whether a 1x1 projection maps the backbone channels to `width` (key `input_proj.*`).
   * The paper keeps it off (Identity), which forces width = backbone channels.
   */
  inputProjection: boolean;
  /** Number of ingredient labels K (one learned query each). */
  labels: number;
}

/** Every size of the model; plain JSON so that it can be saved beside a checkpoint. */
export interface ModelConfig {
  vocabSize: number;
  recipe: RecipeEncoderConfig;
  /** Size of the shared image/recipe embedding (seed's `output_size`). */
  embeddingDim: number;
  /** Channels C of the backbone's feature map [N,7,7,C]. */
  backboneChannels: number;
  classifier: ClassifierConfig;
  dropout: number;
  layerNormEps: number;
}

export const PRESET_NAMES = ['paper', 'cpu', 'tiny'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface PresetSizes {
  vocabSize: number;
  labels: number;
}

/** The paper's configuration (keys.json sizes): about 222M parameters with the backbone. */
function paperConfig({ vocabSize, labels }: PresetSizes): ModelConfig {
  return {
    vocabSize,
    recipe: { width: 512, heads: 4, layersPerBlock: 2, feedForward: 2048, maxPositions: 50 },
    embeddingDim: 1024,
    backboneChannels: 2048,
    classifier: {
      width: 2048, heads: 4, feedForward: 8192, encoderLayers: 1, decoderLayers: 2,
      inputProjection: false, labels,
    },
    dropout: 0.1,
    layerNormEps: 1e-5,
  };
}

/**
 * A model that trains on 2 CPU cores: narrower recipe encoder with one layer per block, and the
 * classifier on a 256-wide projection of the backbone map instead of the paper's 2048 (~90 GFLOP/image).
 */
function cpuConfig({ vocabSize, labels }: PresetSizes): ModelConfig {
  return {
    vocabSize,
    recipe: { width: 256, heads: 4, layersPerBlock: 1, feedForward: 512, maxPositions: 50 },
    embeddingDim: 512,
    backboneChannels: 2048,
    classifier: {
      width: 256, heads: 4, feedForward: 1024, encoderLayers: 1, decoderLayers: 2,
      inputProjection: true, labels,
    },
    dropout: 0.1,
    layerNormEps: 1e-5,
  };
}

/** For tests: every width different, so a transposed weight cannot go unnoticed. */
function tinyConfig({ vocabSize, labels }: PresetSizes): ModelConfig {
  return {
    vocabSize,
    recipe: { width: 16, heads: 2, layersPerBlock: 1, feedForward: 28, maxPositions: 50 },
    embeddingDim: 24,
    backboneChannels: 20,
    classifier: {
      width: 12, heads: 2, feedForward: 36, encoderLayers: 1, decoderLayers: 2,
      inputProjection: true, labels,
    },
    dropout: 0.1,
    layerNormEps: 1e-5,
  };
}

const PRESETS: Record<PresetName, (sizes: PresetSizes) => ModelConfig> = {
  paper: paperConfig,
  cpu: cpuConfig,
  tiny: tinyConfig,
};

/** A preset's config; vocabulary size and label count come from the data, not the preset. */
export function presetConfig(name: string, sizes: PresetSizes): ModelConfig {
  if (!(PRESET_NAMES as readonly string[]).includes(name)) {
    throw new UserError(`unknown model preset "${name}" (expected one of: ${PRESET_NAMES.join(', ')})`);
  }
  return validateModelConfig(PRESETS[name as PresetName](sizes), `preset ${name}`);
}

function fail(source: string, problem: string): never {
  throw new UserError(`${source}: invalid model config: ${problem}`);
}

function positiveInt(source: string, obj: Record<string, unknown>, key: string, path: string): number {
  const value = obj[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    fail(source, `${path}${key} must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
}

function record(source: string, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(source, `${path} must be an object`);
  return value as Record<string, unknown>;
}

/**
 * Check a config (from a preset or parsed JSON) and return a clean copy.
 * `source` names where it came from (a file path) for the error message.
 */
export function validateModelConfig(raw: unknown, source: string): ModelConfig {
  const top = record(source, raw, 'config');
  const recipeRaw = record(source, top.recipe, 'recipe');
  const clsRaw = record(source, top.classifier, 'classifier');
  const recipe: RecipeEncoderConfig = {
    width: positiveInt(source, recipeRaw, 'width', 'recipe.'),
    heads: positiveInt(source, recipeRaw, 'heads', 'recipe.'),
    layersPerBlock: positiveInt(source, recipeRaw, 'layersPerBlock', 'recipe.'),
    feedForward: positiveInt(source, recipeRaw, 'feedForward', 'recipe.'),
    maxPositions: positiveInt(source, recipeRaw, 'maxPositions', 'recipe.'),
  };
  if (typeof clsRaw.inputProjection !== 'boolean') fail(source, 'classifier.inputProjection must be true or false');
  const classifier: ClassifierConfig = {
    width: positiveInt(source, clsRaw, 'width', 'classifier.'),
    heads: positiveInt(source, clsRaw, 'heads', 'classifier.'),
    feedForward: positiveInt(source, clsRaw, 'feedForward', 'classifier.'),
    encoderLayers: positiveInt(source, clsRaw, 'encoderLayers', 'classifier.'),
    decoderLayers: positiveInt(source, clsRaw, 'decoderLayers', 'classifier.'),
    inputProjection: clsRaw.inputProjection,
    labels: positiveInt(source, clsRaw, 'labels', 'classifier.'),
  };
  const config: ModelConfig = {
    vocabSize: positiveInt(source, top, 'vocabSize', ''),
    recipe,
    embeddingDim: positiveInt(source, top, 'embeddingDim', ''),
    backboneChannels: positiveInt(source, top, 'backboneChannels', ''),
    classifier,
    dropout: typeof top.dropout === 'number' ? top.dropout : NaN,
    layerNormEps: typeof top.layerNormEps === 'number' ? top.layerNormEps : NaN,
  };
  if (!(config.dropout >= 0 && config.dropout < 1)) fail(source, 'dropout must be a number in [0, 1)');
  if (!(config.layerNormEps > 0)) fail(source, 'layerNormEps must be a positive number');
  if (recipe.width % recipe.heads !== 0) {
    fail(source, `recipe.width ${recipe.width} is not divisible by recipe.heads ${recipe.heads}`);
  }
  if (classifier.width % classifier.heads !== 0) {
    fail(source, `classifier.width ${classifier.width} is not divisible by classifier.heads ${classifier.heads}`);
  }
  // The sine encoding gives half the channels to each axis, as interleaved sin/cos pairs.
  if (classifier.width % 4 !== 0) fail(source, `classifier.width ${classifier.width} must be a multiple of 4`);
  if (!classifier.inputProjection && classifier.width !== config.backboneChannels) {
    fail(source, `classifier.width ${classifier.width} must equal backboneChannels ${config.backboneChannels} ` +
      'when classifier.inputProjection is false');
  }
  if (config.vocabSize < 2) fail(source, 'vocabSize must be at least 2 (padding and one word)');
  return config;
}
