/**
 * NLTK 3.8 `PunktSentenceTokenizer()` with no training: no abbreviations, collocations, sentence starters or
 * orthographic context. What remains of Punkt is: a token ending in "." "?" "!" breaks the sentence when another token
 * follows, except an ellipsis, and except an initial ("f.") or a number ("350.") followed by a lower-case word.
 * HT's `word_tokenize` splits sentences before tokenizing, which is what separates "batter." into "batter" and ".".
 */
import { PY_D, PY_NOT_S, PY_S, PY_W, pyRegex, pyRstrip, pyStrip } from './python-regex.js';

/** Punkt's `_re_non_word_chars`: punctuation that may directly follow a sentence end. */
const NON_WORD = `(?:[)";}\\]*:@'({[!?])`;
/** Punkt's `_re_multi_char_punct`. */
const MULTI_CHAR = `(?:-{2,}|\\.{2,}|(?:\\.${PY_S}){2,}\\.)`;
/** Punkt's `_re_word_start`: characters that cannot begin a word token. */
const WORD_START = `[^("\`{\\[:;&#*@)}\\]\\-,]`;
/** Punkt's word tokenizer (`_word_tokenize_fmt`); lines have no "\n", so Python's `$` is plain end of string here. */
const PUNKT_WORD = pyRegex(
  `${MULTI_CHAR}` +
    `|(?=${WORD_START})${PY_NOT_S}+?(?=${PY_S}|$|${NON_WORD}|${MULTI_CHAR}|,(?=$|${PY_S}|${NON_WORD}|${MULTI_CHAR}))` +
    `|${PY_NOT_S}`,
);
/** Punkt's `period_context_re` (3.8 form, without the leading `\S*`): a candidate end and what follows it. */
const PERIOD_CONTEXT = pyRegex(`[.?!](?=(${NON_WORD}|(${PY_S}+)${PY_NOT_S}+))`);
/** Punkt's `re_boundary_realignment`: closing quotes/brackets that belong to the previous sentence. */
// Python's MULTILINE `$` is "before \n or at the end"; JS's `m` mode would also stop at \r, so spell it out.
const BOUNDARY_REALIGNMENT = pyRegex(`^["')\\]}]+?(?:${PY_S}+|(?=--)|(?=\\n|$))`, '');

const ELLIPSIS = pyRegex('^\\.\\.+$', '');
const NUMERIC = pyRegex(`^-?[.,]?${PY_D}[${PY_D},.\\-]*\\.?$`, '');
/** `[^\W\d]\.$`: one letter then a period ("f."). */
const INITIAL = pyRegex(`^(?!${PY_D})${PY_W}\\.$`, '');
const FIRST_LOWER = pyRegex('^\\p{Lowercase}', '');
const FIRST_UPPER = pyRegex('^\\p{Uppercase}', '');
/** Python's `string.whitespace`: ASCII only, used by Punkt to find the word before a candidate end. */
const ASCII_WHITESPACE = ' \t\n\r\v\f';
const SENT_END_CHARS = new Set(['.', '?', '!']);

interface PunktToken {
  tok: string;
  sentbreak: boolean;
  ellipsis: boolean;
}

function punktWords(line: string): string[] {
  return line.match(PUNKT_WORD) ?? [];
}

function tokensOf(text: string): PunktToken[] {
  const tokens: PunktToken[] = [];
  for (const line of text.split('\n')) {
    if (!pyStrip(line)) continue;
    for (const tok of punktWords(line)) tokens.push(firstPass(tok));
  }
  return tokens;
}

/** First pass with no abbreviation list: every period-final word (but "..") is a break, ellipses are not. */
function firstPass(tok: string): PunktToken {
  const token: PunktToken = { tok, sentbreak: false, ellipsis: false };
  if (SENT_END_CHARS.has(tok)) token.sentbreak = true;
  else if (ELLIPSIS.test(tok)) token.ellipsis = true;
  else if (tok.endsWith('.') && !tok.endsWith('..')) token.sentbreak = true;
  return token;
}

/** Punkt's token type: lower-cased, numbers replaced by "##number##". */
function typeOf(tok: string): string {
  const lower = tok.toLowerCase();
  return NUMERIC.test(lower) ? '##number##' : lower;
}

function typeNoPeriod(type: string): string {
  return type.length > 1 && type.endsWith('.') ? type.slice(0, -1) : type;
}

/**
 * Untrained orthographic heuristic: false (not a sentence start) for punctuation or a lower-case word, otherwise
 * unknown; "true" needs learned ortho context, which an untrained model never has.
 */
