import { UserError } from '../util/errors.js';
import type { Tensor32 } from '../onnx/weights.js';
import type { AttentionParams } from '../onnx/attention.js';
import type { LayerNormParams, LinearParams } from '../onnx/nn-blocks.js';

/**
 * Parameters (state-dict names, PyTorch layouts) handed to the graph emitters. Every read is
 * recorded, so that after emitting the exporter can list what it did not translate: a checkpoint
 * parameter no emitter read is a part of the model the ONNX graphs would silently leave out.
 */
export class ExportParams {
  private readonly used = new Set<string>();

  constructor(private readonly tensors: ReadonlyMap<string, Tensor32>, private readonly source: string) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string, dims?: readonly number[]): Tensor32 {
    const t = this.tensors.get(name);
    if (!t) throw new UserError(`${this.source}: parameter ${name} is missing (the model config needs it)`);
    if (dims && (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i]))) {
      throw new UserError(`${this.source}: parameter ${name} has shape [${t.dims.join(',')}], the config needs [${dims.join(',')}]`);
    }
    this.used.add(name);
    return t;
  }

  linear(prefix: string): LinearParams {
    return { weight: this.get(`${prefix}.weight`), bias: this.get(`${prefix}.bias`) };
  }

  layerNorm(prefix: string): LayerNormParams {
    return { weight: this.get(`${prefix}.weight`), bias: this.get(`${prefix}.bias`) };
  }

  attention(prefix: string): AttentionParams {
    return {
      inProjWeight: this.get(`${prefix}.in_proj_weight`),
      inProjBias: this.get(`${prefix}.in_proj_bias`),
      outProj: this.linear(`${prefix}.out_proj`),
    };
  }

  /** Mark parameters as deliberately left out of the graphs (training-only heads). */
  skip(predicate: (name: string) => boolean): void {
    for (const name of this.tensors.keys()) if (predicate(name)) this.used.add(name);
  }

  /** Names nothing read or skipped. */
  unused(): string[] {
    return [...this.tensors.keys()].filter((name) => !this.used.has(name));
  }
}

/** The HT self-supervision projections P[a->b]: only the training loss uses them. */
export const isTrainingOnlyParam = (name: string): boolean => name.startsWith('projector_recipes.');
