import type { LinearParams } from './nn-blocks.js';
import type { Tensor32 } from './weights.js';

/** nn.MultiheadAttention parameters: packed in_proj [3d, d] (q, k, v rows in that order), out_proj. */
export interface AttentionParams {
  inProjWeight: Tensor32;
  inProjBias: Tensor32;
  outProj: LinearParams;
}
