/**
 * IEEE 754 binary16 <-> binary32 conversion, for the feature cache (halves its size: 200 KB per 7x7x2048 map).
 * float32 -> float16 rounds to nearest, ties to even, like hardware conversion and Python's struct 'e'
 * (overflow gives +-Inf, tiny values become subnormals or signed zero, NaN stays NaN).
 * float16 -> float32 is exact, through a 65,536-entry table (256 KB, built on first use).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bit pattern nearest to x (x is first rounded to float32, as Math.fround does). */
export function toFloat16Bits(x: number): number {
  f32[0] = x;
  return bitsToHalf(u32[0]);
}

/** The value of a binary16 bit pattern (0..65535). */
export function fromFloat16Bits(h: number): number {
  return halfTable()[h & 0xffff];
}

/** Encode float32 values into binary16 bit patterns; dst defaults to a new array of src's length. */
export function encodeFloat16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (dst.length < src.length) throw new RangeError(`encodeFloat16: dst holds ${dst.length}, needs ${src.length}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = bitsToHalf(bits[i]);
  return dst;
}

/** Decode binary16 bit patterns into float32; dst defaults to a new array of src's length. */
export function decodeFloat16(src: Uint16Array, dst: Float32Array = new Float32Array(src.length), dstOffset = 0): Float32Array {
  if (dst.length - dstOffset < src.length) throw new RangeError(`decodeFloat16: dst has room for ${dst.length - dstOffset}, needs ${src.length}`);
  const table = halfTable();
  for (let i = 0; i < src.length; i++) dst[dstOffset + i] = table[src[i]];
  return dst;
}

function bitsToHalf(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its top payload bits and is forced quiet so it cannot turn into Inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal half: keep 10 mantissa bits, round on the 13 dropped ones. A carry out of the mantissa
    // correctly bumps the exponent (up to 0x7c00 = Inf for values >= 65520).
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
    return sign | h;
  }
  if (e >= -25) {
    // Subnormal half: count units of 2^-24. The value is m * 2^(e-23) with the implicit bit in m.
    const m = mant | 0x800000;
    const shift = -e - 1; // 14..24
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (h & 1) === 1)) h++; // may reach 0x400, the smallest normal: right
    return sign | h;
  }
  return sign; // below half of the smallest subnormal (float32 subnormals included): signed zero
}

let table: Float32Array | undefined;

function halfTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    let v: number;
    if (exp === 0) v = mant * 2 ** -24;
    else if (exp === 31) v = mant === 0 ? Infinity : NaN;
    else v = (1 + mant / 1024) * 2 ** (exp - 15);
    table[h] = sign * v;
  }
  return table;
}
