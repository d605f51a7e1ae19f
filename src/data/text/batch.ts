/**
 * Pad encoded recipes into dense batch tensors (row-major typed arrays plus their shapes). Every dimension is the
 * batch maximum, padded with <pad> = 0; masks are 1 where a real id or line is. A recipe with no ingredient lines
 * or no instructions still gets its padded line slots (at least one per batch), so shapes are never zero; its line
 * mask is all 0 and the model decides how such an empty list pools.
 */
import { PAD_ID } from './vocabulary.js';
import type { EncodedRecipe } from './encode.js';

export interface SequenceBatch {
  /** Word ids, shape [N, T]. */
  ids: Int32Array;
  /** 1 for a real id, 0 for padding, shape [N, T]. */
  mask: Float32Array;
  shape: [number, number];
}

export interface LineListBatch {
  /** Word ids, shape [N, L, T]. */
  ids: Int32Array;
  /** 1 for a real id, 0 for padding, shape [N, L, T]. */
  wordMask: Float32Array;
  /** 1 for a line the recipe has, 0 for a padding line, shape [N, L]. */
  lineMask: Float32Array;
  shape: [number, number, number];
}

export interface RecipeBatch {
  size: number;
  title: SequenceBatch;
  ingredients: LineListBatch;
  instructions: LineListBatch;
}

function maxLength(lists: readonly (readonly unknown[])[]): number {
  return lists.reduce((m, list) => Math.max(m, list.length), 0);
}

function padSequences(sequences: readonly (readonly number[])[]): SequenceBatch {
  const n = sequences.length;
  const t = Math.max(1, maxLength(sequences));
  const ids = new Int32Array(n * t).fill(PAD_ID);
  const mask = new Float32Array(n * t);
  sequences.forEach((seq, i) => {
    ids.set(seq, i * t);
    mask.fill(1, i * t, i * t + seq.length);
  });
  return { ids, mask, shape: [n, t] };
}

function padLineLists(lists: readonly (readonly (readonly number[])[])[]): LineListBatch {
  const n = lists.length;
  const l = Math.max(1, maxLength(lists));
  const t = Math.max(1, lists.reduce((m, lines) => Math.max(m, maxLength(lines)), 0));
  const ids = new Int32Array(n * l * t).fill(PAD_ID);
  const wordMask = new Float32Array(n * l * t);
  const lineMask = new Float32Array(n * l);
  lists.forEach((lines, i) => {
    lines.forEach((line, j) => {
      const offset = (i * l + j) * t;
      ids.set(line, offset);
      wordMask.fill(1, offset, offset + line.length);
      lineMask[i * l + j] = 1;
    });
  });
  return { ids, wordMask, lineMask, shape: [n, l, t] };
}

export function batchRecipes(recipes: readonly EncodedRecipe[]): RecipeBatch {
  return {
    size: recipes.length,
    title: padSequences(recipes.map((r) => r.title)),
    ingredients: padLineLists(recipes.map((r) => r.ingredients)),
    instructions: padLineLists(recipes.map((r) => r.instructions)),
  };
}
