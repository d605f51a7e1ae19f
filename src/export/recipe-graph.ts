import { attr } from '../onnx/attributes.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { addLearnedPositions, embedding, linear, tanh } from '../onnx/nn-blocks.js';
import { DataType, onnx, type OnnxTypes } from '../onnx/proto.js';
import { COMPONENTS, LINE_COMPONENTS, type ComponentName, type LineComponentName } from '../model/components.js';
import type { ModelConfig } from '../model/config.js';
import type { ExportParams } from './export-params.js';
import { EMBEDDING_OUTPUT, recipeEncoderInterface } from '../model-format/io-spec.js';
import { encoderLayer, keyScoreBias } from './transformer-graph.js';

/**
 * The hierarchical recipe encoder (src/model/recipe-encoder.ts) as ONNX: int64 ids with 0 = padding,
 * every size dynamic (batch, lines, ids) up to the learned positions' length.
 */

interface RecipeContext {
  b: GraphBuilder;
  params: ExportParams;
  config: ModelConfig;
  /** The shared word embedding table [V, width]. */
  table: string;
}

/**
 * Masked mean over axis 1 as the TF.js model computes it: valid * (1 / (count + 1e-12)), times x,
 * summed. (src/onnx's maskedMean divides instead, one rounding away from the reference.)
 */
function maskedMean(b: GraphBuilder, x: string, valid: string, hint: string): string {
  const count = b.op('ReduceSum', [valid, b.constInt64(`${hint}_last`, [-1])], { keepdims: attr.int(1) }, `${hint}_count`);
  const inverse = b.op('Div', [b.constFloat(`${hint}_one`, 1), b.op('Add', [count, b.constFloat(`${hint}_eps`, 1e-12)], {}, `${hint}_denom`)], {}, `${hint}_inverse`);
  const weights = b.op('Unsqueeze', [b.op('Mul', [valid, inverse], {}, `${hint}_weights`), b.constInt64(`${hint}_axis2`, [2])], {}, `${hint}_weights3`);
  return b.op('ReduceSum', [b.op('Mul', [x, weights], {}, `${hint}_weighted`), b.constInt64(`${hint}_axis1`, [1])], { keepdims: attr.int(0) }, hint);
}

/** One HT block (src/model/sequence-block.ts): x [B, L, d], validKeys bool [B, L] -> [B, d]. */
function sequenceBlock(c: RecipeContext, prefix: string, x: string, validKeys: string): string {
  const { b, params, config } = c;
  const { width, maxPositions, layersPerBlock, heads } = config.recipe;
  const positions = params.get(`${prefix}.pos_encoder.weight`, [maxPositions, width]);
  let h = addLearnedPositions(b, x, b.initializer(`${prefix}.pos_encoder.weight`, positions.data, positions.dims), `${prefix}_positions`);
  const scoreBias = keyScoreBias(b, validKeys, `${prefix}_score_bias`);
  for (let i = 0; i < layersPerBlock; i++) {
    h = encoderLayer(b, h, params, `${prefix}.tf.layers.${i}`, { heads, eps: config.layerNormEps, scoreBias });
  }
  const validFloat = b.op('Cast', [validKeys], { to: attr.int(DataType.float32) }, `${prefix}_valid`);
  return maskedMean(b, h, validFloat, `${prefix}_mean`);
}

function notPadding(b: GraphBuilder, ids: string, hint: string): string {
  return b.op('Not', [b.op('Equal', [ids, b.initializer(`${hint}_pad`, BigInt64Array.of(0n), [])], {}, `${hint}_is_pad`)], {}, hint);
}

function encodeTitle(c: RecipeContext, ids: string): string {
  const words = embedding(c.b, c.table, ids, 'title_words');
  return sequenceBlock(c, 'text_encoder.tfs.title', words, notPadding(c.b, ids, 'title_valid'));
}

/**
 * A line list [B, L, T]: each line over its words (position 0 always valid, so an empty line pools
 * to a defined vector), then the line vectors over the list with all-padding lines masked.
 */
