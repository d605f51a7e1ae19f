import type { FeatureCache } from './cache-reader.js';

/** One feature row to read: which cache (view) and which key. */
export interface FeatureRow {
  cache: FeatureCache;
  key: string;
}

/** Read rows into one NHWC float32 array [rows, 7, 7, C]. */
export function readFeatureRows(rows: readonly FeatureRow[]): { values: Float32Array; shape: [number, number, number, number] } {
  if (rows.length === 0) throw new Error('no feature rows to read');
  const [h, w, c] = rows[0].cache.shape;
  const rowLength = rows[0].cache.rowLength;
  const values = new Float32Array(rows.length * rowLength);
  rows.forEach(({ cache, key }, i) => {
    if (!cache.readInto(key, values, i * rowLength)) throw new Error(`feature cache ${cache.split}/view-${cache.view} has no row for ${key}`);
  });
  return { values, shape: [rows.length, h, w, c] };
}
