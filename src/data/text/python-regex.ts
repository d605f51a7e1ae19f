/**
 * Python `re`/`str` semantics for JavaScript regexes. NLTK's rules are written for Python 3, whose `\w`, `\d`, `\s`
 * and `\b` are Unicode-aware and whose `$` also matches before a final newline; JS's are ASCII-only (even with the `u`
 * flag) or differ, so the tokenizers build their patterns from these fragments instead.
 */

/** Characters Python's `str.isspace()` accepts: Unicode White_Space plus the ASCII separators \x1c-\x1f, not U+FEFF. */
const SPACE_CHARS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python `\w` on str: letters, numbers (isalnum) and underscore; combining marks are not word characters. */
const WORD_CHARS = '\\p{L}\\p{N}_';

export const PY_W = `[${WORD_CHARS}]`;
/** Python `\d` on str: decimal digits of any script. */
export const PY_D = '\\p{Nd}';
export const PY_S = `[${SPACE_CHARS}]`;
export const PY_NOT_S = `[^${SPACE_CHARS}]`;
/** Python `\b`: a boundary between a PY_W character and a non-PY_W character (or an end of the string). */
export const PY_B = `(?:(?<=${PY_W})(?!${PY_W})|(?<!${PY_W})(?=${PY_W}))`;
/** Python `$` without MULTILINE: the end of the string, or just before a newline that ends it. */
export const PY_END = '(?=\\n?$)';

const SPACE_RUN = new RegExp(`${PY_S}+`, 'u');
const LEADING_SPACE = new RegExp(`^${PY_S}+`, 'u');
const TRAILING_SPACE = new RegExp(`${PY_S}+$`, 'u');

/** Python `str.split()` with no argument: split on whitespace runs, no empty strings. */
export function pySplit(text: string): string[] {
  return text.split(SPACE_RUN).filter((part) => part.length > 0);
}

/** Python `str.rstrip()`. */
export function pyRstrip(text: string): string {
  return text.replace(TRAILING_SPACE, '');
}

/** Python `str.strip()`. */
export function pyStrip(text: string): string {
  return pyRstrip(text).replace(LEADING_SPACE, '');
}

/** Build a regex from a Python-style pattern string (fragments above interpolated); always Unicode mode. */
export function pyRegex(source: string, flags = 'g'): RegExp {
  return new RegExp(source, flags.includes('u') ? flags : `${flags}u`);
}
