/**
 * One pass over a pickle's opcode stream before pickleparser runs. It does two jobs:
 *
 * 1. Validation with byte offsets: unknown opcodes, arguments running past the end, a missing STOP
 *    and MARK-less collection opcodes become a DataFileError naming the file and the offset,
 *    instead of a stack trace or (worse) a silently wrong value.
 * 2. Patches for the records pickleparser 0.2.1 decodes wrongly (measured, see test/pickle.test.ts):
 *    - LONG1 is read as unsigned and at most 8 bytes: negatives (every int below -2^31) come out as
 *      large positives, >= 2^53 loses precision, and >= 2^63 (9 bytes) throws for the whole file;
 *    - LONG4 ignores the sign;
 *    - protocol-0 INT/LONG lines go through parseInt (rounded beyond 2^53, Infinity for huge),
 *      FLOAT reads "inf" as NaN, UNICODE/STRING lines keep their escapes undecoded;
 *    - DICT with items on its mark (never written by CPython, legal from other picklers) sets
 *      properties on the Map instead of entries.
 *    The scanner decodes such records itself. The reader (parser-reader.ts) then shows pickleparser
 *    a short substitute opcode sequence in their place: EXT4 with a code reserved for us
 *    (>= 2^31, which Python never writes) whose extension resolver returns the decoded value.
 *
 * Pickles from CPython at protocol 2+ of plain data only need patches for ints outside int32, so
 * the usual Recipe1M file gets none and parses at pickleparser's own speed.
 */
import { DataFileError } from '../../util/errors.js';
import {
  CLOSER, COUNTED_1, COUNTED_4, COUNTED_8, FIXED, FIXED_SIZE, LAYOUT, LINE, MARK, OP, opcodeLabel, PLAIN, TWO_LINES,
} from './opcodes.js';
import {
  decodeLong,
  decodeRawUnicodeEscape,
  decodeStringLiteral,
  parseFloatLine,
  parseIntLine,
  parseLongLine,
} from './literals.js';

/** Extension codes at or above this are substitutes for patched records (Python's codes are < 2^31). */
export const SUBSTITUTE_CODE_BASE = 0x80000000;

/** In place of the record [at, resume), the reader serves `ops`, then continues at `resume`. */
export interface PicklePatch {
  at: number;
  resume: number;
  ops: Buffer;
}

export interface PickleScan {
  /** Sorted by `at`. */
  patches: PicklePatch[];
  /** values[i] is what extension code SUBSTITUTE_CODE_BASE + i stands for. */
  values: unknown[];
  /** From the PROTO opcode; 0 when absent (protocols 0 and 1 have none). */
  protocol: number;
  /** Offset just past STOP: where whatever follows the pickle (another pickle, raw data) starts. */
  end: number;
}

/** Build a Map from a DICT's flat [k0, v0, k1, v1, ...] items (the substitute for DICT with items). */
function dictFromItems(items: unknown[]): Map<unknown, unknown> {
  const dict = new Map<unknown, unknown>();
  for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
  return dict;
}

