import * as tf from '@tensorflow/tfjs';

/**
 * Dropout seeds drawn in call order. Seeded masks make a recomputed forward (gradient
 * checkpointing) draw exactly the masks the first pass drew.
 */
export class SeedStream {
  private count = 0;
  constructor(private readonly base: string) {}

  static random(): SeedStream {
    return new SeedStream(Math.floor(Math.random() * 2 ** 31).toString(36));
  }

  next(): string {
    return `${this.base}.${this.count++}`;
  }
}

/** Settings every layer needs besides its parameters. */
export interface LayerContext {
  /** Dropout is active only while training (PyTorch train() vs eval()). */
  training: boolean;
  dropout: number;
  layerNormEps: number;
  seeds: SeedStream;
  /** Recompute blocks during backprop instead of keeping their activations (see checkpoint.ts). */
  checkpoint: boolean;
  /**
   * When set, each feed-forward block records min |pre-activation| / max |pre-activation| of its
   * ReLU under its prefix (smallest over calls): how close a gate is to flipping. Diagnostics only
   * (verify-train-step); it reads values back, so it slows the forward.
   */
  gateMargins?: Map<string, number>;
}

/** The dropout rate in effect: 0 when not training. */
export function activeDropout(ctx: LayerContext): number {
  return ctx.training ? ctx.dropout : 0;
}

/** Inverted-dropout mask scaled by 1/(1-rate), drawn from a seed. */
export function dropoutMask(shape: number[], rate: number, seed: string): tf.Tensor {
  return tf.div(tf.cast(tf.greaterEqual(tf.randomUniform(shape, 0, 1, 'float32', seed), rate), 'float32'), 1 - rate);
}

type SaveFn = (tensors: tf.Tensor[]) => void;

/*
 * Dropout as one custom-gradient op keeping only the scaled mask for backprop (tf.dropout's
 * composed ops keep four activation-sized tensors). The rate and seed are per call.
 */
function dropoutOp(rate: number, seed: string): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad(((x: tf.Tensor, save: SaveFn) => {
    const mask = dropoutMask(x.shape, rate, seed);
    save([mask]);
    return { value: tf.mul(x, mask), gradFunc: (dy: tf.Tensor, [m]: tf.Tensor[]) => [tf.mul(dy, m)] };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;
}

export function dropout(x: tf.Tensor, ctx: LayerContext): tf.Tensor {
  const rate = activeDropout(ctx);
  return rate > 0 ? dropoutOp(rate, ctx.seeds.next())(x) : x;
}
