/**
 * The numpy objects that the seed's pickles hold, rebuilt from their pickled form:
 * - `numpy.dtype(name, align, copy)` + BUILD state (version, byte order, ...);
 * - `numpy.core.multiarray.scalar(dtype, raw bytes)`: best_recall1 in a checkpoint is a float64 scalar;
 * - `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` + BUILD (version, shape, dtype,
 *   is_fortran, raw bytes): the dictionary pickle's vectors.
 * Only plain numeric dtypes are supported: an object array would need arbitrary Python objects.
 */

export type NumpyKind = 'f' | 'i' | 'u' | 'b';

const KINDS: Record<string, { kind: NumpyKind; size: number }> = {
  f2: { kind: 'f', size: 2 }, f4: { kind: 'f', size: 4 }, f8: { kind: 'f', size: 8 },
  i1: { kind: 'i', size: 1 }, i2: { kind: 'i', size: 2 }, i4: { kind: 'i', size: 4 }, i8: { kind: 'i', size: 8 },
  u1: { kind: 'u', size: 1 }, u2: { kind: 'u', size: 2 }, u4: { kind: 'u', size: 4 }, u8: { kind: 'u', size: 8 },
  b1: { kind: 'b', size: 1 },
};

/** A numpy dtype such as '<f4'. Created by REDUCE, completed by BUILD (__setstate__). */
export class NumpyDType {
  readonly kind: NumpyKind;
  readonly itemSize: number;
  /** '<' little, '>' big, '|' not applicable (one byte). numpy pickles '<' or '|' on x86. */
  byteOrder = '<';

  constructor(readonly name: string) {
    const known = KINDS[name];
    if (!known) throw new Error(`numpy dtype ${JSON.stringify(name)} is not supported (numeric dtypes only)`);
    this.kind = known.kind;
    this.itemSize = known.size;
  }

  __setstate__(state: unknown): void {
    if (!Array.isArray(state) || typeof state[1] !== 'string') throw new Error('numpy dtype state is not (version, byteorder, ...)');
    this.byteOrder = state[1];
  }

  get littleEndian(): boolean {
    return this.byteOrder !== '>';
  }

  toString(): string {
    return `${this.byteOrder}${this.name}`;
  }
}

/** `numpy.dtype(name, align, copy)`. */
export function numpyDType(name: unknown): NumpyDType {
  if (typeof name !== 'string') throw new Error('numpy.dtype() argument is not a string');
  return new NumpyDType(name);
}

function asBytes(raw: unknown, what: string): Uint8Array {
  if (!(raw instanceof Uint8Array)) throw new Error(`${what}: raw data is not bytes`);
  return raw;
}

/** One element of `bytes` at `offset` as a JS value; 64-bit ints outside 2^53 stay bigint. */
function readElement(view: DataView, offset: number, dtype: NumpyDType): number | bigint | boolean {
  const le = dtype.littleEndian;
  switch (`${dtype.kind}${dtype.itemSize}`) {
    case 'f4': return view.getFloat32(offset, le);
    case 'f8': return view.getFloat64(offset, le);
    case 'i1': return view.getInt8(offset);
    case 'i2': return view.getInt16(offset, le);
    case 'i4': return view.getInt32(offset, le);
    case 'u1': return view.getUint8(offset);
    case 'u2': return view.getUint16(offset, le);
    case 'u4': return view.getUint32(offset, le);
    case 'b1': return view.getUint8(offset) !== 0;
    case 'i8': case 'u8': {
      const big = dtype.kind === 'i' ? view.getBigInt64(offset, le) : view.getBigUint64(offset, le);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    }
    default: throw new Error(`numpy dtype ${dtype.toString()} cannot be read as a scalar`);
  }
}

/** `numpy.core.multiarray.scalar(dtype, bytes)` -> a JS number (bigint beyond 2^53, boolean for bool). */
export function numpyScalar(dtype: unknown, raw: unknown): number | bigint | boolean {
  if (!(dtype instanceof NumpyDType)) throw new Error('numpy scalar without a numpy dtype');
  const bytes = asBytes(raw, 'numpy scalar');
  if (bytes.length !== dtype.itemSize) throw new Error(`numpy scalar of dtype ${dtype.toString()} has ${bytes.length} bytes`);
  return readElement(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, dtype);
}

/** A numpy ndarray: created empty by `_reconstruct`, filled by BUILD. */
export class NumpyArray {
  shape: number[] = [];
  dtype: NumpyDType | undefined;
  fortranOrder = false;
  data: Uint8Array = new Uint8Array(0);

  __setstate__(state: unknown): void {
    if (!Array.isArray(state) || state.length !== 5) throw new Error('numpy array state is not (version, shape, dtype, is_fortran, data)');
    const [, shape, dtype, fortran, raw] = state as unknown[];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) throw new Error('numpy array shape is not a tuple of sizes');
    if (!(dtype instanceof NumpyDType)) throw new Error('numpy array without a supported numeric dtype (object arrays are not supported)');
    this.shape = shape as number[];
    this.dtype = dtype;
    this.fortranOrder = fortran === true;
    this.data = asBytes(raw, 'numpy array');
    const expected = this.size * dtype.itemSize;
    if (this.data.length !== expected) throw new Error(`numpy array [${this.shape.join(',')}] ${dtype.toString()} has ${this.data.length} data bytes, expected ${expected}`);
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The values as float32 in C order; only for float32 arrays, so no value is converted. */
  toFloat32(): Float32Array {
    const dtype = this.dtype;
    if (!dtype || dtype.kind !== 'f' || dtype.itemSize !== 4) throw new Error(`numpy array has dtype ${dtype?.toString() ?? 'none'}, expected float32`);
    if (this.fortranOrder && this.shape.filter((d) => d > 1).length > 1) throw new Error('Fortran-ordered numpy arrays are not supported');
    const view = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    const out = new Float32Array(this.size);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, dtype.littleEndian);
    return out;
  }
}

/** `numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`: how numpy pickles arrays at protocol 5. */
export function numpyFromBuffer(buffer: unknown, dtype: unknown, shape: unknown, order: unknown): NumpyArray {
  const array = new NumpyArray();
  array.__setstate__([1, shape, dtype, order === 'F', buffer]);
  return array;
}

/** `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')`: an empty array awaiting BUILD. */
export function numpyReconstruct(): NumpyArray {
  return new NumpyArray();
}
