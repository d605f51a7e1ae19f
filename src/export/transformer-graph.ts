import { attr } from '../onnx/attributes.js';
import type { GraphBuilder } from '../onnx/graph-builder.js';
import type { AttentionParams } from '../onnx/attention.js';
import { layerNorm, linear, relu } from '../onnx/nn-blocks.js';
import { expectRank, sliceRows } from '../onnx/weights.js';
import type { ExportParams } from './export-params.js';

/**
 * Transformer blocks as the TF.js model (src/model) computes them, for the exported encoders.
 * src/onnx/attention.ts masks padded keys with -inf (PyTorch), which turns a query whose keys are
 * all padding into NaN; the TF.js model adds -1e9 instead, so such a row (a recipe without
 * ingredient lines, say) attends uniformly and is then masked out of the mean. The exported graph
 * must give the same defined value, so attention here takes an additive score bias built the same way.
 */

/** What the TF.js attention adds to the scores of padded keys (src/model/attention.ts). */
export const MASKED_SCORE = -1e9;

/** bool valid [B, L] (true = real key) -> float score bias [B, 1, 1, L]: 0 or MASKED_SCORE. */
export function keyScoreBias(b: GraphBuilder, validKeys: string, hint: string): string {
  const bias = b.op('Where', [validKeys, b.constFloat(`${hint}_zero`, 0), b.constFloat(`${hint}_masked`, MASKED_SCORE)], {}, hint);
  return b.op('Unsqueeze', [bias, b.constInt64(`${hint}_axes`, [1, 2])], {}, `${hint}_4d`);
}

export interface AttentionValues {
  query: string; // [B, Lq, d]
  key: string; // [B, Lk, d]
  value: string; // [B, Lk, d]
  /** float [B, 1, 1, Lk] added to the scores (keyScoreBias). */
  scoreBias?: string;
}

/**
 * nn.MultiheadAttention, batch first: three projections from row slices of the packed in_proj
 * (as TF.js does, whether or not q, k and v are the same value), softmax(q/sqrt(hd) k^T + bias) v.
 */
export function attention(b: GraphBuilder, x: AttentionValues, p: AttentionParams, heads: number, hint: string): string {
  const [threeD, d] = expectRank(p.inProjWeight, 2, `${hint}.in_proj_weight`);
  if (threeD !== 3 * d || d % heads !== 0) throw new Error(`${hint}: in_proj_weight [${threeD},${d}] does not fit ${heads} heads`);
  const headDim = d / heads;
  const project = (value: string, i: number): string => linear(
    b, value, { weight: sliceRows(p.inProjWeight, i * d, (i + 1) * d), bias: sliceRows(p.inProjBias, i * d, (i + 1) * d) },
    `${hint}.in_proj_${'qkv'[i]}`,
  );
  const headShape = b.constInt64(`${hint}_head_shape`, [0, 0, heads, headDim]);
  const split = (value: string, perm: number[], name: string): string =>
    b.op('Transpose', [b.op('Reshape', [value, headShape], {}, `${name}_heads`)], { perm: attr.ints(perm) }, `${name}_t`);
  const q = split(project(x.query, 0), [0, 2, 1, 3], `${hint}_q`);
  const kT = split(project(x.key, 1), [0, 2, 3, 1], `${hint}_k`);
  const v = split(project(x.value, 2), [0, 2, 1, 3], `${hint}_v`);
  const qScaled = b.op('Mul', [q, b.constFloat(`${hint}_scale`, 1 / Math.sqrt(headDim))], {}, `${hint}_q_scaled`);
  let scores = b.op('MatMul', [qScaled, kT], {}, `${hint}_scores`);
  if (x.scoreBias) scores = b.op('Add', [scores, x.scoreBias], {}, `${hint}_biased_scores`);
  const probs = b.op('Softmax', [scores], { axis: attr.int(-1) }, `${hint}_probs`);
  const context = b.op('Transpose', [b.op('MatMul', [probs, v], {}, `${hint}_context`)], { perm: attr.ints([0, 2, 1, 3]) }, `${hint}_context_t`);
  const merged = b.op('Reshape', [context, b.constInt64(`${hint}_merge_shape`, [0, 0, d])], {}, `${hint}_merged`);
  return linear(b, merged, p.outProj, `${hint}.out_proj`);
}

function feedForward(b: GraphBuilder, x: string, params: ExportParams, prefix: string): string {
  const hidden = relu(b, linear(b, x, params.linear(`${prefix}.linear1`), `${prefix}.linear1`), `${prefix}_relu`);
  return linear(b, hidden, params.linear(`${prefix}.linear2`), `${prefix}.linear2`);
}

export interface EncoderLayerOptions {
  heads: number;
  eps: number;
  /** Positional term added to queries and keys only (query2labels), [L, d] broadcast over the batch. */
  pos?: string;
  scoreBias?: string;
}

/** Post-norm encoder layer (src/model/encoder-layer.ts): x = norm1(x + attn(x)); norm2(x + ff(x)). */
export function encoderLayer(b: GraphBuilder, x: string, params: ExportParams, prefix: string, o: EncoderLayerOptions): string {
  const qk = o.pos ? b.op('Add', [x, o.pos], {}, `${prefix}_with_pos`) : x;
  const attended = attention(b, { query: qk, key: qk, value: x, scoreBias: o.scoreBias }, params.attention(`${prefix}.self_attn`), o.heads, `${prefix}.self_attn`);
  const h = layerNorm(b, b.op('Add', [x, attended], {}, `${prefix}_residual1`), params.layerNorm(`${prefix}.norm1`), o.eps, `${prefix}.norm1`);
  const ff = feedForward(b, h, params, prefix);
  return layerNorm(b, b.op('Add', [h, ff], {}, `${prefix}_residual2`), params.layerNorm(`${prefix}.norm2`), o.eps, `${prefix}.norm2`);
}

export interface DecoderLayerValues {
  target: string; // [B, K, d]
  memory: string; // [B, HW, d]
  /** Label queries [K, d], added to the target. */
  queryPos: string;
  /** Memory positions [HW, d], added to the keys. */
  memoryPos: string;
}

/** query2labels decoder layer without self-attention (src/model/decoder-layer.ts). */
export function decoderLayer(
  b: GraphBuilder, x: DecoderLayerValues, params: ExportParams, prefix: string, heads: number, eps: number,
): string {
  const query = b.op('Add', [x.target, x.queryPos], {}, `${prefix}_query`);
  const key = b.op('Add', [x.memory, x.memoryPos], {}, `${prefix}_key`);
  const attended = attention(b, { query, key, value: x.memory }, params.attention(`${prefix}.multihead_attn`), heads, `${prefix}.multihead_attn`);
  const t = layerNorm(b, b.op('Add', [x.target, attended], {}, `${prefix}_residual1`), params.layerNorm(`${prefix}.norm2`), eps, `${prefix}.norm2`);
  const ff = feedForward(b, t, params, prefix);
  return layerNorm(b, b.op('Add', [t, ff], {}, `${prefix}_residual2`), params.layerNorm(`${prefix}.norm3`), eps, `${prefix}.norm3`);
}
