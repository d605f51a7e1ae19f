/** How far an ONNX output is from the TF.js reference, relative to the reference's scale. */

/** max |onnx - tfjs| / max |tfjs| above this fails verification (~100 float32 epsilons). */
export const PARITY_TOLERANCE = 1e-5;

export interface ParityRow {
  model: string;
  case: string;
  batch: number;
  output: string;
  maxAbsDiff: number;
  maxAbsRef: number;
  /** maxAbsDiff / maxAbsRef (maxAbsDiff itself when the reference is all zeros). NaN anywhere gives Infinity. */
  relError: number;
}

export function relativeError(actual: ArrayLike<number>, reference: ArrayLike<number>): Pick<ParityRow, 'maxAbsDiff' | 'maxAbsRef' | 'relError'> {
  if (actual.length !== reference.length) throw new Error(`output has ${actual.length} values, the reference ${reference.length}`);
  let maxAbsDiff = 0;
  let maxAbsRef = 0;
  let nan = false;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - reference[i]);
    if (Number.isNaN(d)) nan = true;
    else maxAbsDiff = Math.max(maxAbsDiff, d);
    maxAbsRef = Math.max(maxAbsRef, Math.abs(reference[i]));
  }
  const relError = nan ? Infinity : maxAbsRef > 0 ? maxAbsDiff / maxAbsRef : maxAbsDiff;
  return { maxAbsDiff, maxAbsRef, relError };
}

/** Rows (of `width` values) where the two arrays differ in any bit. */
export function rowsNotIdentical(a: Float32Array, b: Float32Array, width: number, rows?: readonly number[]): number[] {
  const out: number[] = [];
  for (const r of rows ?? Array.from({ length: a.length / width }, (_, i) => i)) {
    for (let j = 0; j < width; j++) {
      if (!Object.is(a[r * width + j], b[r * width + j])) {
        out.push(r);
        break;
      }
    }
  }
  return out;
}

/** Per row, how many labels reach p >= 0.5 (logit >= 0 up to rounding; computed as the model does). */
export function keptLabelCounts(logits: Float32Array, labels: number): number[] {
  const counts: number[] = [];
  for (let r = 0; r < logits.length / labels; r++) {
    let n = 0;
    for (let k = 0; k < labels; k++) if (Math.fround(1 / (1 + Math.exp(-logits[r * labels + k]))) >= 0.5) n++;
    counts.push(n);
  }
  return counts;
}
