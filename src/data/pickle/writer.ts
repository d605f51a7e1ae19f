/**
 * Pickle encoder for plain data, readable by Python's pickle (protocol 2 or 4) with the same values.
 *
 * JS -> Python: null -> None; boolean -> bool; number -> int when it is a safe integer (and not -0),
 * float otherwise; bigint -> int; string -> str; Uint8Array -> bytes; array -> list (tuple when a
 * Map key); Map -> dict with its keys' types; plain object -> dict with str keys.
 * No memo: a value referenced twice is written twice (cycles are an error).
 */
import { OP } from './opcodes.js';

export interface PickleWriteOptions {
  /** 2: readable by Python 2.3+; 4 (default): Python 3.4+, compact short strings, framed. */
  protocol?: 2 | 4;
  /** Protocol 4 only: group records into 64 KiB FRAMEs, as CPython does (default true). */
  frames?: boolean;
}

/** CPython's batch size for APPENDS/SETITEMS and its frame size target. */
const BATCH = 1000;
const FRAME_TARGET = 64 * 1024;

/** A programmer error in what was passed to encodePickle; the message says where in the value. */
export class PickleEncodeError extends TypeError {
  constructor(
    readonly problem: string,
    readonly path: string,
  ) {
    super(`cannot pickle ${problem} at ${path || 'the top level'}`);
    this.name = 'PickleEncodeError';
  }
}

