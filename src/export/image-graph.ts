import { attr } from '../onnx/attributes.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { emitKerasResNet50 } from '../onnx/keras-resnet.js';
import type { KerasModel } from '../onnx/keras-model.js';
import { layerNorm, linear, sigmoid, tanh } from '../onnx/nn-blocks.js';
import { DataType } from '../onnx/proto.js';
import { tensorProto } from '../onnx/tensor.js';
import type { Tensor32 } from '../onnx/weights.js';
import type { ModelConfig } from '../model/config.js';
import { KEEP_THRESHOLD } from '../model/debias.js';
import { sinePositionValues } from '../model/sine-position.js';
import type { ExportParams } from './export-params.js';
import {
  DEBIASED_OUTPUT, EMBEDDING_OUTPUT, FEATURE_MAP_SIZE, imageEncoderInterface, imageHeadInterface, LOGITS_OUTPUT,
  type GraphInterface,
} from '../model-format/io-spec.js';
import { decoderLayer, encoderLayer } from './transformer-graph.js';

/**
 * The image side after the backbone (src/model/image-head.ts, query2labels.ts, debias.ts) as ONNX,
 * on an NHWC feature map [N, 7, 7, C]: e_I, the ingredient logits and the debiased e_I.
 */

export interface ImageHeadValues {
  embedding: string;
  logits: string;
  debiased: string;
}

/** e_I = tanh(img_fc(mean over the 7x7 positions)). */
function emitImageEmbedding(b: GraphBuilder, params: ExportParams, config: ModelConfig, features: string): string {
  // Opset 17's ReduceMean still takes its axes as an attribute (an input only from opset 18).
  const pooled = b.op('ReduceMean', [features], { axes: attr.ints([1, 2]), keepdims: attr.int(0) }, 'image_pooled');
  const fc = params.get('img_fc.weight', [config.embeddingDim, config.backboneChannels]);
  return tanh(b, linear(b, pooled, { weight: fc, bias: params.get('img_fc.bias', [config.embeddingDim]) }, 'img_fc'), 'image_embedding');
}

/** The query2labels head: logits [N, K]. */
function emitClassifier(b: GraphBuilder, params: ExportParams, config: ModelConfig, features: string): string {
  const { width, heads, labels, encoderLayers, decoderLayers, inputProjection } = config.classifier;
  const c = config.backboneChannels;
  const positions = FEATURE_MAP_SIZE * FEATURE_MAP_SIZE;
  const eps = config.layerNormEps;
  // NHWC flattened row-major = torch's flatten(2) position order, as in the TF.js model.
  let memory = b.op('Reshape', [features, b.constInt64('classifier_src_shape', [0, positions, c])], {}, 'classifier_src');
  if (inputProjection) {
    const conv = params.get('input_proj.weight', [width, c, 1, 1]);
    memory = linear(b, memory, { weight: { data: conv.data, dims: [width, c] }, bias: params.get('input_proj.bias', [width]) }, 'input_proj');
  }
  const pos = b.initializer('classifier_positions', sinePositionValues(FEATURE_MAP_SIZE, FEATURE_MAP_SIZE, width), [positions, width]);
  for (let i = 0; i < encoderLayers; i++) {
    memory = encoderLayer(b, memory, params, `transformer.encoder.layers.${i}`, { heads, eps, pos });
  }
  // The decoder starts from zeros [N, K, width] (batch read at run time), as the TF.js model does.
  const targetShape = b.op('Concat', [
    b.op('Shape', [memory], { start: attr.int(0), end: attr.int(1) }, 'classifier_batch'),
    b.constInt64('classifier_target_dims', [labels, width]),
  ], { axis: attr.int(0) }, 'classifier_target_shape');
  let target = b.op('ConstantOfShape', [targetShape], { value: attr.tensor(tensorProto('zero', Float32Array.of(0), [1])) }, 'classifier_target');
  const queries = params.get('query_embed.weight', [labels, width]);
  const queryPos = b.initializer('query_embed.weight', queries.data, queries.dims);
  for (let i = 0; i < decoderLayers; i++) {
    target = decoderLayer(b, { target, memory, queryPos, memoryPos: pos }, params, `transformer.decoder.layers.${i}`, heads, eps);
  }
  const decoded = layerNorm(b, target, params.layerNorm('transformer.decoder.norm'), eps, 'transformer.decoder.norm');
  const fcW = params.get('fc.W', [1, labels, width]);
  const fcB = params.get('fc.b', [1, labels]);
  const perLabel = b.op('Mul', [decoded, b.initializer('fc.W', fcW.data, fcW.dims)], {}, 'fc_products');
  const summed = b.op('ReduceSum', [perLabel, b.constInt64('fc_axis', [-1])], { keepdims: attr.int(0) }, 'fc_sums');
  return b.op('Add', [summed, b.initializer('fc.b', fcB.data, fcB.dims)], {}, 'ingredient_logits_value');
}

/**
 * ẽ_I = e_I + pi V with pi the sigmoid probabilities kept at >= 0.5 and divided by their sum (all
 * zero when none is kept: the sum is replaced by 1 there, as in TF.js). V [K, E] is a constant.
 */
