import * as tf from '@tensorflow/tfjs';
import type { ParamStore } from '../model/param-store.js';

export interface AdamWOptions {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay (torch.optim.AdamW default 0.01; the seed uses 0.01). */
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { learningRate: 1e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };

/**
 * torch.optim.AdamW (amsgrad off): p *= 1 - lr*wd; m, v moments; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * Parameters without a gradient this step are left alone (no decay either), as in PyTorch.
 * State is kept per parameter name so it can be checkpointed beside the weights.
 */
export class AdamW {
  readonly options: AdamWOptions;
  /** The scheduler sets this (step decay x0.1 every 30 epochs). */
  learningRate: number;
  private readonly expAvg = new Map<string, tf.Variable>();
  private readonly expAvgSq = new Map<string, tf.Variable>();
  private readonly steps = new Map<string, number>();

  constructor(options: Partial<AdamWOptions> = {}) {
    this.options = { ...ADAMW_DEFAULTS, ...options };
    this.learningRate = this.options.learningRate;
  }

  /** Apply one update to the parameters named in `grads`. */
  step(params: ParamStore, grads: ReadonlyMap<string, tf.Tensor>): void {
    const { beta1, beta2, epsilon, weightDecay } = this.options;
    const lr = this.learningRate;
    for (const [name, grad] of grads) {
      const param = params.get(name);
      if (!this.expAvg.has(name)) {
        this.expAvg.set(name, tf.variable(tf.zerosLike(param), false));
        this.expAvgSq.set(name, tf.variable(tf.zerosLike(param), false));
        this.steps.set(name, 0);
      }
      const m = this.expAvg.get(name)!;
      const v = this.expAvgSq.get(name)!;
      const t = this.steps.get(name)! + 1;
      this.steps.set(name, t);
      tf.tidy(() => {
        const decayed = tf.mul(param, 1 - lr * weightDecay);
        const newM = tf.add(tf.mul(m, beta1), tf.mul(grad, 1 - beta1));
        const newV = tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), 1 - beta2));
        const stepSize = lr / (1 - beta1 ** t);
        const denom = tf.add(tf.div(tf.sqrt(newV), Math.sqrt(1 - beta2 ** t)), epsilon);
        m.assign(newM);
        v.assign(newV);
        param.assign(tf.sub(decayed, tf.mul(tf.div(newM, denom), stepSize)));
      });
    }
  }

  /** Moments and step counts by parameter name, for a checkpoint (live tensors: read, do not dispose). */
  state(): { steps: Map<string, number>; expAvg: Map<string, tf.Tensor>; expAvgSq: Map<string, tf.Tensor> } {
    return { steps: new Map(this.steps), expAvg: new Map(this.expAvg), expAvgSq: new Map(this.expAvgSq) };
  }

  /** Restore what `state()` returned (tensors are copied). */
  loadState(state: { steps: ReadonlyMap<string, number>; expAvg: ReadonlyMap<string, tf.Tensor>; expAvgSq: ReadonlyMap<string, tf.Tensor> }): void {
    this.dispose();
    for (const [name, t] of state.steps) {
      const m = state.expAvg.get(name);
      const v = state.expAvgSq.get(name);
      if (!m || !v) throw new Error(`optimizer state for ${name} lacks its moments`);
      this.steps.set(name, t);
      this.expAvg.set(name, tf.variable(m, false));
      this.expAvgSq.set(name, tf.variable(v, false));
    }
  }

  dispose(): void {
    for (const v of this.expAvg.values()) v.dispose();
    for (const v of this.expAvgSq.values()) v.dispose();
    this.expAvg.clear();
    this.expAvgSq.clear();
    this.steps.clear();
  }
}
