import type { ModelConfig } from './config.js';
import { COMPONENTS, LINE_COMPONENTS, PROJECTION_PAIRS } from './components.js';

/** How a parameter starts; mirrors PyTorch's defaults for the seed's modules. */
export type ParamInit =
  | { kind: 'uniform'; bound: number }
  | { kind: 'normal'; std: number }
  | { kind: 'constant'; value: number };

export interface ParamSpec {
  /** The seed's state-dict key without the `module.` prefix. */
  name: string;
  /** PyTorch layout: Linear weights are [out, in]. */
  shape: number[];
  init: ParamInit;
}

export interface ParamSpecOptions {
  /** Include the stage-2 debiasing projection `Wv` (Linear recipe width -> embedding). */
  debias: boolean;
}

const zeros: ParamInit = { kind: 'constant', value: 0 };
const ones: ParamInit = { kind: 'constant', value: 1 };

/** nn.Linear's default: kaiming_uniform(a=sqrt 5) for the weight, U(±1/sqrt(fan_in)) for the bias. */
function linearSpecs(prefix: string, inFeatures: number, outFeatures: number): ParamSpec[] {
  const bound = 1 / Math.sqrt(inFeatures);
  return [
    { name: `${prefix}.weight`, shape: [outFeatures, inFeatures], init: { kind: 'uniform', bound } },
    { name: `${prefix}.bias`, shape: [outFeatures], init: { kind: 'uniform', bound } },
  ];
}

function xavierUniform(fanOut: number, fanIn: number): ParamInit {
  return { kind: 'uniform', bound: Math.sqrt(6 / (fanIn + fanOut)) };
}

/**
 * nn.MultiheadAttention with packed q,k,v projection: in_proj_weight [3d,d] xavier-uniform, biases 0.
 * `xavierAll` re-initialises out_proj.weight with xavier too (DETR's Transformer._reset_parameters).
 */
function attentionSpecs(prefix: string, d: number, xavierAll: boolean): ParamSpec[] {
  return [
    { name: `${prefix}.in_proj_weight`, shape: [3 * d, d], init: xavierUniform(3 * d, d) },
    { name: `${prefix}.in_proj_bias`, shape: [3 * d], init: zeros },
    {
      name: `${prefix}.out_proj.weight`, shape: [d, d],
      init: xavierAll ? xavierUniform(d, d) : { kind: 'uniform', bound: 1 / Math.sqrt(d) },
    },
    { name: `${prefix}.out_proj.bias`, shape: [d], init: zeros },
  ];
}

function feedForwardSpecs(prefix: string, d: number, ff: number, xavierAll: boolean): ParamSpec[] {
  const specs = [...linearSpecs(`${prefix}.linear1`, d, ff), ...linearSpecs(`${prefix}.linear2`, ff, d)];
  if (xavierAll) {
    specs[0] = { ...specs[0], init: xavierUniform(ff, d) };
    specs[2] = { ...specs[2], init: xavierUniform(d, ff) };
  }
  return specs;
}

function layerNormSpecs(prefix: string, d: number): ParamSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [d], init: ones },
    { name: `${prefix}.bias`, shape: [d], init: zeros },
  ];
}

/** A post-norm encoder layer (torch nn.TransformerEncoderLayer / DETR TransformerEncoderLayer keys). */
export function encoderLayerSpecs(prefix: string, d: number, ff: number, xavierAll: boolean): ParamSpec[] {
  return [
    ...attentionSpecs(`${prefix}.self_attn`, d, xavierAll),
    ...feedForwardSpecs(prefix, d, ff, xavierAll),
    ...layerNormSpecs(`${prefix}.norm1`, d),
    ...layerNormSpecs(`${prefix}.norm2`, d),
  ];
}

/** A query2labels decoder layer with its self-attention (and norm1) removed. */
function decoderLayerSpecs(prefix: string, d: number, ff: number): ParamSpec[] {
  return [
    ...attentionSpecs(`${prefix}.multihead_attn`, d, true),
    ...feedForwardSpecs(prefix, d, ff, true),
    ...layerNormSpecs(`${prefix}.norm2`, d),
    ...layerNormSpecs(`${prefix}.norm3`, d),
  ];
}

