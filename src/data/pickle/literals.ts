/**
 * Decoders for the opcode arguments that pickleparser 0.2.1 decodes wrongly (see scan.ts):
 * binary longs, protocol-0 number lines and protocol-0 string lines. Each throws a plain Error on
 * bad input; the scanner adds the file name and byte offset.
 */

/** A Python int as JS: a number while it is a safe integer, a bigint beyond (so nothing is rounded). */
export function intValue(value: bigint): number | bigint {
  return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value;
}

/** LONG1/LONG4 payload: little-endian two's complement of `length` bytes (0 bytes = 0). */
export function decodeLong(bytes: Uint8Array, start: number, length: number): number | bigint {
  if (length === 0) return 0;
  if (length <= 6) {
    // Up to 48 bits is exact in float arithmetic: skip BigInt on the common path.
    let value = 0;
    for (let i = length - 1; i >= 0; i--) value = value * 256 + bytes[start + i];
    return bytes[start + length - 1] >= 0x80 ? value - 2 ** (8 * length) : value;
  }
  let hex = '';
  for (let i = start + length - 1; i >= start; i--) hex += bytes[i].toString(16).padStart(2, '0');
  let value = BigInt(`0x${hex}`);
  if (bytes[start + length - 1] >= 0x80) value -= 1n << BigInt(8 * length);
  return intValue(value);
}

/** Python's int(text, 0): optional sign; decimal without leading zeros, or 0x/0o/0b; single underscores between digits. */
const PYTHON_INT = /^\s*([+-]?)([1-9](?:_?\d)*|0(?:_?0)*|0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+)\s*$/;

function parsePythonInt(text: string): bigint {
  const match = PYTHON_INT.exec(text);
  if (!match) throw new Error(`${JSON.stringify(text)} is not an integer`);
  const digits = match[2].replace(/_/g, '');
  const magnitude = BigInt(digits); // BigInt reads 0x/0o/0b prefixes itself
  return match[1] === '-' ? -magnitude : magnitude;
}

/** INT line: "00"/"01" are False/True (protocol-0 booleans), anything else an int. */
export function parseIntLine(text: string): number | bigint | boolean {
  if (text === '00') return false;
  if (text === '01') return true;
  return intValue(parsePythonInt(text));
}

/** LONG line: an int with an optional trailing "L" (Python 2 wrote "123L"). */
export function parseLongLine(text: string): number | bigint {
  return intValue(parsePythonInt(text.endsWith('L') ? text.slice(0, -1) : text));
}

/** FLOAT line: Python's repr(float), which writes "inf", "-inf" and "nan" (parseFloat reads "inf" as NaN). */
export function parseFloatLine(text: string): number {
  const t = text.trim().toLowerCase().replace(/_/g, '');
  const unsigned = t.replace(/^[+-]/, '');
  if (unsigned === 'inf' || unsigned === 'infinity') return t.startsWith('-') ? -Infinity : Infinity;
  if (unsigned === 'nan') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) throw new Error(`${JSON.stringify(text)} is not a float`);
  return Number(t);
}

function hexDigits(bytes: Uint8Array, start: number, count: number, end: number): number {
  if (start + count > end) throw new Error('truncated \\u or \\U escape');
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const d = parseInt(String.fromCharCode(bytes[i]), 16);
    if (Number.isNaN(d)) throw new Error('bad \\u or \\U escape');
    value = value * 16 + d;
  }
  return value;
}

/**
 * UNICODE line, Python's 'raw-unicode-escape': bytes are Latin-1 code points except \uXXXX and
 * \UXXXXXXXX, which count only after an odd run of backslashes (CPython's rule).
 */
export function decodeRawUnicodeEscape(bytes: Uint8Array, start: number, end: number): string {
  const parts: string[] = [];
  let i = start;
  while (i < end) {
    const b = bytes[i];
    if (b !== 0x5c) {
      parts.push(String.fromCharCode(b));
      i++;
      continue;
    }
    const runStart = i;
    while (i < end && bytes[i] === 0x5c) i++;
    const run = i - runStart;
    const next = i < end ? bytes[i] : -1;
    if (run % 2 === 0 || (next !== 0x75 && next !== 0x55)) {
      parts.push('\\'.repeat(run));
      continue;
    }
    parts.push('\\'.repeat(run - 1));
    const count = next === 0x75 ? 4 : 8;
    const codePoint = hexDigits(bytes, i + 1, count, end);
    if (codePoint > 0x10ffff) throw new Error('\\U escape beyond U+10FFFF');
    parts.push(codePoint <= 0xffff ? String.fromCharCode(codePoint) : String.fromCodePoint(codePoint));
    i += 1 + count;
  }
  return parts.join('');
}

const SIMPLE_ESCAPES: Record<string, number> = { '\\': 0x5c, "'": 0x27, '"': 0x22, a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };

/**
 * STRING line (Python 2 str): a quoted repr decoded with Python's escape_decode, then read as Latin-1
 * (Python 3 would need encoding='latin1' for non-ASCII bytes; Latin-1 keeps every byte).
 */
export function decodeStringLiteral(text: string): string {
  const quote = text[0];
  if (text.length < 2 || (quote !== '"' && quote !== "'") || text[text.length - 1] !== quote) {
    throw new Error('STRING argument is not a quoted string (Python calls this an insecure string pickle)');
  }
  const body = text.slice(1, -1);
  if (!body.includes('\\')) return body;
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\' || i + 1 >= body.length) {
      if (c === '\\') throw new Error('STRING argument ends with a lone backslash');
      out += c;
      continue;
    }
    const e = body[++i];
    if (e in SIMPLE_ESCAPES) out += String.fromCharCode(SIMPLE_ESCAPES[e]);
    else if (e === '\n') continue;
    else if (e === 'x') {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Error('bad \\x escape in STRING argument');
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else if (e >= '0' && e <= '7') {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i, i + 3))![0];
      out += String.fromCharCode(parseInt(oct, 8) & 0xff);
      i += oct.length - 1;
    } else out += `\\${e}`;
  }
  return out;
}
