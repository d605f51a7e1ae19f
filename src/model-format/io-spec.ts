import type { ModelConfig } from '../model/config.js';
import {
  INGREDIENT_MAX_IDS, INSTRUCTION_MAX_IDS, MAX_INGREDIENT_LINES, MAX_INSTRUCTION_LINES, TITLE_MAX_IDS,
} from '../data/text/encode.js';

/**
 * The exported models' interface: file names, input/output names, dtypes and shapes. Serving,
 * verification and the manifest all read them from here, so a rename cannot drift between them.
 */

export const IMAGE_ENCODER_FILE = 'image_encoder.onnx';
export const IMAGE_HEAD_FILE = 'image_head.onnx';
export const RECIPE_ENCODER_FILE = 'recipe_encoder.onnx';
export const MANIFEST_FILE = 'manifest.json';
export const VOCAB_FILE = 'vocab.pkl';
export const LABELS_FILE = 'labels.json';

export const IMAGE_INPUT = 'image';
export const FEATURE_MAP_INPUT = 'feature_map';
export const EMBEDDING_OUTPUT = 'embedding';
export const LOGITS_OUTPUT = 'ingredient_logits';
export const DEBIASED_OUTPUT = 'debiased_embedding';

/** Spatial size of the backbone map the head expects (ResNet-50 at 224x224). */
export const FEATURE_MAP_SIZE = 7;
export const IMAGE_SIZE = 224;

export type IoDtype = 'uint8' | 'float32' | 'int64';
/** A dimension: a fixed size or the name of a size chosen at run time. */
export type IoDim = number | string;

export interface IoSpec {
  name: string;
  dtype: IoDtype;
  shape: IoDim[];
  description: string;
}

export interface GraphInterface {
  inputs: IoSpec[];
  outputs: IoSpec[];
}

function imageOutputs(config: ModelConfig): IoSpec[] {
  const e = config.embeddingDim;
  return [
    { name: EMBEDDING_OUTPUT, dtype: 'float32', shape: ['batch', e], description: 'e_I = tanh(img_fc(mean of the feature map))' },
    {
      name: LOGITS_OUTPUT, dtype: 'float32', shape: ['batch', config.classifier.labels],
      description: 'query2labels ingredient logits (sigmoid gives probabilities; labels.json names them)',
    },
    {
      name: DEBIASED_OUTPUT, dtype: 'float32', shape: ['batch', e],
      description: 'e_I + pi V (backdoor adjustment); equal to embedding when debiasing is not active or no label reaches 0.5',
    },
  ];
}

export function imageEncoderInterface(config: ModelConfig): GraphInterface {
  return {
    inputs: [{
      name: IMAGE_INPUT, dtype: 'uint8', shape: ['batch', IMAGE_SIZE, IMAGE_SIZE, 3],
      description: 'RGB centre crop, NHWC, 0..255 (caffe preprocessing happens inside the graph)',
    }],
    outputs: imageOutputs(config),
  };
}

export function imageHeadInterface(config: ModelConfig): GraphInterface {
  return {
    inputs: [{
      name: FEATURE_MAP_INPUT, dtype: 'float32', shape: ['batch', FEATURE_MAP_SIZE, FEATURE_MAP_SIZE, config.backboneChannels],
      description: 'backbone feature map, NHWC (the feature cache layout)',
    }],
    outputs: imageOutputs(config),
  };
}

export function recipeEncoderInterface(config: ModelConfig): GraphInterface {
  return {
    inputs: [
      { name: 'title', dtype: 'int64', shape: ['batch', 'title_ids'], description: 'title word ids, 0 = padding' },
      {
        name: 'ingredients', dtype: 'int64', shape: ['batch', 'ingredient_lines', 'ingredient_ids'],
        description: 'ingredient line word ids, 0 = padding (an all-zero line is a missing line)',
      },
      {
        name: 'instructions', dtype: 'int64', shape: ['batch', 'instruction_lines', 'instruction_ids'],
        description: 'instruction word ids, 0 = padding (an all-zero line is a missing line)',
      },
    ],
    outputs: [{ name: EMBEDDING_OUTPUT, dtype: 'float32', shape: ['batch', config.embeddingDim], description: 'e_R' }],
  };
}

/** The encoding limits the recipe encoder was trained with (longer inputs must be cut before the graph). */
export const TEXT_LIMITS = {
  titleMaxIds: TITLE_MAX_IDS,
  maxIngredientLines: MAX_INGREDIENT_LINES,
  ingredientMaxIds: INGREDIENT_MAX_IDS,
  maxInstructionLines: MAX_INSTRUCTION_LINES,
  instructionMaxIds: INSTRUCTION_MAX_IDS,
} as const;
