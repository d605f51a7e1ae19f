import * as tf from '@tensorflow/tfjs';
import { segmentSumValues } from '../tf/wasm-kernels.js';

type SaveFn = (tensors: tf.Tensor[]) => void;

/*
 * Embedding lookup with a gradient computed in JS: one dense [V, d] tensor, summed by id. tf.gather's
 * own gradient adds a transpose copy of that [V, d] tensor per call (all kept until backprop ends),
 * and its UnsortedSegmentSum is missing on wasm and O(V * tokens * d) on the cpu backend.
 */
const lookup = tf.customGrad(((ids: tf.Tensor1D, table: tf.Tensor2D, save: SaveFn) => {
  save([ids]);
  const [vocab, width] = table.shape;
  return {
    value: tf.gather(table, ids),
    gradFunc: (dy: tf.Tensor2D, [savedIds]: tf.Tensor[]) => {
      const sums = segmentSumValues(dy.dataSync(), savedIds.dataSync(), vocab, width);
      return [tf.zeros(savedIds.shape), tf.tensor2d(Float32Array.from(sums), [vocab, width])];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (ids: tf.Tensor, table: tf.Tensor) => tf.Tensor;

/**
 * Rows of `table` [V, d] for several id tensors at once (one lookup, so one gradient tensor):
 * returns one [...ids.shape, d] tensor per input.
 */
export function embedAll(table: tf.Tensor2D, idTensors: readonly tf.Tensor[]): tf.Tensor[] {
  const d = table.shape[1];
  const flat = tf.concat(idTensors.map((ids) => tf.reshape(ids, [-1])));
  const rows = lookup(flat, table);
  const parts = tf.split(rows, idTensors.map((ids) => ids.size), 0);
  return parts.map((part, i) => tf.reshape(part, [...idTensors[i].shape, d]));
}
