import { endianness } from 'node:os';
import type { OnnxTypes } from './proto.js';
import { DataType } from './proto.js';

/** Constant tensor data the builder can store as an initializer. */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

export function dtypeOf(data: TensorData): keyof typeof DataType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

/**
 * A TensorProto holding `data` as raw_data. ONNX requires raw_data little-endian; on a little-endian
 * host that is the array's own memory, shared without a copy (the 100 MB backbone would otherwise
 * be copied once more before serialisation).
 */
export function tensorProto(name: string, data: TensorData, dims: readonly number[]): OnnxTypes.ITensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new Error(`initializer ${name}: ${data.length} values do not fill dims [${dims.join(',')}]`);
  }
  return {
    name,
    dataType: DataType[dtypeOf(data)],
    dims: [...dims],
    rawData: LITTLE_ENDIAN_HOST ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : toLittleEndian(data),
  };
}

function toLittleEndian(data: TensorData): Uint8Array {
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else if (data instanceof BigInt64Array) data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  else if (data instanceof Int32Array) data.forEach((v, i) => view.setInt32(i * 4, v, true));
  else out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return out;
}
