import { encodeLong } from './writer.js';
import { OP } from './opcodes.js';

/**
 * A protocol-2 pickler for the object graphs torch.save writes: plain data plus globals, calls
 * (REDUCE, with BUILD state and dict items) and persistent ids (storages). encodePickle
 * (writer.ts) deliberately writes plain data only; this writer exists so tests and
 * benchmarks can make real checkpoints (and dictionary pickles) without Python.
 */

export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
}

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python float (a JS number alone would be written as an int when it is whole). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** callable(*args), then optionally dict items (SETITEMS) and BUILD state, as Python's save_reduce does. */
export class PyReduce {
  constructor(
    readonly callable: PyGlobal,
    readonly args: PyValue[],
    readonly extra: { dictItems?: Array<[PyValue, PyValue]>; state?: PyValue } = {},
  ) {}
}

/** BINPERSID of `id` (torch: ('storage', type, key, location, numel)). */
export class PyPersistentId {
  constructor(readonly id: PyTuple) {}
}

export type PyValue =
  | null | boolean | number | bigint | string | Uint8Array | PyValue[] | Map<PyValue, PyValue>
  | PyGlobal | PyTuple | PyFloat | PyReduce | PyPersistentId;

class Out {
  private chunks: Buffer[] = [];
  byte(...bytes: number[]): void {
    this.chunks.push(Buffer.from(bytes));
  }
  bytes(data: Uint8Array): void {
    this.chunks.push(Buffer.from(data));
  }
  u32(value: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value);
    this.chunks.push(b);
  }
  result(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function writeInt(out: Out, value: bigint | number): void {
  if (typeof value === 'number' && value >= 0 && value < 256) return out.byte(OP.BININT1, value);
  if (typeof value === 'number' && value >= 0 && value < 65536) return out.byte(OP.BININT2, value & 0xff, value >> 8);
  if (typeof value === 'number' && value >= -(2 ** 31) && value < 2 ** 31) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(value);
    out.byte(OP.BININT);
    return out.bytes(b);
  }
  const encoded = encodeLong(BigInt(value));
  out.byte(OP.LONG1, encoded.length);
  out.bytes(encoded);
}

function writeString(out: Out, text: string): void {
  const utf8 = Buffer.from(text, 'utf8');
  out.byte(OP.BINUNICODE);
  out.u32(utf8.length);
  out.bytes(utf8);
}

function writeTupleItems(out: Out, items: readonly PyValue[]): void {
  if (items.length === 0) return out.byte(OP.EMPTY_TUPLE);
  if (items.length <= 3) {
    for (const item of items) write(out, item);
    return out.byte([OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]);
  }
  out.byte(OP.MARK);
  for (const item of items) write(out, item);
  out.byte(OP.TUPLE);
}

function writeDictItems(out: Out, items: Iterable<[PyValue, PyValue]>): void {
  const list = [...items];
  if (!list.length) return;
  out.byte(OP.MARK);
  for (const [k, v] of list) {
    write(out, k);
    write(out, v);
  }
  out.byte(OP.SETITEMS);
}

function write(out: Out, value: PyValue): void {
  if (value === null) return out.byte(OP.NONE);
  if (value === true) return out.byte(OP.NEWTRUE);
  if (value === false) return out.byte(OP.NEWFALSE);
  if (typeof value === 'bigint') return writeInt(out, value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`${value} is not an integer: wrap floats in PyFloat`);
    return writeInt(out, value);
  }
  if (typeof value === 'string') return writeString(out, value);
  if (value instanceof PyFloat) {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(value.value);
    out.byte(OP.BINFLOAT);
    return out.bytes(b);
  }
  if (value instanceof Uint8Array) {
    // Protocol 2 has no bytes opcode: Python 3 writes _codecs.encode(latin-1 text, 'latin1').
    return write(out, new PyReduce(new PyGlobal('_codecs', 'encode'), [Buffer.from(value).toString('latin1'), 'latin1']));
  }
  if (Array.isArray(value)) {
    out.byte(OP.EMPTY_LIST);
    if (value.length) {
      out.byte(OP.MARK);
      for (const item of value) write(out, item);
      out.byte(OP.APPENDS);
    }
    return;
  }
  if (value instanceof Map) {
    out.byte(OP.EMPTY_DICT);
    return writeDictItems(out, value);
  }
  if (value instanceof PyGlobal) {
    out.byte(OP.GLOBAL);
    return out.bytes(Buffer.from(`${value.module}\n${value.name}\n`, 'utf8'));
  }
  if (value instanceof PyTuple) return writeTupleItems(out, value.items);
  if (value instanceof PyPersistentId) {
    writeTupleItems(out, value.id.items);
    return out.byte(OP.BINPERSID);
  }
  if (value instanceof PyReduce) {
    write(out, value.callable);
    writeTupleItems(out, value.args);
    out.byte(OP.REDUCE);
    if (value.extra.dictItems) writeDictItems(out, value.extra.dictItems);
    if (value.extra.state !== undefined) {
      write(out, value.extra.state);
      out.byte(OP.BUILD);
    }
    return;
  }
  throw new Error(`cannot pickle ${typeof value}`);
}

/** PROTO 2, the value, STOP. */
export function picklePython(value: PyValue): Buffer {
  const out = new Out();
  out.byte(OP.PROTO, 2);
  write(out, value);
  out.byte(OP.STOP);
  return out.result();
}

const ORDERED_DICT = new PyGlobal('collections', 'OrderedDict');

/** collections.OrderedDict(items), with `_metadata` set by BUILD when given (a state_dict). */
export function pyOrderedDict(items: Array<[PyValue, PyValue]>, metadata?: PyValue): PyReduce {
  const state = metadata === undefined ? undefined : new Map<PyValue, PyValue>([['_metadata', metadata]]);
  return new PyReduce(ORDERED_DICT, [], { dictItems: items, ...(state ? { state } : {}) });
}

/** A numpy float32 vector, pickled as numpy 1.x does (_reconstruct + BUILD state). */
export function pyNumpyFloat32(values: Float32Array): PyReduce {
  const dtype = new PyReduce(new PyGlobal('numpy', 'dtype'), ['f4', false, true], {
    state: new PyTuple([3, '<', null, null, null, -1, -1, 0]),
  });
  const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return new PyReduce(
    new PyGlobal('numpy.core.multiarray', '_reconstruct'),
    [new PyGlobal('numpy', 'ndarray'), new PyTuple([0]), Buffer.from('b', 'latin1')],
    { state: new PyTuple([1, new PyTuple([values.length]), dtype, false, raw]) },
  );
}

/** A numpy float64 scalar (what best_recall1 is in the seed's checkpoints). */
export function pyNumpyFloat64(value: number): PyReduce {
  const dtype = new PyReduce(new PyGlobal('numpy', 'dtype'), ['f8', false, true], {
    state: new PyTuple([3, '<', null, null, null, -1, -1, 0]),
  });
  const raw = Buffer.alloc(8);
  raw.writeDoubleLE(value);
  return new PyReduce(new PyGlobal('numpy.core.multiarray', 'scalar'), [dtype, raw]);
}
