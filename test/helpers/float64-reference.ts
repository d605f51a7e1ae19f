/**
 * Plain-JS float64 reference implementations of the network blocks the ONNX builder emits, written
 * from the PyTorch/Keras definitions (loops, no tricks) so that a wrong graph cannot agree with them.
 * Tensors are flat row-major number arrays with an explicit shape.
 */
import { SeededRandom } from '../../src/util/random.js';

export interface Arr {
  data: number[];
  shape: number[];
}

export function randomArr(rng: SeededRandom, shape: number[], scale = 1): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  // float32-exact values, so the reference sees exactly what the ONNX model is fed.
  return { data: Array.from({ length: n }, () => Math.fround((rng.nextFloat() * 2 - 1) * scale)), shape };
}

export function f32(a: Arr): Float32Array {
  return Float32Array.from(a.data);
}

/** y[..., o] = sum_i x[..., i] W[o, i] + b[o] (PyTorch nn.Linear). */
export function linearRef(x: Arr, w: Arr, b?: Arr): Arr {
  const [out, inp] = w.shape;
  const rows = x.data.length / inp;
  const data: number[] = [];
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < out; o++) {
      let s = b ? b.data[o] : 0;
      for (let i = 0; i < inp; i++) s += x.data[r * inp + i] * w.data[o * inp + i];
      data.push(s);
    }
  return { data, shape: [...x.shape.slice(0, -1), out] };
}

export function layerNormRef(x: Arr, gamma: Arr, beta: Arr, eps: number): Arr {
  const d = gamma.data.length;
  const data: number[] = [];
  for (let r = 0; r < x.data.length / d; r++) {
    const row = x.data.slice(r * d, (r + 1) * d);
    const mean = row.reduce((a, v) => a + v, 0) / d;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / d;
    row.forEach((v, i) => data.push(((v - mean) / Math.sqrt(variance + eps)) * gamma.data[i] + beta.data[i]));
  }
  return { data, shape: x.shape };
}

export function mapRef(x: Arr, f: (v: number) => number): Arr {
  return { data: x.data.map(f), shape: x.shape };
}

export function addRef(a: Arr, b: Arr): Arr {
  return { data: a.data.map((v, i) => v + b.data[i]), shape: a.shape };
}

export interface AttentionRefParams {
  inProjWeight: Arr;
  inProjBias: Arr;
  outWeight: Arr;
  outBias: Arr;
}

/**
 * nn.MultiheadAttention, batch first: q [B, Lq, d], k/v [B, Lk, d]; padded[b][j] true = key j ignored.
 */
export function mhaRef(q: Arr, k: Arr, v: Arr, p: AttentionRefParams, heads: number, padded?: boolean[][]): Arr {
  const [B, Lq, d] = q.shape;
  const Lk = k.shape[1];
  const hd = d / heads;
  const rows = (w: Arr, from: number): Arr => ({ data: w.data.slice(from * (w.shape[1] ?? 1), (from + d) * (w.shape[1] ?? 1)), shape: w.shape.length === 2 ? [d, w.shape[1]] : [d] });
  const Q = linearRef(q, rows(p.inProjWeight, 0), rows(p.inProjBias, 0));
  const K = linearRef(k, rows(p.inProjWeight, d), rows(p.inProjBias, d));
  const V = linearRef(v, rows(p.inProjWeight, 2 * d), rows(p.inProjBias, 2 * d));
  const ctx = new Array<number>(B * Lq * d).fill(0);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < Lq; i++) {
        const scores: number[] = [];
        for (let j = 0; j < Lk; j++) {
          let s = 0;
          for (let c = 0; c < hd; c++) s += Q.data[(b * Lq + i) * d + h * hd + c] * K.data[(b * Lk + j) * d + h * hd + c];
          scores.push(padded?.[b][j] ? -Infinity : s / Math.sqrt(hd));
        }
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, x) => a + x, 0);
        for (let j = 0; j < Lk; j++)
          for (let c = 0; c < hd; c++) ctx[(b * Lq + i) * d + h * hd + c] += (e[j] / z) * V.data[(b * Lk + j) * d + h * hd + c];
      }
  return linearRef({ data: ctx, shape: [B, Lq, d] }, p.outWeight, p.outBias);
}

export interface EncoderLayerRefParams {
  attn: AttentionRefParams;
  w1: Arr;
  b1: Arr;
  w2: Arr;
  b2: Arr;
  g1: Arr;
  be1: Arr;
  g2: Arr;
  be2: Arr;
}

