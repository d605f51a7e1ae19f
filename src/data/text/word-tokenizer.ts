/**
 * NLTK 3.8 `NLTKWordTokenizer().tokenize(text)` (= `word_tokenize(text, preserve_line=True)`): the improved Penn
 * Treebank rules, applied as the same ordered sequence of regex substitutions, then a whitespace split.
 * Recipe1M's vocabulary was built with these tokens, so encoding must reproduce them exactly
 * (checked against NLTK goldens in test/tokenizer.test.ts).
 */
import { PY_B, PY_D, PY_END, PY_S, PY_W, pyRegex, pySplit } from './python-regex.js';

type Rule = readonly [RegExp, string];

/** Opening quotes become `` and stand alone; a quote that opens a word (not a clitic like 's) is split off. */
const STARTING_QUOTES: Rule[] = [
  [pyRegex('([«“‘„]|[`]+)'), ' $1 '],
  [pyRegex('^"'), '``'],
  [pyRegex('(``)'), ' $1 '],
  [pyRegex(`([ ([{<])("|'{2})`), '$1 `` '],
  [pyRegex(`(')(?!re|ve|ll|m|t|s|d|n)(${PY_W})${PY_B}`, 'gi'), '$1 $2'],
];

/** The final-period rule appears twice, as in NLTK (the first copy was added by NLTKWordTokenizer). */
const FINAL_PERIOD = `([^.])(\\.)([\\])}>"']*)${PY_S}*${PY_END}`;

const PUNCTUATION: Rule[] = [
  [pyRegex(FINAL_PERIOD), '$1 $2 $3 '],
  // Commas and colons split unless a digit follows (keeps "1,000" and "10:30" whole).
  [pyRegex(`([:,])([^${PY_D}])`), ' $1 $2'],
  [pyRegex(`([:,])${PY_END}`), ' $1 '],
  [pyRegex('\\.{2,}'), ' $& '],
  [pyRegex('[;@#$%&]'), ' $& '],
  [pyRegex(FINAL_PERIOD), '$1 $2$3 '],
  [pyRegex('[?!]'), ' $& '],
  [pyRegex(`([^'])' `), "$1 ' "],
  [pyRegex('[*]'), ' $& '],
];

const PARENS_BRACKETS: Rule = [pyRegex('[\\][(){}<>]'), ' $& '];
const DOUBLE_DASHES: Rule = [pyRegex('--'), ' -- '];

/** Closing quotes become '' ; clitics ('s, 'll, n't ...) split from their word (needs the padding spaces added before). */
const ENDING_QUOTES: Rule[] = [
  [pyRegex('([»”’])'), ' $1 '],
  [pyRegex("''"), " '' "],
  [pyRegex('"'), " '' "],
  [pyRegex(`([^' ])('[sS]|'[mM]|'[dD]|') `), '$1 $2 '],
  [pyRegex(`([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) `), '$1 $2 '],
];

/** Robert MacIntyre's contractions (NLTK's CONTRACTIONS2 and CONTRACTIONS3; CONTRACTIONS4 is unused there too). */
const CONTRACTIONS: Rule[] = [
  `${PY_B}(can)(not)${PY_B}`,
  `${PY_B}(d)('ye)${PY_B}`,
  `${PY_B}(gim)(me)${PY_B}`,
  `${PY_B}(gon)(na)${PY_B}`,
  `${PY_B}(got)(ta)${PY_B}`,
  `${PY_B}(lem)(me)${PY_B}`,
  `${PY_B}(more)('n)${PY_B}`,
  `${PY_B}(wan)(na)(?=${PY_S})`,
  ` ('t)(is)${PY_B}`,
  ` ('t)(was)${PY_B}`,
].map((source) => [pyRegex(source, 'gi'), ' $1 $2 '] as const);

function applyRules(text: string, rules: readonly Rule[]): string {
  let out = text;
  for (const [pattern, replacement] of rules) out = out.replace(pattern, replacement);
  return out;
}

/** Tokenize one line (no sentence splitting) exactly as NLTK 3.8's NLTKWordTokenizer does. */
export function treebankWordTokenize(text: string): string[] {
  let out = applyRules(text, STARTING_QUOTES);
  out = applyRules(out, PUNCTUATION);
  out = applyRules(out, [PARENS_BRACKETS, DOUBLE_DASHES]);
  out = ` ${out} `;
  out = applyRules(out, ENDING_QUOTES);
  out = applyRules(out, CONTRACTIONS);
  return pySplit(out);
}
