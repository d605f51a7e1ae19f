import type { AttentionParams } from '../../src/onnx/attention.js';
import type { GraphBuilder } from '../../src/onnx/graph-builder.js';
import { layerNorm, linear, relu, type LayerNormParams, type LinearParams } from '../../src/onnx/nn-blocks.js';
import { multiHeadAttention } from './onnx-attention.js';

/** nn.TransformerEncoderLayer parameters (names follow its state-dict keys). */
export interface EncoderLayerParams {
  selfAttn: AttentionParams;
  linear1: LinearParams;
  linear2: LinearParams;
  norm1: LayerNormParams;
  norm2: LayerNormParams;
}

export interface EncoderLayerOptions {
  numHeads: number;
  /** LayerNorm epsilon (PyTorch default 1e-5). */
  epsilon?: number;
  /** bool [B, L], true = padding. */
  keyPaddingMask?: string;
}

/**
 * Post-norm nn.TransformerEncoderLayer (norm_first=False, ReLU, inference so no dropout):
 * h = LN1(x + SA(x)); y = LN2(h + linear2(relu(linear1(h)))). x is [B, L, d].
 */
export function transformerEncoderLayer(
  b: GraphBuilder,
  x: string,
  p: EncoderLayerParams,
  opts: EncoderLayerOptions,
  hint = 'encoder_layer',
): string {
  const eps = opts.epsilon ?? 1e-5;
  const attended = multiHeadAttention(
    b,
    { query: x, key: x, value: x, keyPaddingMask: opts.keyPaddingMask },
    p.selfAttn,
    opts.numHeads,
    `${hint}.self_attn`,
  );
  const h = layerNorm(b, b.op('Add', [x, attended], {}, `${hint}_residual1`), p.norm1, eps, `${hint}.norm1`);
  const ff = linear(b, relu(b, linear(b, h, p.linear1, `${hint}.linear1`), `${hint}_relu`), p.linear2, `${hint}.linear2`);
  return layerNorm(b, b.op('Add', [h, ff], {}, `${hint}_residual2`), p.norm2, eps, `${hint}.norm2`);
}
