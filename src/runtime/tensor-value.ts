/**
 * Tensors as they cross the worker boundary: plain objects with a typed array, so structured clone
 * (and buffer transfer) carries them. An `ort.Tensor` has the same three fields and is accepted as is.
 */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

export type TensorType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'bool';

export interface TensorValue {
  type: TensorType;
  dims: readonly number[];
  data: TensorData;
}

/** Named model inputs or outputs. */
export type TensorMap = Record<string, TensorValue>;

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** A zero-filled array of the right class for `type` (bool is stored as bytes, as onnxruntime does). */
export function allocate(type: TensorType, length: number): TensorData {
  switch (type) {
    case 'float32': return new Float32Array(length);
    case 'float64': return new Float64Array(length);
    case 'int32': return new Int32Array(length);
    case 'int64': return new BigInt64Array(length);
    case 'uint8': case 'bool': return new Uint8Array(length);
    case 'int8': return new Int8Array(length);
  }
}

/** Fill with a pad value; int64 needs a bigint, so numbers are converted for it. */
export function fillWith(data: TensorData, value: number | bigint): void {
  if (data instanceof BigInt64Array) data.fill(BigInt(value));
  else (data as Float32Array).fill(Number(value));
}

/** Validate a caller's tensor: known type, integer dims, data length matching the dims. */
export function checkTensor(name: string, t: TensorValue): void {
  if (!t || typeof t !== 'object' || !Array.isArray(t.dims)) {
    throw new TypeError(`input ${name}: expected {type, dims, data}`);
  }
  if (t.dims.some((d) => !Number.isInteger(d) || d < 0)) throw new TypeError(`input ${name}: dims [${t.dims.join(',')}] must be non-negative integers`);
  const expected = elementCount(t.dims);
  if (!ArrayBuffer.isView(t.data) || (t.data as TensorData).length !== expected) {
    throw new TypeError(`input ${name}: data holds ${(t.data as TensorData)?.length ?? 'no'} values, dims [${t.dims.join(',')}] need ${expected}`);
  }
}
