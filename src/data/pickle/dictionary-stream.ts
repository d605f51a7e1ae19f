import { closeSync, openSync, readSync } from 'node:fs';
import { OP } from './opcodes.js';
import { DataFileError } from '../../util/errors.js';
import { NumpyDType } from './numpy-values.js';
import { Float32RunningMean } from '../../util/vector-mean.js';

/**
 * A streaming reader for the seed's ingredient dictionary pickle: {label: [float32 vector, ...]}.
 * The real file holds every training ingredient line's vector (millions, several GB), more than
 * fs.readFile or a tree of decoded objects can hold. This small pickle machine reads the file in
 * chunks and folds each vector into its label's running mean as soon as the list receives it, so
 * memory stays at one chunk plus one running sum per label.
 *
 * It understands what CPython writes for that layout (protocols 2-5): dicts and defaultdicts of
 * int -> list, numpy arrays via _reconstruct + BUILD, numpy dtypes, memo opcodes. Arrays, tuples
 * and long byte strings are not kept in the memo (that would hold the whole file again); a pickle that
 * refers back to one of them gets a clear error instead of a wrong result.
 */

const CHUNK = 16 << 20;

class ChunkReader {
  private buf = Buffer.alloc(CHUNK);
  private pos = 0;
  private end = 0;
  private fileOffset = 0;

  constructor(private readonly fd: number, private readonly file: string) {}

  /** Byte offset in the file of the next unread byte. */
  get offset(): number {
    return this.fileOffset - (this.end - this.pos);
  }

