import { promises as fs } from 'node:fs';
import { parsePickle } from '../data/pickle/pickle.js';
import type { Tensor32 } from '../onnx/weights.js';
import { DataFileError } from '../util/errors.js';
import { sha256File } from '../util/sha256.js';
import { streamIngredientDictionary } from '../data/pickle/dictionary-stream.js';
import { NumpyArray } from '../data/pickle/numpy-values.js';
import { createTorchResolvers } from '../data/pickle/torch-unpickler.js';
import { Float32RunningMean } from '../util/vector-mean.js';

/**
 * The seed's textual ingredient dictionary (`ingredient_dict_textual.pkl`, written by
 * create_textual_dictionary.py): a defaultdict label -> list of float32 numpy line vectors, and
 * D[c] = np.mean(dict[c], axis=0) as the stage-2 model computes it (src/util/vector-mean.ts).
 * Keys come in scrambled order, so rows are placed by key, never by position.
 * The real file holds every training line's vector (GBs): above STREAM_THRESHOLD bytes it is
 * streamed (dictionary-stream.ts); smaller files go through the project's validating unpickler.
 */

export const STREAM_THRESHOLD = 256 * 1024 * 1024;

export interface IngredientDictionary {
  /** D [labels, width]. */
  matrix: Tensor32;
  /** Vectors per label. */
  counts: number[];
  sha256: string;
  streamed: boolean;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? `a ${(value as object).constructor?.name ?? 'object'}` : `a ${typeof value}`;
}

/** Whole-file path: pickleparser with the numpy resolvers, then the same running means. */
async function parsedMeans(file: string, width: number): Promise<Map<unknown, Float32RunningMean>> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    throw new DataFileError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read (${(err as Error).message})`);
  }
  const { nameResolver } = createTorchResolvers();
  const value = parsePickle(bytes, file, { nameResolver }) as unknown;
  if (!(value instanceof Map)) throw new DataFileError(file, `expected a dict label -> list of vectors, got ${describe(value)}`);
  const means = new Map<unknown, Float32RunningMean>();
  for (const [key, list] of value as Map<unknown, unknown>) {
    if (!Array.isArray(list)) throw new DataFileError(file, `label ${String(key)}: expected a list of vectors, got ${describe(list)}`);
    const mean = new Float32RunningMean(width);
    list.forEach((v: unknown, i: number) => {
      if (!(v instanceof NumpyArray)) throw new DataFileError(file, `label ${String(key)}, vector ${i}: expected a numpy array, got ${describe(v)}`);
      if (v.size !== width) throw new DataFileError(file, `label ${String(key)}, vector ${i}: ${v.size} values, the model's recipe width is ${width}`);
      try {
        mean.add(v.toFloat32());
      } catch (err) {
        throw new DataFileError(file, `label ${String(key)}, vector ${i}: ${(err as Error).message}`);
      }
    });
    means.set(key, mean);
  }
  return means;
}

export async function readIngredientDictionary(
  file: string, labels: number, width: number, opts: { stream?: boolean } = {},
): Promise<IngredientDictionary> {
  const size = (await fs.stat(file).catch(() => undefined))?.size;
  if (size === undefined) throw new DataFileError(file, 'file not found');
  const streamed = opts.stream ?? size > STREAM_THRESHOLD;
  const means: Map<unknown, Float32RunningMean> = streamed ? streamIngredientDictionary(file, width).labels : await parsedMeans(file, width);
  const data = new Float32Array(labels * width);
  const counts = new Array<number>(labels).fill(0);
  for (const [key, mean] of means) {
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key >= labels) {
      throw new DataFileError(file, `key ${JSON.stringify(key)} is not a label in 0..${labels - 1} (the checkpoint has ${labels} labels)`);
    }
    if (mean.count === 0) continue;
    mean.meanInto(data.subarray(key * width, (key + 1) * width));
    counts[key] = mean.count;
  }
  const empty = counts.flatMap((n, c) => (n === 0 ? [c] : []));
  if (empty.length) throw new DataFileError(file, `no vectors for label(s) ${empty.slice(0, 10).join(', ')}${empty.length > 10 ? ', ...' : ''}: D would be undefined there`);
  return { matrix: { data, dims: [labels, width] }, counts, sha256: await sha256File(file), streamed };
}
