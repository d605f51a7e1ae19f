import { IRREGULAR_SINGULARS, SINGULAR_EXCEPTIONS } from './parse-rules.js';

const exceptions = new Set(SINGULAR_EXCEPTIONS);
const irregular = new Map(Object.entries(IRREGULAR_SINGULARS));

/**
 * Singular form of one English noun, by suffix rules good enough for ingredient names
 * (tomatoes -> tomato, berries -> berry, peaches -> peach, olives -> olive). Words that only look
 * plural (molasses, couscous, swiss) are listed in SINGULAR_EXCEPTIONS.
 */
export function singularise(word: string): string {
  if (word.length <= 3 || exceptions.has(word)) return word;
  const known = irregular.get(word);
  if (known) return known;
  if (/(?:ss|us)$/.test(word)) return word; // grass, hummus, citrus: a final "s" that is not a plural
  if (word.endsWith('ies') && word.length > 4) return `${word.slice(0, -3)}y`;
  if (word.endsWith('oes')) return word.slice(0, -2);
  if (/(?:ch|sh|x|ss)es$/.test(word)) return word.slice(0, -2);
  if (word.endsWith('s')) return word.slice(0, -1);
  return word;
}
