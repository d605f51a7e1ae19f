import * as tf from '@tensorflow/tfjs';
import type { ParamReader } from './param-store.js';
import { SeedStream, type LayerContext } from './layer-context.js';

type SaveFn = (tensors: tf.Tensor[]) => void;

/** The engine field the nested gradient pass overwrites (tf.js 4.x keeps a single active tape). */
interface EngineWithTape {
  state: { activeTape: unknown };
  gradients(
    f: () => tf.Tensor, xs: tf.Tensor[], dy?: tf.Tensor, allowNoGradients?: boolean,
  ): { value: tf.Tensor; grads: Array<tf.Tensor | undefined> };
}

/**
 * Run `fn` as one node of the gradient tape that keeps only its inputs (gradient checkpointing).
 * tf.js holds every taped intermediate and every intermediate's gradient until backprop ends,
 * which for a transformer at batch 32 exceeds the wasm backend's 4 GB heap; here the block's
 * forward runs untaped, and backprop re-runs it under a nested tape (same dropout seeds) to get
 * the gradients of its inputs and of the parameters it names. Costs one extra forward per block.
 *
 * `inputs` must hold every tensor fn reads besides parameters (constants included: tensors that
 * are not inputs are disposed before backprop). fn must read only the parameters in `paramNames`.
 */
export function checkpointed(
  params: ParamReader, paramNames: readonly string[], inputs: tf.Tensor[], ctx: LayerContext,
  fn: (params: ParamReader, inputs: tf.Tensor[], ctx: LayerContext) => tf.Tensor,
): tf.Tensor {
  // The block draws its dropout seeds from its own stream either way, so its masks do not depend
  // on whether it is checkpointed.
  const base = ctx.seeds.next();
  if (!ctx.checkpoint) return fn(params, inputs, { ...ctx, seeds: new SeedStream(base) });
  const run = (tensors: readonly tf.Tensor[]): tf.Tensor => {
    const byName = new Map(paramNames.map((name, i) => [name, tensors[inputs.length + i]]));
    const reader: ParamReader = {
      get(name: string): tf.Tensor {
        const t = byName.get(name);
        if (!t) throw new Error(`checkpointed block read parameter ${name} it did not declare`);
        return t;
      },
      names: () => [...paramNames],
    };
    return fn(reader, tensors.slice(0, inputs.length), { ...ctx, seeds: new SeedStream(base) });
  };
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as SaveFn;
    const xs = args as tf.Tensor[];
    save(xs);
    return { value: run(xs), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => recomputeGradients(run, saved, dy) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (...xs: tf.Tensor[]) => tf.Tensor;
  return op(...inputs, ...paramNames.map((name) => params.get(name)));
}

function recomputeGradients(
  run: (tensors: readonly tf.Tensor[]) => tf.Tensor, saved: tf.Tensor[], dy: tf.Tensor,
): tf.Tensor[] {
  const engine = tf.engine() as unknown as EngineWithTape;
  // The nested pass replaces, then clears, the engine's tape; the outer backprop still needs it
  // to free its saved tensors at the end.
  const outerTape = engine.state.activeTape;
  try {
    const { value, grads } = engine.gradients(() => run(saved), saved, dy, true);
    value.dispose();
    // Inputs the block does not differentiate (masks, ids) get zeros, as customGrad needs one per input.
    return saved.map((x, i) => grads[i] ?? tf.zerosLike(x));
  } finally {
    engine.state.activeTape = outerTape;
  }
}
