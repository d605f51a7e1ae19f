import {
  ALTERNATIVE_MODIFIERS,
  COMPOUND_NAMES,
  DESCRIPTORS,
  DESCRIPTOR_PHRASES,
  NAMES_WITH_OF,
  NOT_INGREDIENTS,
  NUMBER_WORDS,
  PROTECTED_PHRASES,
  QUANTITY_FILLERS,
  SYNONYMS,
  TAIL_CUES,
  UNITS,
  UNITS_THAT_ARE_FOODS,
  VULGAR_FRACTIONS,
} from './parse-rules.js';
import { singularise } from './singularise.js';

const numberWords = new Set(NUMBER_WORDS);
const quantityFillers = new Set(QUANTITY_FILLERS);
const units = new Set(UNITS);
const unitsThatAreFoods = new Set(UNITS_THAT_ARE_FOODS);
const descriptors = new Set(DESCRIPTORS);
const protectedPhrases = new Set(PROTECTED_PHRASES);
const compoundNames = new Set(COMPOUND_NAMES);
const notIngredients = new Set(NOT_INGREDIENTS);
const alternativeModifiers = new Set(ALTERNATIVE_MODIFIERS);
const synonyms = new Map(Object.entries(SYNONYMS));
const descriptorPhrasePattern = new RegExp(`\\b(?:${DESCRIPTOR_PHRASES.join('|')})\\b`, 'g');

/** Longer names are sentences or notes, not ingredient names. */
const MAX_NAME_WORDS = 4;

/**
 * The canonical ingredient name of one raw ingredient line ("1 (14.5 ounce) can diced tomatoes, drained"
 * -> "tomato"), or null when the line names no ingredient (a heading, a note, only a quantity).
 *
 * Order: normalise characters; a line ending in ":" is a heading; drop parentheticals; keep the side of
 * a colon that has words; try the comma/semicolon/sentence clauses in turn; rewrite "juice of X" as
 * "X juice"; cut at advice ("to taste", "for frying"); take the first "or"/"/" alternative; drop
 * quantities, units, fillers and preparation words; in "A of B" keep B ("rashers of bacon") unless the name
 * is listed in NAMES_WITH_OF; keep the first part of an "and" unless the whole is a
 * compound name ("salt and pepper" is ONE name, not split, because one line carries one label);
 * singularise the last word; map synonyms. The word lists live in parse-rules.ts.
 */
export function parseIngredientLine(line: string): string | null {
  let text = normaliseCharacters(line);
  if (text.endsWith(':')) return null;
  text = dropParentheticals(text);
  const colon = text.indexOf(':');
  // "brown sugar: 1 tbsp" names the ingredient before the colon, "1 tbsp: sugar" after it.
  if (colon >= 0) return parseClauses(text.slice(0, colon)) ?? parseClauses(text.slice(colon + 1));
  return parseClauses(text);
}

/**
 * The name comes from the first clause that has words besides quantities: "2 tbsp. olive oil" and
 * "2 - 3 cups flour" put a break after the quantity, while "onion, chopped" has the name first.
 */
function parseClauses(text: string): string | null {
  for (const clause of text.split(/[,;|]|\.\s|\s-\s/)) {
    if (contentWords(clause).length > 0) return parseClause(clause.trim());
  }
  return null;
}

function parseClause(clause: string): string | null {
  const squeezed = /^(.*?\b)?(juice|zest|rind|peel) (?:of|from) (.+)$/.exec(clause);
  if (squeezed) {
    const fruit = parseIngredientLine(squeezed[3]);
    if (fruit) return canonical(`${fruit} ${squeezed[2]}`);
  }
  const text = cutAtTailCue(clause);
  const alternatives = text.split(/\s+or\s+|(?<!\d)\/|\/(?!\d)/).map((a) => a.trim());
  for (let i = 0; i < alternatives.length; i++) {
    const name = cleanName(alternatives[i]);
    if (!name) continue;
    // "black or pinto beans": the first alternative is a modifier of the next one's last word.
    const next = alternatives[i + 1];
    if (alternativeModifiers.has(name) && next !== undefined && !/\d/.test(next)) {
      const nextName = cleanName(next);
      if (nextName && nextName.includes(' ')) return canonical(`${name} ${nextName.split(' ').at(-1)}`);
    }
    return name;
  }
  return null;
}

