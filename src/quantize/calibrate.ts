import * as ort from 'onnxruntime-node';
import { onnx, type OnnxTypes } from '../onnx/proto.js';
import type { ActivationRange } from './qdq-graph.js';

/**
 * 'minmax': the extremes over all inputs. 'mean-minmax': the mean over inputs of each input's own
 * extremes, which clips the rare outlier activations of a few photos and gives every other value a
 * finer step.
 */
export type CalibrationMethod = 'minmax' | 'mean-minmax';

export type CalibrationFeed = Record<string, ort.Tensor>;

/**
 * Observed min/max of `tensors` over the calibration inputs: the float model is run once per
 * input with those intermediate tensors added as graph outputs (onnxruntime then keeps and returns
 * them). One input at a time keeps memory at one set of activation maps.
 */
export async function calibrateRanges(
  model: OnnxTypes.IModelProto,
  tensors: readonly string[],
  inputs: AsyncIterable<CalibrationFeed> | Iterable<CalibrationFeed>,
  opts: { threads?: number; method?: CalibrationMethod; onProgress?: (done: number) => void } = {},
): Promise<Map<string, ActivationRange>> {
  const instrumented = onnx.ModelProto.create({
    ...model,
    graph: {
      ...model.graph,
      output: [
        ...(model.graph?.output ?? []),
        ...tensors.map((name) => ({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } })),
      ],
    },
  });
  const bytes = onnx.ModelProto.encode(instrumented).finish();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads ?? 0,
    // No fusions: every tensor named here must survive as itself.
    graphOptimizationLevel: 'disabled',
    logSeverityLevel: 3,
  });
  const ranges = new Map<string, ActivationRange>(tensors.map((t) => [t, { min: Infinity, max: -Infinity }]));
  const method = opts.method ?? 'minmax';
  let done = 0;
  try {
    for await (const feed of inputs) {
      const out = await session.run(feed, [...tensors]);
      for (const t of tensors) {
        const data = out[t].data as Float32Array;
        const r = ranges.get(t)!;
        let lo = Infinity;
        let hi = -Infinity;
        for (let i = 0; i < data.length; i++) {
          const v = data[i];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        if (method === 'minmax') {
          r.min = Math.min(r.min, lo);
          r.max = Math.max(r.max, hi);
        } else {
          r.min = done === 0 ? lo : r.min + (lo - r.min) / (done + 1);
          r.max = done === 0 ? hi : r.max + (hi - r.max) / (done + 1);
        }
      }
      done++;
      opts.onProgress?.(done);
    }
  } finally {
    await session.release();
  }
  if (done === 0) throw new Error('calibration needs at least one input');
  return ranges;
}