  private ensure(n: number): void {
    if (this.end - this.pos >= n) return;
    const rest = this.end - this.pos;
    if (n > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(n, this.buf.length * 2));
      this.buf.copy(bigger, 0, this.pos, this.end);
      this.buf = bigger;
    } else {
      this.buf.copy(this.buf, 0, this.pos, this.end);
    }
    this.pos = 0;
    this.end = rest;
    while (this.end < n) {
      const got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.fileOffset);
      if (got === 0) throw new DataFileError(this.file, `truncated pickle: ends at byte ${this.fileOffset} inside a record`);
      this.end += got;
      this.fileOffset += got;
    }
  }

  byte(): number {
    this.ensure(1);
    return this.buf[this.pos++];
  }

  uint(size: 1 | 2 | 4 | 8): number {
    this.ensure(size);
    const at = this.pos;
    this.pos += size;
    if (size === 1) return this.buf[at];
    if (size === 2) return this.buf.readUInt16LE(at);
    if (size === 4) return this.buf.readUInt32LE(at);
    return this.buf.readUInt32LE(at) + 2 ** 32 * this.buf.readUInt32LE(at + 4);
  }

  int32(): number {
    this.ensure(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  float64be(): number {
    this.ensure(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A copy: the chunk is reused, so no value may keep a view of it. */
  bytes(n: number): Uint8Array {
    this.ensure(n);
    const out = Uint8Array.prototype.slice.call(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  line(): string {
    for (let want = 64; ; want *= 2) {
      this.ensureUpTo(want);
      const eol = this.buf.indexOf(0x0a, this.pos);
      if (eol >= 0 && eol < this.end) {
        const text = this.buf.toString('latin1', this.pos, eol);
        this.pos = eol + 1;
        return text;
      }
      if (want > 1 << 20) throw new DataFileError(this.file, `pickle text line longer than 1 MB at byte ${this.offset}`);
    }
  }

  /** Make up to `n` bytes available (fewer only at the end of the file). */
  private ensureUpTo(n: number): void {
    try {
      this.ensure(n);
    } catch (err) {
      if (!(err instanceof DataFileError) || this.end - this.pos === 0) throw err;
    }
  }
}

class Global {
  constructor(readonly name: string) {}
}
/** A numpy array awaiting BUILD, then its float32 values. */
class PendingArray {
  values: Float32Array | undefined;
}
class LabelList {
  constructor(readonly mean: Float32RunningMean) {}
}
class LabelDict {
  readonly lists = new Map<number, LabelList>();
}
class Tuple {
  constructor(readonly items: unknown[]) {}
}
const MARK = Symbol('mark');

export interface StreamedDictionary {
  /** Running means by label. */
  labels: Map<number, Float32RunningMean>;
}

/** Stream `file`, folding each vector into its label's mean; vectors must have `width` float32 values. */
export function streamIngredientDictionary(file: string, width: number): StreamedDictionary {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new DataFileError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot open (${(err as Error).message})`);
  }
  try {
    return run(new ChunkReader(fd, file), file, width);
  } finally {
    closeSync(fd);
  }
}

function run(r: ChunkReader, file: string, width: number): StreamedDictionary {
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let at = 0;
  const fail = (problem: string): never => {
    throw new DataFileError(file, `${problem} (byte ${at}); expected the seed's {label: [float32 vectors]} dictionary`);
  };
  const pop = (): unknown => (stack.length ? stack.pop() : fail('stack underflow'));
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no MARK');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  // Only small shared values are remembered: see the module comment.
  let memoized = 0;
  const remember = (index: number, value: unknown): void => {
    memoized = Math.max(memoized, index + 1);
    // numpy shares its one-byte b'b' marker between arrays; a vector's own data and tuples are fresh each time.
    if (value instanceof Tuple || value instanceof PendingArray || (value instanceof Uint8Array && value.byteLength > 64)) memo.delete(index);
    else memo.set(index, value);
  };
  const recall = (index: number): unknown => (memo.has(index) ? memo.get(index) : fail(`memo entry ${index} refers back to an array, tuple or byte string, which this reader does not keep`));
  const append = (list: unknown, item: unknown): void => {
    if (!(list instanceof LabelList)) fail('APPEND to something other than a label\'s list');
    if (!(item instanceof PendingArray) || !item.values) return fail('a list item is not a numpy float32 array');
    if (item.values.length !== width) fail(`a vector has ${item.values.length} values, the model's recipe width is ${width}`);
    (list as LabelList).mean.add(item.values);
    item.values = undefined;
  };
  const setItem = (dict: unknown, key: unknown, value: unknown): void => {
    if (!(dict instanceof LabelDict)) fail('SETITEM on something other than the dictionary');
    if (typeof key !== 'number' || !Number.isInteger(key)) fail(`key ${JSON.stringify(key)} is not an integer label`);
    if (!(value instanceof LabelList)) fail(`label ${String(key)} maps to something other than a list`);
    (dict as LabelDict).lists.set(key as number, value as LabelList);
  };
  const call = (fn: unknown, args: unknown[]): unknown => {
    if (!(fn instanceof Global)) return fail('REDUCE of something other than a global');
    switch (fn.name) {
      case 'collections.defaultdict':
      case 'collections.OrderedDict':
      case 'builtins.dict':
        return new LabelDict();
      case 'numpy.core.multiarray._reconstruct':
      case 'numpy._core.multiarray._reconstruct':
        return new PendingArray();
      case 'numpy.core.numeric._frombuffer':
      case 'numpy._core.numeric._frombuffer': {
        // Protocol 5: the data comes first, in-band (BYTEARRAY8).
        const array = new PendingArray();
        build(array, new Tuple([1, args[2], args[1], args[3] === 'F', args[0]]));
        return array;
      }
      case 'numpy.dtype': {
        if (typeof args[0] !== 'string') return fail('numpy.dtype without a name');
        try {
          return new NumpyDType(args[0]);
        } catch (err) {
          return fail((err as Error).message);
        }
      }
      case '_codecs.encode':
        if (typeof args[0] !== 'string') return fail('_codecs.encode without text');
        return new Uint8Array(Buffer.from(args[0], 'latin1'));
      default:
        return fail(`unexpected global ${fn.name}`);
    }
  };
  const build = (obj: unknown, state: unknown): void => {
    if (obj instanceof NumpyDType) return obj.__setstate__(state instanceof Tuple ? state.items : state);
    if (obj instanceof LabelDict) return; // instance attributes of a dict subclass: nothing we need
    if (!(obj instanceof PendingArray)) return fail('BUILD of an unexpected object');
    const items = state instanceof Tuple ? state.items : [];
    const [, shape, dtype, , raw] = items;
    if (!(dtype instanceof NumpyDType) || dtype.kind !== 'f' || dtype.itemSize !== 4) return fail('a vector is not float32');
    if (!(raw instanceof Uint8Array)) return fail('a vector has no raw data');
    const dims = shape instanceof Tuple ? shape.items : [];
    const size = dims.reduce((a: number, d) => a * (d as number), 1);
    if (raw.byteLength !== size * 4) fail('a vector\'s data does not fill its shape');
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = view.getFloat32(i * 4, dtype.littleEndian);
    obj.values = values;
  };

  for (;;) {
    at = r.offset;
    const op = r.byte();
    switch (op) {
      case OP.PROTO: r.uint(1); break;
      case OP.FRAME: r.uint(8); break;
      case OP.STOP: {
        const root = pop();
        if (!(root instanceof LabelDict)) return fail('the pickle is not a dict');
        return { labels: new Map([...root.lists].map(([k, v]) => [k, v.mean])) };
      }
      case OP.MARK: stack.push(MARK); break;
      case OP.POP: pop(); break;
      case OP.EMPTY_DICT: stack.push(new LabelDict()); break;
      case OP.EMPTY_LIST: stack.push(new LabelList(new Float32RunningMean(width))); break;
      case OP.EMPTY_TUPLE: stack.push(new Tuple([])); break;
      case OP.TUPLE: stack.push(new Tuple(popMark())); break;
      case OP.TUPLE1: case OP.TUPLE2: case OP.TUPLE3: {
        const n = op - OP.TUPLE1 + 1;
        if (stack.length < n) fail('stack underflow');
        stack.push(new Tuple(stack.splice(stack.length - n)));
        break;
      }
      case OP.APPEND: { const item = pop(); append(stack[stack.length - 1], item); break; }
      case OP.APPENDS: { const items = popMark(); for (const item of items) append(stack[stack.length - 1], item); break; }
      case OP.SETITEM: { const value = pop(); const key = pop(); setItem(stack[stack.length - 1], key, value); break; }
      case OP.SETITEMS: {
        const items = popMark();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(stack[stack.length - 1], items[i], items[i + 1]);
        break;
      }
      case OP.BININT: stack.push(r.int32()); break;
      case OP.BININT1: stack.push(r.uint(1)); break;
      case OP.BININT2: stack.push(r.uint(2)); break;
      case OP.LONG1: {
        const bytes = r.bytes(r.uint(1));
        let v = 0n;
        for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
        if (bytes.length && bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
        stack.push(Number(v));
        break;
      }
      case OP.NONE: stack.push(null); break;
      case OP.NEWTRUE: stack.push(true); break;
      case OP.NEWFALSE: stack.push(false); break;
      case OP.BINFLOAT: stack.push(r.float64be()); break;
      case OP.SHORT_BINUNICODE: stack.push(Buffer.from(r.bytes(r.uint(1))).toString('utf8')); break;
      case OP.BINUNICODE: stack.push(Buffer.from(r.bytes(r.uint(4))).toString('utf8')); break;
      case OP.BINUNICODE8: stack.push(Buffer.from(r.bytes(r.uint(8))).toString('utf8')); break;
      case OP.SHORT_BINBYTES: case OP.SHORT_BINSTRING: stack.push(r.bytes(r.uint(1))); break;
      case OP.BINBYTES: case OP.BINSTRING: stack.push(r.bytes(r.uint(4))); break;
      case OP.BINBYTES8: case OP.BYTEARRAY8: stack.push(r.bytes(r.uint(8))); break;
      case OP.GLOBAL: { const module = r.line(); stack.push(new Global(`${module}.${r.line()}`)); break; }
      case OP.STACK_GLOBAL: { const name = pop(); const module = pop(); stack.push(new Global(`${String(module)}.${String(name)}`)); break; }
      case OP.REDUCE: {
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args instanceof Tuple ? args.items : []));
        break;
      }
      case OP.NEWOBJ: { const args = pop(); const cls = pop(); stack.push(call(cls, args instanceof Tuple ? args.items : [])); break; }
      case OP.BUILD: { const state = pop(); build(stack[stack.length - 1], state); break; }
      case OP.MEMOIZE: remember(memoized, stack[stack.length - 1]); break;
      case OP.BINPUT: remember(r.uint(1), stack[stack.length - 1]); break;
      case OP.LONG_BINPUT: remember(r.uint(4), stack[stack.length - 1]); break;
      case OP.BINGET: stack.push(recall(r.uint(1))); break;
      case OP.LONG_BINGET: stack.push(recall(r.uint(4))); break;
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16)}`);
    }
  }
}
