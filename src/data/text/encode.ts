/**
 * Recipe text -> word ids, as HT encodes it: lower-case, tokenize (Punkt + Treebank), [<start>] + ids + [<end>],
 * unknown words -> <unk>. Truncation keeps the first ids of the full list, as HT does, so a long line loses its
 * <end> id; surplus ingredient lines and instructions are dropped from the end.
 */
import { END_ID, START_ID, type Vocabulary } from './vocabulary.js';
import { tokenizeForVocab } from './tokenize.js';

/** Paper limits (DESIGN "Data"): ids per title/line, lines per list. */
export const TITLE_MAX_IDS = 15;
export const MAX_INGREDIENT_LINES = 20;
export const INGREDIENT_MAX_IDS = 15;
export const MAX_INSTRUCTION_LINES = 20;
export const INSTRUCTION_MAX_IDS = 15;

export interface EncodeLimits {
  titleMaxIds: number;
  maxIngredientLines: number;
  ingredientMaxIds: number;
  maxInstructionLines: number;
  instructionMaxIds: number;
}

export const DEFAULT_ENCODE_LIMITS: Readonly<EncodeLimits> = Object.freeze({
  titleMaxIds: TITLE_MAX_IDS,
  maxIngredientLines: MAX_INGREDIENT_LINES,
  ingredientMaxIds: INGREDIENT_MAX_IDS,
  maxInstructionLines: MAX_INSTRUCTION_LINES,
  instructionMaxIds: INSTRUCTION_MAX_IDS,
});

export interface RecipeText {
  title: string;
  ingredients: readonly string[];
  instructions: readonly string[];
}

export interface EncodedRecipe {
  title: number[];
  ingredients: number[][];
  instructions: number[][];
}

/** Ids of one string: [<start>, ...word ids, <end>], cut to the first `maxIds` ids (no limit when omitted). */
export function encodeText(text: string, vocab: Vocabulary, maxIds = Infinity): number[] {
  const ids = [START_ID, ...tokenizeForVocab(text.toLowerCase()).map((token) => vocab.idOf(token)), END_ID];
  return ids.slice(0, maxIds);
}

export function encodeRecipe(recipe: RecipeText, vocab: Vocabulary, limits: Partial<EncodeLimits> = {}): EncodedRecipe {
  const l = { ...DEFAULT_ENCODE_LIMITS, ...limits };
  return {
    title: encodeText(recipe.title, vocab, l.titleMaxIds),
    ingredients: recipe.ingredients.slice(0, l.maxIngredientLines).map((line) => encodeText(line, vocab, l.ingredientMaxIds)),
    instructions: recipe.instructions.slice(0, l.maxInstructionLines).map((line) => encodeText(line, vocab, l.instructionMaxIds)),
  };
}