function isNotSentenceStarter(next: PunktToken): boolean {
  if (';:,.!?'.includes(next.tok)) return true; // Python's `tok in ";:,.!?"` is a substring test
  return FIRST_LOWER.test(next.tok);
}

/**
 * Second pass: an initial or a number ending in "." before a non-starter is an abbreviation, not a break; so is an
 * initial before a capitalised word (Punkt's "J. Bach" rule, which with no ortho context always applies).
 */
function secondPass(tokens: PunktToken[]): void {
  for (let i = 0; i + 1 < tokens.length; i++) {
    const token = tokens[i];
    if (!token.tok.endsWith('.')) continue;
    const isInitial = INITIAL.test(token.tok);
    if (isInitial || typeNoPeriod(typeOf(token.tok)) === '##number##') {
      const next = tokens[i + 1];
      if (isNotSentenceStarter(next)) token.sentbreak = false;
      else if (isInitial && FIRST_UPPER.test(next.tok)) token.sentbreak = false;
    }
  }
}

/** True when some token of the context breaks a sentence and another token follows it. */
function containsSentenceBreak(context: string): boolean {
  const tokens = tokensOf(context);
  secondPass(tokens);
  return tokens.slice(0, -1).some((t) => t.sentbreak);
}

function lastAsciiWhitespaceIndex(text: string): number {
  for (let i = text.length - 1; i >= 0; i--) if (ASCII_WHITESPACE.includes(text[i])) return i;
  return 0;
}

interface EndCandidate {
  start: number;
  end: number;
  /** Where the next token starts, when whitespace (not punctuation) follows the candidate. */
  nextTokenStart: number | null;
  context: string;
}

/**
 * Punkt's `_match_potential_end_contexts`: each candidate end with its context (the word before it, the end mark and
 * what follows). A candidate whose word overlaps the next candidate's word is dropped, as in NLTK.
 */
function endCandidates(text: string): EndCandidate[] {
  const out: EndCandidate[] = [];
  let prevWord = { start: 0, stop: 0 };
  let prevMatch: RegExpExecArray | null = null;
  const emit = (m: RegExpExecArray, word: { start: number; stop: number }) => {
    const afterTok = m[1];
    const spaces = m[2];
    out.push({
      start: m.index,
      end: m.index + m[0].length,
      nextTokenStart: spaces === undefined ? null : m.index + m[0].length + spaces.length,
      context: text.slice(word.start, word.stop) + m[0] + afterTok,
    });
  };
  for (const m of text.matchAll(PERIOD_CONTEXT)) {
    const before = text.slice(prevWord.stop, m.index);
    let wordStart = lastAsciiWhitespaceIndex(before);
    // NLTK tests the index for truthiness, so whitespace at offset 0 counts as "none found".
    wordStart = wordStart ? wordStart + prevWord.stop + 1 : prevWord.start;
    const word = { start: wordStart, stop: m.index };
    if (prevMatch && prevWord.stop <= word.start) emit(prevMatch, prevWord);
    prevMatch = m;
    prevWord = word;
  }
  if (prevMatch) emit(prevMatch, prevWord);
  return out;
}

interface Span {
  start: number;
  stop: number;
}

function sentenceSpans(text: string): Span[] {
  const spans: Span[] = [];
  let lastBreak = 0;
  for (const c of endCandidates(text)) {
    if (!containsSentenceBreak(c.context)) continue;
    spans.push({ start: lastBreak, stop: c.end });
    lastBreak = c.nextTokenStart ?? c.end;
  }
  spans.push({ start: lastBreak, stop: pyRstrip(text).length });
  return realignBoundaries(text, spans);
}

/** Move closing quotes/brackets that start a sentence onto the end of the previous one (Punkt's realignment). */
function realignBoundaries(text: string, spans: Span[]): Span[] {
  const out: Span[] = [];
  let realign = 0;
  for (let i = 0; i < spans.length; i++) {
    const current = { start: spans[i].start + realign, stop: spans[i].stop };
    const next = spans[i + 1];
    if (!next) {
      if (current.stop > current.start) out.push(current);
      continue;
    }
    const m = BOUNDARY_REALIGNMENT.exec(text.slice(next.start, next.stop));
    if (m) {
      out.push({ start: current.start, stop: next.start + pyRstrip(m[0]).length });
      realign = m[0].length;
    } else {
      realign = 0;
      if (current.stop > current.start) out.push(current);
    }
  }
  return out;
}

/** Split text into sentences as an untrained NLTK 3.8 PunktSentenceTokenizer does. */
export function splitSentences(text: string): string[] {
  return sentenceSpans(text).map((s) => text.slice(s.start, s.stop));
}