function withPath(err: unknown, step: string): unknown {
  return err instanceof PickleEncodeError ? new PickleEncodeError(err.problem, step + err.path) : err;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  const name = (value as object).constructor?.name;
  return name ? `a ${name}` : 'an object';
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Python's encode_long: little-endian two's complement, as few bytes as hold the sign. */
export function encodeLong(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array(0);
  const bytes: number[] = [];
  let rest = value;
  // Emit bytes until the rest is only sign extension of the last byte written.
  for (;;) {
    const byte = Number(rest & 0xffn);
    bytes.push(byte);
    rest >>= 8n; // arithmetic shift: -1 stays -1
    if ((rest === 0n && byte < 0x80) || (rest === -1n && byte >= 0x80)) break;
  }
  return Uint8Array.from(bytes);
}

/** Growable output with record boundaries, so frames never split a record. */
class PickleSink {
  buf = Buffer.allocUnsafe(1 << 16);
  pos = 0;
  /** Offsets where a frame ends (protocol 4 framing). */
  readonly frameEnds: number[] = [];
  private frameStart = 0;

  constructor(private readonly framed: boolean) {}

  reserve(count: number): void {
    if (this.pos + count <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + count) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  /** Called after each complete record: a frame may end here. */
  endRecord(): void {
    if (this.framed && this.pos - this.frameStart >= FRAME_TARGET) {
      this.frameEnds.push(this.pos);
      this.frameStart = this.pos;
    }
  }

  op(code: number): void {
    this.reserve(1);
    this.buf[this.pos++] = code;
    this.endRecord();
  }

  /** An opcode with a fixed-size argument written by `write` at the given offset. */
  opWith(code: number, argBytes: number, write: (buf: Buffer, at: number) => void): void {
    this.reserve(1 + argBytes);
    this.buf[this.pos] = code;
    write(this.buf, this.pos + 1);
    this.pos += 1 + argBytes;
    this.endRecord();
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Final bytes: PROTO, then the body, cut into FRAMEs when framing. */
  finish(protocol: number): Uint8Array {
    const body = this.buf.subarray(0, this.pos);
    if (!this.framed) return concat([Uint8Array.of(OP.PROTO, protocol), body]);
    if (this.frameEnds[this.frameEnds.length - 1] !== this.pos) this.frameEnds.push(this.pos);
    const parts: Uint8Array[] = [Uint8Array.of(OP.PROTO, protocol)];
    let start = 0;
    for (const end of this.frameEnds) {
      const header = Buffer.alloc(9);
      header[0] = OP.FRAME;
      header.writeUInt32LE((end - start) % 2 ** 32, 1);
      header.writeUInt32LE(Math.floor((end - start) / 2 ** 32), 5);
      parts.push(header, body.subarray(start, end));
      start = end;
    }
    return concat(parts);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** String.prototype.isWellFormed (Node 20+; not yet in TypeScript's ES2022 lib): false when a lone surrogate is present. */
const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** UTF-8 with lone surrogates kept as 3-byte sequences, like Python's 'surrogatepass' in pickle. */
function utf8SurrogatePass(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const cp = text.codePointAt(i)!;
    if (cp > 0xffff) i++;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return Uint8Array.from(out);
}

class PickleEncoder {
  private readonly sink: PickleSink;
  /** Containers being written, to turn cycles into an error instead of a stack overflow. */
  private readonly active = new Set<object>();

  constructor(private readonly protocol: 2 | 4, framed: boolean) {
    this.sink = new PickleSink(framed);
  }

  finish(value: unknown): Uint8Array {
    this.value(value);
    this.sink.op(OP.STOP);
    return this.sink.finish(this.protocol);
  }

  private value(value: unknown): void {
    switch (typeof value) {
      case 'string':
        return this.string(value);
      case 'number':
        return this.number(value);
      case 'boolean':
        return this.sink.op(value ? OP.NEWTRUE : OP.NEWFALSE);
      case 'bigint':
        return this.bigint(value);
      case 'object':
        if (value === null) return this.sink.op(OP.NONE);
        if (value instanceof Uint8Array) return this.bytes(value);
        if (Array.isArray(value)) return this.container(value, () => this.list(value));
        if (value instanceof Map) return this.container(value, () => this.dict(value.entries()));
        if (isPlainObject(value)) return this.container(value, () => this.dict(Object.entries(value)));
        throw new PickleEncodeError(describe(value), '');
      default:
        throw new PickleEncodeError(describe(value), '');
    }
  }

  private container(value: object, write: () => void): void {
    if (this.active.has(value)) throw new PickleEncodeError('a cyclic reference', '');
    this.active.add(value);
    write();
    this.active.delete(value);
  }

  private number(value: number): void {
    const sink = this.sink;
    if (!Number.isSafeInteger(value) || Object.is(value, -0)) {
      return sink.opWith(OP.BINFLOAT, 8, (buf, at) => buf.writeDoubleBE(value, at));
    }
    if (value >= 0 && value < 0x100) return sink.opWith(OP.BININT1, 1, (buf, at) => (buf[at] = value));
    if (value >= 0 && value < 0x10000) return sink.opWith(OP.BININT2, 2, (buf, at) => buf.writeUInt16LE(value, at));
    if (value >= -0x80000000 && value <= 0x7fffffff) return sink.opWith(OP.BININT, 4, (buf, at) => buf.writeInt32LE(value, at));
    this.bigint(BigInt(value));
  }

  private bigint(value: bigint): void {
    const encoded = encodeLong(value);
    const long4 = encoded.length > 255;
    this.sink.opWith(long4 ? OP.LONG4 : OP.LONG1, long4 ? 4 : 1, (buf, at) => (long4 ? buf.writeInt32LE(encoded.length, at) : (buf[at] = encoded.length)));
    this.sink.raw(encoded);
    this.sink.endRecord();
  }

  private string(text: string): void {
    const sink = this.sink;
    if (!isWellFormed(text)) return this.counted(OP.SHORT_BINUNICODE, OP.BINUNICODE, OP.BINUNICODE8, utf8SurrogatePass(text));
    const length = Buffer.byteLength(text, 'utf8');
    if (this.protocol >= 4 && length < 256) {
      sink.reserve(2 + length);
      sink.buf[sink.pos] = OP.SHORT_BINUNICODE;
      sink.buf[sink.pos + 1] = length;
      sink.buf.write(text, sink.pos + 2, 'utf8');
      sink.pos += 2 + length;
      return sink.endRecord();
    }
    this.counted(OP.SHORT_BINUNICODE, OP.BINUNICODE, OP.BINUNICODE8, Buffer.from(text, 'utf8'));
  }

  private bytes(bytes: Uint8Array): void {
    if (this.protocol >= 3) return this.counted(OP.SHORT_BINBYTES, OP.BINBYTES, OP.BINBYTES8, bytes);
    // Protocol 2 has no bytes opcode: Python 3 writes _codecs.encode(latin-1 text, 'latin1') and
    // __builtin__.bytes() for empty bytes, which Python 2 and 3 both read back.
    if (bytes.length === 0) {
      this.global('__builtin__', 'bytes');
      this.sink.op(OP.EMPTY_TUPLE);
    } else {
      this.global('_codecs', 'encode');
      this.string(Buffer.from(bytes).toString('latin1'));
      this.string('latin1');
      this.sink.op(OP.TUPLE2);
    }
    this.sink.op(OP.REDUCE);
  }

  private global(module: string, name: string): void {
    this.sink.reserve(1);
    this.sink.buf[this.sink.pos++] = OP.GLOBAL;
    this.sink.raw(Buffer.from(`${module}\n${name}\n`, 'utf8'));
    this.sink.endRecord();
  }

  /** A length-prefixed payload: 1-byte length (protocol 4), 4-byte, or 8-byte for >= 4 GiB. */
  private counted(short: number, medium: number, long: number, payload: Uint8Array): void {
    const n = payload.length;
    if (n < 256 && this.protocol >= 4) this.sink.opWith(short, 1, (buf, at) => (buf[at] = n));
    else if (n < 2 ** 32) this.sink.opWith(medium, 4, (buf, at) => buf.writeUInt32LE(n, at));
    else this.sink.opWith(long, 8, (buf, at) => buf.writeBigUInt64LE(BigInt(n), at));
    this.sink.raw(payload);
    this.sink.endRecord();
  }

  private list(items: unknown[]): void {
    this.sink.op(OP.EMPTY_LIST);
    for (let start = 0; start < items.length; start += BATCH) {
      this.sink.op(OP.MARK);
      const end = Math.min(items.length, start + BATCH);
      for (let i = start; i < end; i++) {
        try {
          this.value(items[i]);
        } catch (err) {
          throw withPath(err, `[${i}]`);
        }
      }
      this.sink.op(OP.APPENDS);
    }
  }

  /** Tuples are only written as dict keys (a list is not hashable in Python). */
  private tuple(items: unknown[]): void {
    if (items.length === 0) return this.sink.op(OP.EMPTY_TUPLE);
    this.sink.op(OP.MARK);
    items.forEach((item, i) => {
      try {
        this.key(item);
      } catch (err) {
        throw withPath(err, `[${i}]`);
      }
    });
    this.sink.op(OP.TUPLE);
  }

  private key(key: unknown): void {
    if (Array.isArray(key)) return this.tuple(key);
    if (key !== null && typeof key === 'object') throw new PickleEncodeError(`${describe(key)} as a dict key (unhashable in Python)`, '');
    this.value(key);
  }

  private dict(entries: Iterable<[unknown, unknown]>): void {
    this.sink.op(OP.EMPTY_DICT);
    let inBatch = 0;
    for (const [key, item] of entries) {
      if (inBatch === 0) this.sink.op(OP.MARK);
      try {
        this.key(key);
        this.value(item);
      } catch (err) {
        throw withPath(err, `[${typeof key === 'string' ? JSON.stringify(key) : String(key)}]`);
      }
      if (++inBatch === BATCH) {
        this.sink.op(OP.SETITEMS);
        inBatch = 0;
      }
    }
    if (inBatch > 0) this.sink.op(OP.SETITEMS);
  }
}

/** Serialise to pickle bytes (protocol 2 or 4). Plain objects are written as dicts with string keys. */
export function encodePickle(value: unknown, opts: PickleWriteOptions = {}): Uint8Array {
  const protocol = opts.protocol ?? 4;
  if (protocol !== 2 && protocol !== 4) throw new RangeError(`pickle protocol must be 2 or 4, not ${String(protocol)}`);
  return new PickleEncoder(protocol, protocol === 4 && opts.frames !== false).finish(value);
}