function emitDebias(b: GraphBuilder, embedding: string, logits: string, projectedDictionary: Tensor32): string {
  const p = sigmoid(b, logits, 'label_probabilities');
  const keep = b.op('Cast', [b.op('GreaterOrEqual', [p, b.constFloat('keep_threshold', KEEP_THRESHOLD)], {}, 'label_kept')], { to: attr.int(DataType.float32) }, 'label_keep');
  const kept = b.op('Mul', [p, keep], {}, 'kept_probabilities');
  const total = b.op('ReduceSum', [kept, b.constInt64('kept_axis', [1])], { keepdims: attr.int(1) }, 'kept_total');
  const noneKept = b.op('Cast', [b.op('Equal', [total, b.constFloat('zero_total', 0)], {}, 'none_kept_bool')], { to: attr.int(DataType.float32) }, 'none_kept');
  const pi = b.op('Div', [kept, b.op('Add', [total, noneKept], {}, 'kept_denominator')], {}, 'normalised_probabilities');
  const v = b.initializer('projected_dictionary', projectedDictionary.data, projectedDictionary.dims);
  return b.op('Add', [embedding, b.op('MatMul', [pi, v], {}, 'debias_shift')], {}, 'debiased_value');
}

/**
 * Emit the head on `features` (NHWC). Without `projectedDictionary` (a model that is not debiased)
 * the debiased output is e_I itself.
 */
export function emitImageHead(
  b: GraphBuilder, params: ExportParams, config: ModelConfig, features: string, projectedDictionary?: Tensor32,
): ImageHeadValues {
  const embedding = emitImageEmbedding(b, params, config, features);
  const logits = emitClassifier(b, params, config, features);
  if (projectedDictionary) {
    const [k, e] = projectedDictionary.dims;
    if (k !== config.classifier.labels || e !== config.embeddingDim) {
      throw new Error(`projected dictionary is [${k},${e}], expected [${config.classifier.labels},${config.embeddingDim}]`);
    }
  }
  const debiased = projectedDictionary ? emitDebias(b, embedding, logits, projectedDictionary) : embedding;
  return { embedding, logits, debiased };
}

/**
 * The head's values as graph outputs under the interface's names; shared with the seed import
 * (src/import/seed-graphs.ts), whose trunk differs but whose outputs must not.
 */
export function declareImageOutputs(b: GraphBuilder, io: GraphInterface, values: ImageHeadValues): void {
  const byName: Record<string, string> = { [EMBEDDING_OUTPUT]: values.embedding, [LOGITS_OUTPUT]: values.logits, [DEBIASED_OUTPUT]: values.debiased };
  for (const o of io.outputs) {
    // Without debiasing two outputs share one value: an Identity keeps them distinct graph outputs.
    const value = o.name === DEBIASED_OUTPUT && values.debiased === values.embedding
      ? b.op('Identity', [values.embedding], {}, 'debias_inactive')
      : byName[o.name];
    b.output(value, o.name, o.dtype, o.shape);
  }
}

export interface ImageGraphOptions {
  projectedDictionary?: Tensor32;
  metadata?: Record<string, string>;
}

/** image_head.onnx: feature_map [N, 7, 7, C] float -> embedding, ingredient_logits, debiased_embedding. */
export function buildImageHeadModel(params: ExportParams, config: ModelConfig, opts: ImageGraphOptions = {}): Uint8Array {
  const b = new GraphBuilder('image_head');
  const io = imageHeadInterface(config);
  b.reserve(...io.outputs.map((o) => o.name));
  const input = b.input(io.inputs[0].name, io.inputs[0].dtype, io.inputs[0].shape);
  declareImageOutputs(b, io, emitImageHead(b, params, config, input, opts.projectedDictionary));
  return b.serialize({ docString: 'image head on backbone feature maps: e_I, ingredient logits, debiased e_I', metadata: opts.metadata });
}

/** image_encoder.onnx: the Keras ResNet-50 (uint8 RGB crop in) composed with the head. */
export function buildImageEncoderModel(
  params: ExportParams, config: ModelConfig, keras: KerasModel, opts: ImageGraphOptions = {},
): Uint8Array {
  if (config.backboneChannels !== 2048) {
    throw new Error(`the model's backboneChannels is ${config.backboneChannels}; the ResNet-50 backbone gives 2048`);
  }
  const b = new GraphBuilder('image_encoder');
  const io = imageEncoderInterface(config);
  b.reserve(...io.outputs.map((o) => o.name));
  const input = b.input(io.inputs[0].name, io.inputs[0].dtype, io.inputs[0].shape);
  const { featureMap } = emitKerasResNet50(b, keras, input, { featureLayout: 'NHWC' });
  declareImageOutputs(b, io, emitImageHead(b, params, config, featureMap, opts.projectedDictionary));
  return b.serialize({
    docString: 'image encoder: Keras ResNet-50 (caffe preprocessing in-graph) + image head',
    metadata: { ...opts.metadata, backbone_sha256: keras.sha256 },
  });
}
