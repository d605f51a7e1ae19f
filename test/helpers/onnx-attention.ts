import { attr } from '../../src/onnx/attributes.js';
import type { AttentionParams } from '../../src/onnx/attention.js';
import type { GraphBuilder } from '../../src/onnx/graph-builder.js';
import { linear } from '../../src/onnx/nn-blocks.js';
import { expectRank, sliceRows } from '../../src/onnx/weights.js';

/**
 * A generic ONNX nn.MultiheadAttention, for tests: the exported graphs emit their attention in
 * src/export/transformer-graph.ts; this one checks the building blocks against PyTorch's semantics.
 */

export interface AttentionInputs {
  /** [B, Lq, d] */
  query: string;
  /** [B, Lk, d]; the same name as query (and value) means self-attention. */
  key: string;
  /** [B, Lk, d] */
  value: string;
  /** Optional bool [B, Lk], true = padding (PyTorch key_padding_mask): those keys get -inf scores. */
  keyPaddingMask?: string;
}

/**
 * PyTorch nn.MultiheadAttention (batch first, no dropout): project q/k/v, split into heads,
 * softmax(q k^T / sqrt(head_dim) + mask) v, merge heads, out_proj. Batch and both sequence lengths
 * stay dynamic (reshapes use 0 = "copy this dim"). As in PyTorch, a query whose keys are all
 * masked gets NaN: callers keep at least one valid key per row.
 */
export function multiHeadAttention(
  b: GraphBuilder,
  inputs: AttentionInputs,
  p: AttentionParams,
  numHeads: number,
  hint = 'mha',
): string {
  const [threeD, d] = expectRank(p.inProjWeight, 2, `${hint}.in_proj_weight`);
  if (threeD !== 3 * d) throw new Error(`${hint}.in_proj_weight: dims [${threeD},${d}] are not [3d, d]`);
  if (p.inProjBias.data.length !== threeD) throw new Error(`${hint}.in_proj_bias: ${p.inProjBias.data.length} values, expected ${threeD}`);
  if (d % numHeads !== 0) throw new Error(`${hint}: width ${d} is not divisible by ${numHeads} heads`);
  const headDim = d / numHeads;

  const [q, k, v] = projectQkv(b, inputs, p, d, hint);
  const headShape = b.constInt64(`${hint}_head_shape`, [0, 0, numHeads, headDim]);
  const split = (x: string, perm: number[], name: string): string =>
    b.op('Transpose', [b.op('Reshape', [x, headShape], {}, `${name}_heads`)], { perm: attr.ints(perm) }, `${name}_t`);
  const qh = split(q, [0, 2, 1, 3], `${hint}_q`); // [B, h, Lq, hd]
  const khT = split(k, [0, 2, 3, 1], `${hint}_k`); // [B, h, hd, Lk]
  const vh = split(v, [0, 2, 1, 3], `${hint}_v`); // [B, h, Lk, hd]

  const qScaled = b.op('Mul', [qh, b.constFloat(`${hint}_scale`, 1 / Math.sqrt(headDim))], {}, `${hint}_q_scaled`);
  let scores = b.op('MatMul', [qScaled, khT], {}, `${hint}_scores`); // [B, h, Lq, Lk]
  if (inputs.keyPaddingMask) scores = b.op('Add', [scores, maskBias(b, inputs.keyPaddingMask, hint)], {}, `${hint}_masked_scores`);
  const probs = b.op('Softmax', [scores], { axis: attr.int(-1) }, `${hint}_probs`);
  const context = b.op('MatMul', [probs, vh], {}, `${hint}_context`); // [B, h, Lq, hd]
  const merged = b.op(
    'Reshape',
    [b.op('Transpose', [context], { perm: attr.ints([0, 2, 1, 3]) }, `${hint}_context_t`), b.constInt64(`${hint}_merge_shape`, [0, 0, d])],
    {},
    `${hint}_merged`,
  );
  return linear(b, merged, p.outProj, `${hint}.out_proj`);
}

/** Self-attention uses one packed [d, 3d] MatMul and a Split; otherwise three separate projections. */
function projectQkv(b: GraphBuilder, inputs: AttentionInputs, p: AttentionParams, d: number, hint: string): string[] {
  if (inputs.query === inputs.key && inputs.key === inputs.value) {
    const qkv = linear(b, inputs.query, { weight: p.inProjWeight, bias: p.inProjBias }, `${hint}.in_proj`);
    return b.opMulti('Split', [qkv, b.constInt64(`${hint}_qkv_sizes`, [d, d, d])], 3, { axis: attr.int(-1) }, `${hint}_qkv`);
  }
  return [inputs.query, inputs.key, inputs.value].map((x, i) =>
    linear(
      b,
      x,
      { weight: sliceRows(p.inProjWeight, i * d, (i + 1) * d), bias: sliceRows(p.inProjBias, i * d, (i + 1) * d) },
      `${hint}.in_proj_${'qkv'[i]}`,
    ),
  );
}

/** bool [B, Lk] (true = padding) -> additive float [B, 1, 1, Lk]: -inf where padded, 0 elsewhere. */
function maskBias(b: GraphBuilder, paddingMask: string, hint: string): string {
  const bias = b.op(
    'Where',
    [paddingMask, b.constFloat(`${hint}_neg_inf`, -Infinity), b.constFloat(`${hint}_zero`, 0)],
    {},
    `${hint}_mask_bias`,
  );
  return b.op('Unsqueeze', [bias, b.constInt64(`${hint}_mask_axes`, [1, 2])], {}, `${hint}_mask_bias4`);
}
