import * as tf from '@tensorflow/tfjs';

/** The parts of the wasm backend a JS kernel uses (it has no public TypeScript type for them). */
interface WasmBackendLike {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): tf.backend_util.TypedArray;
}

/**
 * UnsortedSegmentSum: out[s, ...] = sum of x[i, ...] over i with segmentIds[i] = s. It is the
 * gradient of tf.gather (every embedding lookup), and tfjs-backend-wasm 4.22 does not have it.
 * Ids outside [0, numSegments) are dropped, as TensorFlow does for negative ids. Sums accumulate in
 * float64 (like the cpu backend's Sum) and are rounded once.
 */
/**
 * out[s * inner + j] = sum of values[i * inner + j] over i with ids[i] = s; ids outside
 * [0, numSegments) are dropped, as TensorFlow does for negative ids. Accumulates in float64 (like
 * the cpu backend's Sum) and rounds once.
 */
export function segmentSumValues(
  values: ArrayLike<number>, ids: ArrayLike<number>, numSegments: number, inner: number,
): Float64Array {
  const sums = new Float64Array(numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const segment = ids[i];
    if (segment < 0 || segment >= numSegments) continue;
    const src = i * inner;
    const dst = segment * inner;
    for (let j = 0; j < inner; j++) sums[dst + j] += values[src + j];
  }
  return sums;
}

/**
 * UnsortedSegmentSum: the gradient of tf.gather (every embedding lookup); tfjs-backend-wasm 4.22
 * does not have it.
 */
const unsortedSegmentSum: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const wasm = backend as unknown as WasmBackendLike;
  // readSync copies out of the heap, so these stay valid if makeOutput grows the heap.
  const values = wasm.readSync(x.dataId) as Float32Array | Int32Array;
  const ids = wasm.readSync(segmentIds.dataId) as Int32Array;
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const sums = segmentSumValues(values, ids, numSegments, innerShape.reduce((a, b) => a * b, 1));
  const out = wasm.makeOutput([numSegments, ...innerShape], x.dtype);
  wasm.typedArrayFromHeap(out).set(sums);
  return out;
};

/** Kernels training needs that tfjs-backend-wasm lacks, implemented in JS over the wasm heap. */
const MISSING_WASM_KERNELS: ReadonlyArray<{ kernelName: string; kernelFunc: tf.KernelFunc }> = [
  { kernelName: 'UnsortedSegmentSum', kernelFunc: unsortedSegmentSum },
];

/**
 * Register the JS kernels for the wasm backend. Idempotent: a kernel already present (registered
 * earlier, or by a later tfjs release) is left alone. Returns the names registered by this call.
 */
export function registerWasmKernels(): string[] {
  const registered: string[] = [];
  for (const { kernelName, kernelFunc } of MISSING_WASM_KERNELS) {
    if (tf.getKernel(kernelName, 'wasm')) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
    registered.push(kernelName);
  }
  return registered;
}

/** Names of the kernels this module supplies for wasm. */
export function wasmKernelNames(): string[] {
  return MISSING_WASM_KERNELS.map((k) => k.kernelName);
}
