/**
 * Pickle opcode bytes (protocols 0-5), as defined by CPython's Lib/pickle.py.
 * pickleparser keeps its own table as a `const enum` that its type declarations do not export,
 * so the project's pickle code (scanner, writers, streaming readers, torch.save detection) uses this
 * one, with each record's layout and each opcode's name.
 */
export const OP = {
  MARK: 0x28, // '('
  STOP: 0x2e, // '.'
  POP: 0x30, // '0'
  POP_MARK: 0x31, // '1'
  DUP: 0x32, // '2'
  FLOAT: 0x46, // 'F'  text float line
  INT: 0x49, // 'I'  text int line (also 00/01 for booleans)
  BININT: 0x4a, // 'J'  int32 LE
  BININT1: 0x4b, // 'K'  uint8
  LONG: 0x4c, // 'L'  text long line
  BININT2: 0x4d, // 'M'  uint16 LE
  NONE: 0x4e, // 'N'
  PERSID: 0x50, // 'P'
  BINPERSID: 0x51, // 'Q'
  REDUCE: 0x52, // 'R'
  STRING: 0x53, // 'S'  quoted, escaped text line
  BINSTRING: 0x54, // 'T'
  SHORT_BINSTRING: 0x55, // 'U'
  UNICODE: 0x56, // 'V'  raw-unicode-escape line
  BINUNICODE: 0x58, // 'X'
  APPEND: 0x61, // 'a'
  BUILD: 0x62, // 'b'
  GLOBAL: 0x63, // 'c'
  DICT: 0x64, // 'd'
  APPENDS: 0x65, // 'e'
  GET: 0x67, // 'g'
  BINGET: 0x68, // 'h'
  INST: 0x69, // 'i'
  LONG_BINGET: 0x6a, // 'j'
  LIST: 0x6c, // 'l'
  OBJ: 0x6f, // 'o'
  PUT: 0x70, // 'p'
  BINPUT: 0x71, // 'q'
  LONG_BINPUT: 0x72, // 'r'
  SETITEM: 0x73, // 's'
  TUPLE: 0x74, // 't'
  SETITEMS: 0x75, // 'u'
  EMPTY_DICT: 0x7d, // '}'
  EMPTY_LIST: 0x5d, // ']'
  EMPTY_TUPLE: 0x29, // ')'
  BINFLOAT: 0x47, // 'G'  float64 BE
  // protocol 2
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  // protocol 3
  BINBYTES: 0x42, // 'B'
  SHORT_BINBYTES: 0x43, // 'C'
  // protocol 4
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  // protocol 5
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

/**
 * How each opcode's record is laid out after its byte, as a 256-entry table (the scanner's switch on
 * it beats Set lookups on the millions of opcodes in a Recipe1M file): nothing (PLAIN), a MARK, an
 * opcode that pops to the last mark (CLOSER), FIXED_SIZE[op] bytes, one or two text lines, or a
 * length of 1, 4 or 8 bytes and that many bytes. 0 (the table default) is an unknown opcode.
 */
export const PLAIN = 1, MARK = 2, CLOSER = 3, FIXED = 4, LINE = 5, TWO_LINES = 6, COUNTED_1 = 7, COUNTED_4 = 8, COUNTED_8 = 9;
export const LAYOUT = new Uint8Array(256);
export const FIXED_SIZE = new Uint8Array(256);
function classify(kind: number, ops: number[], size = 0): void {
  for (const op of ops) {
    LAYOUT[op] = kind;
    FIXED_SIZE[op] = size;
  }
}
classify(PLAIN, [
  OP.STOP, OP.POP, OP.DUP, OP.NONE, OP.NEWTRUE, OP.NEWFALSE, OP.EMPTY_TUPLE, OP.TUPLE1, OP.TUPLE2, OP.TUPLE3,
  OP.EMPTY_LIST, OP.APPEND, OP.EMPTY_DICT, OP.SETITEM, OP.EMPTY_SET, OP.REDUCE, OP.BUILD, OP.NEWOBJ,
  OP.NEWOBJ_EX, OP.BINPERSID, OP.STACK_GLOBAL, OP.MEMOIZE, OP.NEXT_BUFFER, OP.READONLY_BUFFER,
]);
classify(MARK, [OP.MARK]);
classify(CLOSER, [OP.TUPLE, OP.LIST, OP.DICT, OP.APPENDS, OP.SETITEMS, OP.ADDITEMS, OP.FROZENSET, OP.POP_MARK, OP.OBJ]);
classify(FIXED, [OP.PROTO, OP.BININT1, OP.BINGET, OP.BINPUT, OP.EXT1], 1);
classify(FIXED, [OP.BININT2, OP.EXT2], 2);
classify(FIXED, [OP.BININT, OP.LONG_BINGET, OP.LONG_BINPUT, OP.EXT4], 4);
classify(FIXED, [OP.BINFLOAT, OP.FRAME], 8);
classify(LINE, [OP.INT, OP.LONG, OP.FLOAT, OP.STRING, OP.UNICODE, OP.GET, OP.PUT, OP.PERSID]);
classify(TWO_LINES, [OP.GLOBAL, OP.INST]);
classify(COUNTED_1, [OP.SHORT_BINSTRING, OP.SHORT_BINBYTES, OP.SHORT_BINUNICODE, OP.LONG1]);
classify(COUNTED_4, [OP.BINSTRING, OP.BINBYTES, OP.BINUNICODE, OP.LONG4]);
classify(COUNTED_8, [OP.BINUNICODE8, OP.BINBYTES8, OP.BYTEARRAY8]);

const NAMES = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name]));

/** "LONG1 (0x8a)" for error messages; unknown bytes print as hex only. */
export function opcodeLabel(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const name = NAMES.get(code);
  return name ? `${name} (${hex})` : hex;
}