function normaliseCharacters(line: string): string {
  let s = line.toLowerCase();
  for (const [glyph, fraction] of Object.entries(VULGAR_FRACTIONS)) s = s.replaceAll(glyph, ` ${fraction} `);
  s = s.normalize('NFKD').replace(/[\u0300-\u036f]/g, ''); // jalapeño -> jalapeno, purée -> puree
  s = s
    .replace(/\u2044/g, '/')
    .replace(/['\u2018\u2019`\u00b4]/g, '') // brewer's -> brewers, confectioners' -> confectioners
    .replace(/["\u201c\u201d*#~\u2248]/g, ' ')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/&/g, ' and ')
    .replace(/\b(un|pre)-(?=[a-z])/g, '$1') // un-cooked -> uncooked, pre-shredded -> preshredded
    .replace(/([a-z])-(?=[a-z])/g, '$1 ') // all-purpose -> all purpose, medium-sized -> medium sized
    .replace(/\b(?:salt|tea|table|dessert|wine) (spoon|glass)(?:ful)?s?\b/g, '$1') // "a tea-spoonful", "a wine-glass"
    .replace(/\s\+\s/g, ' and ') // "2 cups broth + 1 cup water" lists two things
    .replace(/[<>]/g, ' ')
    .replace(descriptorPhrasePattern, ' ')
    .replace(/\b([a-z]+)\.(?=\s)/g, (abbrev, word: string) => (units.has(word) ? word : abbrev)); // "tbsp." is not a sentence end
  return s.replace(/\s+/g, ' ').trim();
}

function dropParentheticals(s: string): string {
  let previous;
  do {
    previous = s;
    s = s.replace(/\([^()]*\)|\[[^[\]]*\]/g, ' ');
  } while (s !== previous);
  // An unclosed "(" opens a note that never ends: drop the rest of the line.
  const open = s.search(/[([]/);
  if (open >= 0) s = s.slice(0, open);
  return s.replace(/[)\]]/g, ' ');
}

function cutAtTailCue(clause: string): string {
  const padded = ` ${clause.replace(/\.+$/, '')} `;
  let end = padded.length;
  for (const cue of TAIL_CUES) {
    const at = padded.search(cue);
    if (at >= 0 && at < end) end = at;
  }
  return padded.slice(0, end).trim();
}

function isQuantity(token: string): boolean {
  return /\d/.test(token) && /^[\d.,/%+-]+$/.test(token);
}

/**
 * The words of one alternative that name the ingredient: quantities, units, fillers and preparation
 * words dropped. Empty when only a quantity was there ("1 1/2 cups").
 */
function contentWords(alternative: string): string[] {
  const tokens = alternative
    .replace(/(\d)([a-z])/g, '$1 $2') // 150g -> 150 g, 1tbsp -> 1 tbsp
    .replace(/([a-z])(\d)/g, '$1 $2')
    .split(/\s+/)
    .map((t) => t.replace(/^[.,!?]+|[.,!?]+$/g, ''))
    .filter((t) => t.length > 0);
  const kept: string[] = [];
  // What the previous dropped token was: a unit may follow a number ("2 cups"), another unit
  // ("1 oz packet"), or open the line before "of" ("pinch of").
  let previous: 'number' | 'unit' | 'other' = 'other';
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const next = tokens[i + 1];
    const isLast = i === tokens.length - 1;
    if (isQuantity(token) || (kept.length === 0 && (numberWords.has(token) || quantityFillers.has(token)))) {
      previous = 'number';
    } else if (
      units.has(token) &&
      (isLast ? previous === 'number' && !unitsThatAreFoods.has(token) : previous !== 'other' || next === 'of')
    ) {
      previous = 'unit';
    } else if (descriptors.has(token) && !(next !== undefined && protectedPhrases.has(`${token} ${next}`))) {
      // a size or preparation word between a quantity and its unit ("2 large cans") keeps `previous`
    } else {
      previous = 'other';
      kept.push(token);
    }
  }
  while (kept.length > 0 && quantityFillers.has(kept[kept.length - 1])) kept.pop(); // "salt and" after a cut
  return kept;
}

/** The canonical name of one alternative, or null. */
function cleanName(alternative: string): string | null {
  const kept = contentWords(alternative);
  if (kept.length === 0) return null;
  const of = kept.indexOf('of');
  if (of > 0 && !NAMES_WITH_OF.some((n) => kept.join(' ').includes(n))) return cleanName(kept.slice(of + 1).join(' '));
  const whole = canonical(kept.join(' '));
  if (whole && compoundNames.has(whole)) return whole;
  const and = kept.indexOf('and');
  if (and > 0) return canonical(kept.slice(0, and).join(' '));
  return whole;
}

/** Singularise the head (last) word, map synonyms, and reject what is not an ingredient name. */
function canonical(name: string): string | null {
  const words = name.split(' ').filter((w) => w.length > 0);
  if (words.length === 0 || words.length > MAX_NAME_WORDS) return null;
  words[words.length - 1] = singularise(words[words.length - 1]);
  let result = words.join(' ');
  result = synonyms.get(result) ?? result;
  if (!/[a-z]/.test(result) || result.length < 2 || notIngredients.has(result)) return null;
  return result;
}