/** One HT block: learned positions (xavier-normal) + encoder layers (seed: SingleTransformerEncoder). */
function sequenceBlockSpecs(prefix: string, config: ModelConfig): ParamSpec[] {
  const { width, feedForward, layersPerBlock, maxPositions } = config.recipe;
  const specs: ParamSpec[] = [{
    name: `${prefix}.pos_encoder.weight`, shape: [maxPositions, width],
    init: { kind: 'normal', std: Math.sqrt(2 / (maxPositions + width)) },
  }];
  for (let i = 0; i < layersPerBlock; i++) {
    specs.push(...encoderLayerSpecs(`${prefix}.tf.layers.${i}`, width, feedForward, false));
  }
  return specs;
}

/** The recipe encoder's parameters (`text_encoder.*`). */
export function recipeEncoderSpecs(config: ModelConfig): ParamSpec[] {
  const specs: ParamSpec[] = [{
    name: 'text_encoder.word_embedding.weight', shape: [config.vocabSize, config.recipe.width],
    init: { kind: 'normal', std: 1 },
  }];
  for (const name of COMPONENTS) specs.push(...sequenceBlockSpecs(`text_encoder.tfs.${name}`, config));
  for (const name of LINE_COMPONENTS) specs.push(...sequenceBlockSpecs(`text_encoder.merger.${name}`, config));
  return specs;
}

/** The query2labels transformer (`transformer.*`). */
export function classifierTransformerSpecs(config: ModelConfig): ParamSpec[] {
  const { width, feedForward, encoderLayers, decoderLayers } = config.classifier;
  const specs: ParamSpec[] = [];
  for (let i = 0; i < encoderLayers; i++) {
    specs.push(...encoderLayerSpecs(`transformer.encoder.layers.${i}`, width, feedForward, true));
  }
  for (let i = 0; i < decoderLayers; i++) {
    specs.push(...decoderLayerSpecs(`transformer.decoder.layers.${i}`, width, feedForward));
  }
  specs.push(...layerNormSpecs('transformer.decoder.norm', width));
  return specs;
}

/** Everything of the classifier head besides the transformer: input projection, queries, per-label linear. */
function classifierHeadSpecs(config: ModelConfig): ParamSpec[] {
  const { width, labels, inputProjection } = config.classifier;
  const specs: ParamSpec[] = [];
  if (inputProjection) {
    // The seed's input_proj is a 1x1 Conv2d: weight [out, in, 1, 1].
    const bound = 1 / Math.sqrt(config.backboneChannels);
    specs.push(
      { name: 'input_proj.weight', shape: [width, config.backboneChannels, 1, 1], init: { kind: 'uniform', bound } },
      { name: 'input_proj.bias', shape: [width], init: { kind: 'uniform', bound } },
    );
  }
  const stdv = 1 / Math.sqrt(width);
  specs.push(
    { name: 'query_embed.weight', shape: [labels, width], init: { kind: 'normal', std: 1 } },
    { name: 'fc.W', shape: [1, labels, width], init: { kind: 'uniform', bound: stdv } },
    { name: 'fc.b', shape: [1, labels], init: { kind: 'uniform', bound: stdv } },
  );
  return specs;
}

/**
 * Every trainable parameter of the model (backbone excluded: it is the separate Keras ResNet),
 * in the seed's state-dict order.
 */
export function modelParamSpecs(config: ModelConfig, options: ParamSpecOptions): ParamSpec[] {
  const r = config.recipe.width;
  const specs = [
    ...classifierTransformerSpecs(config),
    ...recipeEncoderSpecs(config),
    ...classifierHeadSpecs(config),
    ...linearSpecs('img_fc', config.backboneChannels, config.embeddingDim),
    ...linearSpecs('merger_recipe', 3 * r, config.embeddingDim),
  ];
  for (const [from, to] of PROJECTION_PAIRS) specs.push(...linearSpecs(`projector_recipes.${from}.${to}`, r, r));
  if (options.debias) specs.push(...linearSpecs('Wv', r, config.embeddingDim));
  return specs;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