export function scanPickle(bytes: Buffer, file: string): PickleScan {
  const n = bytes.length;
  const patches: PicklePatch[] = [];
  const values: unknown[] = [];
  const marks: number[] = [];
  let protocol = 0;
  let unsorted = false;
  let at = 0;
  let pos = 0;

  // Protocols 2-5 start with PROTO; without it (protocols 0-1, or not a pickle) say so in errors.
  const hint = n > 0 && bytes[0] !== OP.PROTO ? '; the file has no pickle protocol header either, so it may not be a pickle at all' : '';
  const fail = (problem: string): never => {
    throw new DataFileError(file, `malformed pickle: ${opcodeLabel(bytes[at])} at byte ${at}: ${problem}${hint}`);
  };
  const need = (count: number): void => {
    if (pos + count > n) {
      throw new DataFileError(file, `truncated pickle: the file ends (${n} bytes) inside the ${opcodeLabel(bytes[at])} record that starts at byte ${at}${hint}`);
    }
  };
  const readLine = (): number => {
    const eol = bytes.indexOf(0x0a, pos);
    if (eol < 0) throw new DataFileError(file, `truncated pickle: no end of line after the ${opcodeLabel(bytes[at])} at byte ${at}${hint}`);
    return eol;
  };
  /** EXT4 with a fresh substitute code standing for `value`, then any `more` opcodes. */
  const pushValueOps = (value: unknown, more: number[] = []): Buffer => {
    const ops = Buffer.alloc(5 + more.length);
    ops[0] = OP.EXT4;
    ops.writeUInt32LE(SUBSTITUTE_CODE_BASE + values.length, 1);
    ops.set(more, 5);
    values.push(value);
    return ops;
  };
  const substitute = (value: unknown, resume: number): void => {
    patches.push({ at, resume, ops: pushValueOps(value) });
  };
  const decoded = <T>(decode: () => T): T => {
    try {
      return decode();
    } catch (err) {
      return fail((err as Error).message);
    }
  };

  while (pos < n) {
    at = pos;
    const op = bytes[pos++];
    let length: number;
    switch (LAYOUT[op]) {
      case PLAIN:
        if (op === OP.STOP) {
          if (unsorted) patches.sort((a, b) => a.at - b.at);
          return { patches, values, protocol, end: pos };
        }
        continue;
      case MARK:
        marks.push(at);
        continue;
      case CLOSER: {
        const mark = marks.pop();
        if (mark === undefined) return fail('no MARK before it');
        if (op === OP.DICT && mark !== at - 1) {
          // pickleparser would set the items as Map properties: build the Map with REDUCE instead.
          // MARK -> EXT4(dictFromItems) MARK;  DICT -> TUPLE TUPLE1 REDUCE  =>  dictFromItems(items)
          patches.push({ at: mark, resume: mark + 1, ops: pushValueOps(dictFromItems, [OP.MARK]) });
          patches.push({ at, resume: at + 1, ops: Buffer.from([OP.TUPLE, OP.TUPLE1, OP.REDUCE]) });
          unsorted = true;
        }
        continue;
      }
      case FIXED:
        need(FIXED_SIZE[op]);
        if (op === OP.PROTO) {
          protocol = bytes[pos];
          if (protocol > 5) throw new DataFileError(file, `unsupported pickle protocol ${protocol} (byte ${at}); Python writes 0-5`);
        } else if (op === OP.EXT4 && bytes.readUInt32LE(pos) >= SUBSTITUTE_CODE_BASE) {
          fail('extension code at or above 2^31');
        }
        pos += FIXED_SIZE[op];
        continue;
      case LINE: {
        const eol = readLine();
        const start = pos;
        pos = eol + 1;
        if (op === OP.INT) substitute(decoded(() => parseIntLine(bytes.toString('latin1', start, eol))), pos);
        else if (op === OP.LONG) substitute(decoded(() => parseLongLine(bytes.toString('latin1', start, eol))), pos);
        else if (op === OP.FLOAT) substitute(decoded(() => parseFloatLine(bytes.toString('latin1', start, eol))), pos);
        else if (op === OP.UNICODE) substitute(decoded(() => decodeRawUnicodeEscape(bytes, start, eol)), pos);
        else if (op === OP.STRING) substitute(decoded(() => decodeStringLiteral(bytes.toString('latin1', start, eol))), pos);
        continue;
      }
      case TWO_LINES:
        pos = readLine() + 1;
        pos = readLine() + 1;
        if (op === OP.INST && marks.pop() === undefined) fail('no MARK before it');
        continue;
      case COUNTED_1:
        need(1);
        length = bytes[pos];
        pos += 1;
        break;
      case COUNTED_4:
        need(4);
        // Python reads BINSTRING and LONG4 lengths as signed.
        length = op === OP.BINSTRING || op === OP.LONG4 ? bytes.readInt32LE(pos) : bytes.readUInt32LE(pos);
        if (length < 0) fail(`negative length ${length}`);
        pos += 4;
        break;
      case COUNTED_8:
        need(8);
        length = bytes.readUInt32LE(pos) + 2 ** 32 * bytes.readUInt32LE(pos + 4);
        pos += 8;
        break;
      default:
        if (at === 0) throw new DataFileError(file, `not a pickle: its first byte ${opcodeLabel(op)} is no pickle opcode`);
        throw new DataFileError(file, `malformed pickle: byte ${opcodeLabel(op)} at offset ${at} is no pickle opcode${hint}`);
    }
    need(length);
    if (op === OP.LONG1 || op === OP.LONG4) substitute(decodeLong(bytes, pos, length), pos + length);
    pos += length;
  }
  throw new DataFileError(file, n === 0 ? 'empty file: not a pickle' : `truncated pickle: no STOP opcode before the end of the file (${n} bytes)${hint}`);
}
