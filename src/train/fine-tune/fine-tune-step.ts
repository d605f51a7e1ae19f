import * as tf from '@tensorflow/tfjs';
import { forward, type ModelOutputs } from '../../model/forward.js';
import type { RecipeTokens } from '../../model/recipe-encoder.js';
import { trunkFrozenPart, trunkTrainedPart, type BatchNormUpdate } from '../../model/resnet-trunk.js';
import type { AdamW } from '../adamw.js';
import type { FineTuneModel } from './fine-tune-model.js';
import { seedLossTerms, type SeedObjective } from './seed-objective.js';

export interface FineTuneBatch {
  /** ImageNet-normalised photos, NHWC [N, 224, 224, 3]. */
  images: tf.Tensor4D;
  recipe: RecipeTokens;
  /** Multi-hot ingredient labels [N, K]. */
  targets: tf.Tensor2D;
}

export interface StepOptions {
  /** Stage 2: the ingredient dictionary D [K, recipe width]. */
  dictionary?: tf.Tensor2D;
  /** Dropout seed for this step (random when absent). */
  dropoutSeed?: string;
  /** Gradient checkpointing of the transformer blocks (default on). */
  checkpoint?: boolean;
  /** Keep the forward outputs and the gradients for inspection (verify-train-step). */
  capture?: boolean;
  /** Collect the feed-forward blocks' ReLU gate margins (diagnostics). */
  gateMargins?: Map<string, number>;
}

export interface StepResult {
  /** Every loss term by the goldens' names (float32 values). */
  losses: Map<string, number>;
  /** With capture: the training-mode forward outputs (caller disposes). */
  outputs?: ModelOutputs;
  /** With capture: each trainable parameter's gradient (caller disposes). */
  grads?: Map<string, tf.Tensor>;
}

/**
 * One iteration of the seed's train(): model.train() forward (batch statistics in every BatchNorm,
 * the frozen ones too), the seed's loss, backward into layer2-4 and the heads only, one AdamW step
 * over every trainable tensor, then the running statistics move.
 */
export function fineTuneStep(
  model: FineTuneModel, optimizer: AdamW, batch: FineTuneBatch, objective: SeedObjective, opts: StepOptions = {},
): StepResult {
  const updates: BatchNormUpdate[] = [];
  const mode = { training: true, updates };
  // The frozen stem and layer1 run outside the tape: back-propagation stops at layer2's input.
  const frozen = tf.tidy(() => trunkFrozenPart(model.params, model.batchNorm, model.stemWidth, batch.images, mode));
  let kept: { terms: Map<string, tf.Scalar>; outputs?: ModelOutputs } | undefined;
  const variables = model.trainable.map((n) => model.params.get(n));
  const { value, grads } = tf.variableGrads(() => {
    const features = trunkTrainedPart(model.params, model.batchNorm, model.stemWidth, frozen, mode);
    const outputs = forward(model.params, model.config, { imageFeatures: features, recipe: batch.recipe }, {
      training: true, classify: true, dictionary: model.debias ? opts.dictionary : undefined,
      dropoutSeed: opts.dropoutSeed, checkpoint: opts.checkpoint ?? true, gateMargins: opts.gateMargins,
    });
    const terms = seedLossTerms(outputs, batch.targets, objective);
    for (const t of terms.values()) tf.keep(t);
    if (opts.capture) keepAll(outputs);
    kept = { terms, outputs: opts.capture ? outputs : undefined };
    return terms.get('total')!;
  }, variables);
  frozen.dispose();
  const byName = new Map<string, tf.Tensor>();
  model.trainable.forEach((name, i) => {
    const g = grads[variables[i].name];
    if (g) byName.set(name, g);
  });
  // Parameters the loss does not reach get no gradient and, as in PyTorch, no step.
  optimizer.step(model.params, byName);
  model.batchNorm.apply(updates);
  const losses = new Map<string, number>();
  for (const [name, t] of kept!.terms) {
    losses.set(name, t.dataSync()[0]);
  }
  const distinct = new Set<tf.Tensor>(kept!.terms.values());
  distinct.add(value);
  for (const t of distinct) if (!t.isDisposed) t.dispose();
  if (!opts.capture) for (const g of byName.values()) g.dispose();
  return { losses, outputs: kept!.outputs, grads: opts.capture ? byName : undefined };
}

function keepAll(value: unknown): void {
  if (value instanceof tf.Tensor) {
    tf.keep(value);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) keepAll(v);
  }
}