function encodeLines(c: RecipeContext, name: LineComponentName, ids: string): string {
  const { b } = c;
  const idShape = b.op('Shape', [ids], {}, `${name}_shape`);
  const wordCount = b.op('Slice', [idShape, b.constInt64(`${name}_t_from`, [2]), b.constInt64(`${name}_t_to`, [3])], {}, `${name}_word_count`);
  const flatShape = b.op('Concat', [b.constInt64(`${name}_all_lines`, [-1]), wordCount], { axis: attr.int(0) }, `${name}_flat_shape`);
  const flat = b.op('Reshape', [ids, flatShape], {}, `${name}_flat_ids`); // [B*L, T]

  const positions = b.op('Range', [
    b.initializer(`${name}_range_start`, BigInt64Array.of(0n), []),
    b.op('Squeeze', [wordCount, b.constInt64(`${name}_squeeze_axis`, [0])], {}, `${name}_word_count_scalar`),
    b.initializer(`${name}_range_step`, BigInt64Array.of(1n), []),
  ], {}, `${name}_positions`);
  const isFirst = b.op('Equal', [positions, b.initializer(`${name}_first`, BigInt64Array.of(0n), [])], {}, `${name}_is_first`);
  const wordValid = b.op('Or', [notPadding(b, flat, `${name}_word_real`), isFirst], {}, `${name}_word_valid`);
  const words = embedding(b, c.table, flat, `${name}_words`);
  const lines = sequenceBlock(c, `text_encoder.tfs.${name}`, words, wordValid); // [B*L, d]

  const realIds = b.op('Cast', [notPadding(b, ids, `${name}_id_real`)], { to: attr.int(DataType.float32) }, `${name}_id_real_float`);
  const idsPerLine = b.op('ReduceSum', [realIds, b.constInt64(`${name}_id_axis`, [2])], { keepdims: attr.int(0) }, `${name}_ids_per_line`);
  const lineValid = b.op('Greater', [idsPerLine, b.constFloat(`${name}_zero_ids`, 0)], {}, `${name}_line_valid`);
  const listShape = b.op('Concat', [
    b.op('Slice', [idShape, b.constInt64(`${name}_bl_from`, [0]), b.constInt64(`${name}_bl_to`, [2])], {}, `${name}_batch_lines`),
    b.constInt64(`${name}_width`, [c.config.recipe.width]),
  ], { axis: attr.int(0) }, `${name}_list_shape`);
  const lineSeq = b.op('Reshape', [lines, listShape], {}, `${name}_line_vectors`); // [B, L, d]
  return sequenceBlock(c, `text_encoder.merger.${name}`, lineSeq, lineValid);
}

/** Emit e_R = tanh(merger_recipe([f_t; f_i; f_s])) reading the three id inputs; returns its value name. */
export function emitRecipeEncoder(
  b: GraphBuilder, params: ExportParams, config: ModelConfig, inputs: Record<ComponentName, string>,
): string {
  const table = params.get('text_encoder.word_embedding.weight', [config.vocabSize, config.recipe.width]);
  const c: RecipeContext = { b, params, config, table: b.initializer('text_encoder.word_embedding.weight', table.data, table.dims) };
  const features: Record<ComponentName, string> = {
    title: encodeTitle(c, inputs.title),
    ingredients: encodeLines(c, LINE_COMPONENTS[0], inputs.ingredients),
    instructions: encodeLines(c, LINE_COMPONENTS[1], inputs.instructions),
  };
  const joined = b.op('Concat', COMPONENTS.map((name) => features[name]), { axis: attr.int(1) }, 'recipe_features');
  return tanh(b, linear(b, joined, params.linear('merger_recipe'), 'merger_recipe'), 'recipe_embedding');
}

/**
 * recipe_encoder.onnx as a ModelProto: the export serializes it, the seed import
 * (src/import/seed-graphs.ts) streams it to disk.
 */
export function recipeEncoderModelProto(params: ExportParams, config: ModelConfig, metadata: Record<string, string> = {}): OnnxTypes.ModelProto {
  const b = new GraphBuilder('recipe_encoder');
  const io = recipeEncoderInterface(config);
  b.reserve(...io.outputs.map((o) => o.name));
  const [title, ingredients, instructions] = io.inputs.map((i) => b.input(i.name, i.dtype, i.shape));
  const out = emitRecipeEncoder(b, params, config, { title, ingredients, instructions });
  b.output(out, EMBEDDING_OUTPUT, 'float32', io.outputs[0].shape);
  return b.toModel({ docString: 'HT hierarchical recipe encoder: word ids (0 = padding) -> e_R', metadata });
}

/** recipe_encoder.onnx as bytes. */
export function buildRecipeEncoderModel(params: ExportParams, config: ModelConfig, metadata: Record<string, string> = {}): Uint8Array {
  return onnx.ModelProto.encode(recipeEncoderModelProto(params, config, metadata)).finish();
}