/** Post-norm nn.TransformerEncoderLayer with ReLU, eval mode. */
export function encoderLayerRef(x: Arr, p: EncoderLayerRefParams, heads: number, padded: boolean[][] | undefined, eps: number): Arr {
  const h = layerNormRef(addRef(x, mhaRef(x, x, x, p.attn, heads, padded)), p.g1, p.be1, eps);
  const ff = linearRef(mapRef(linearRef(h, p.w1, p.b1), (v) => Math.max(v, 0)), p.w2, p.b2);
  return layerNormRef(addRef(h, ff), p.g2, p.be2, eps);
}

/** x [B, L, d], valid [B][L] in {0, 1} -> [B, d]: sum_l x * valid / (count + 1e-12). */
export function maskedMeanRef(x: Arr, valid: number[][]): Arr {
  const [B, L, d] = x.shape;
  const data: number[] = [];
  for (let b = 0; b < B; b++) {
    const count = valid[b].reduce((a, v) => a + v, 0);
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let l = 0; l < L; l++) s += x.data[(b * L + l) * d + c] * valid[b][l];
      data.push(s / (count + 1e-12));
    }
  }
  return { data, shape: [B, d] };
}

/**
 * 2-D cross-correlation, NCHW input, weight [O, I, kh, kw]; zero padding [top, left, bottom, right].
 */
export function conv2dRef(x: Arr, w: Arr, bias: number[] | undefined, stride: [number, number], pads: [number, number, number, number]): Arr {
  const [N, C, H, W] = x.shape;
  const [O, , kh, kw] = w.shape;
  const [top, left, bottom, right] = pads;
  const Ho = Math.floor((H + top + bottom - kh) / stride[0]) + 1;
  const Wo = Math.floor((W + left + right - kw) / stride[1]) + 1;
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let y = 0; y < Ho; y++)
        for (let xo = 0; xo < Wo; xo++) {
          let s = bias ? bias[o] : 0;
          for (let c = 0; c < C; c++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const iy = y * stride[0] + i - top;
                const ix = xo * stride[1] + j - left;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                s += x.data[((n * C + c) * H + iy) * W + ix] * w.data[((o * C + c) * kh + i) * kw + j];
              }
          data.push(s);
        }
  return { data, shape: [N, O, Ho, Wo] };
}

/** Inference batch norm over axis 1 of NCHW. */
export function batchNormRef(x: Arr, gamma: number[], beta: number[], mean: number[], variance: number[], eps: number): Arr {
  const [, C, H, W] = x.shape;
  return { data: x.data.map((v, i) => {
    const c = Math.floor(i / (H * W)) % C;
    return ((v - mean[c]) / Math.sqrt(variance[c] + eps)) * gamma[c] + beta[c];
  }), shape: x.shape };
}

/** Max pooling over NCHW; padded positions are skipped (never win), like ONNX/TF. */
export function maxPoolRef(x: Arr, k: [number, number], stride: [number, number], pads: [number, number, number, number]): Arr {
  const [N, C, H, W] = x.shape;
  const [top, left, bottom, right] = pads;
  const Ho = Math.floor((H + top + bottom - k[0]) / stride[0]) + 1;
  const Wo = Math.floor((W + left + right - k[1]) / stride[1]) + 1;
  const data: number[] = [];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < Ho; y++)
        for (let xo = 0; xo < Wo; xo++) {
          let m = -Infinity;
          for (let i = 0; i < k[0]; i++)
            for (let j = 0; j < k[1]; j++) {
              const iy = y * stride[0] + i - top;
              const ix = xo * stride[1] + j - left;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) m = Math.max(m, x.data[((n * C + c) * H + iy) * W + ix]);
            }
          data.push(m);
        }
  return { data, shape: [N, C, Ho, Wo] };
}

/** Zero padding of the spatial axes of NCHW. */
export function zeroPadRef(x: Arr, pads: [number, number, number, number]): Arr {
  const [N, C, H, W] = x.shape;
  const [top, left, bottom, right] = pads;
  const Hp = H + top + bottom;
  const Wp = W + left + right;
  const data = new Array<number>(N * C * Hp * Wp).fill(0);
  for (let nc = 0; nc < N * C; nc++)
    for (let y = 0; y < H; y++) for (let xo = 0; xo < W; xo++) data[(nc * Hp + y + top) * Wp + xo + left] = x.data[(nc * H + y) * W + xo];
  return { data, shape: [N, C, Hp, Wp] };
}

/** NCHW -> [N, C] mean over positions. */
export function globalAvgPoolRef(x: Arr): Arr {
  const [N, C, H, W] = x.shape;
  const data: number[] = [];
  for (let nc = 0; nc < N * C; nc++) data.push(x.data.slice(nc * H * W, (nc + 1) * H * W).reduce((a, v) => a + v, 0) / (H * W));
  return { data, shape: [N, C] };
}

/** The largest |a - b| relative to max(1, max |b|). */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}
