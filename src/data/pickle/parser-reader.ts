/**
 * The byte source pickleparser's Parser.read() pulls from. Compared with pickleparser's own
 * BufferReader it (1) serves the substitute opcodes of the scanner's patches in place of the records
 * they replace, (2) decodes strings with Node's Buffer methods (faster than TextDecoder on the
 * millions of short strings in a Recipe1M file), (3) reads Python 2 str (BINSTRING) as Latin-1,
 * which keeps every byte, where TextDecoder('ascii') is really windows-1252, and (4) copies
 * bytes values, so results do not pin the whole file buffer in memory.
 */
import type { Parser } from 'pickleparser';
import type { PicklePatch } from './scan.js';

export type PickleParserReader = Parameters<Parser['read']>[0];

/**
 * Buffer#utf8Slice/latin1Slice: what Buffer#toString calls after its argument checks; undocumented
 * but present in every Node since 0.x, and 2-3x faster per call on short strings. Checked once here.
 */
interface SliceBuffer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
const utf8Slice: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as unknown as Partial<SliceBuffer>).utf8Slice === 'function'
    ? (buf, start, end) => (buf as unknown as SliceBuffer).utf8Slice(start, end)
    : (buf, start, end) => buf.toString('utf8', start, end);
const latin1Slice: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as unknown as Partial<SliceBuffer>).latin1Slice === 'function'
    ? (buf, start, end) => (buf as unknown as SliceBuffer).latin1Slice(start, end)
    : (buf, start, end) => buf.toString('latin1', start, end);

export class PatchedPickleReader implements PickleParserReader {
  /** The buffer being read: the file, or a patch's substitute opcodes. */
  private buf: Buffer;
  private pos = 0;
  /** Position in `buf` at which to switch source: the next patch (file) or the end of the patch. */
  private switchAt: number;
  private nextPatch = 0;
  private current: PicklePatch | null = null;

  constructor(
    private readonly file: Buffer,
    private readonly patches: readonly PicklePatch[],
  ) {
    this.buf = file;
    this.switchAt = patches.length > 0 ? patches[0].at : -1;
  }

  /** Offset in the file of the record being read, for error messages. */
  get filePosition(): number {
    return this.current ? this.current.at : this.pos;
  }

  /** Switches happen only at record boundaries, where the parser calls hasNext() then byte(). */
  private switchSource(): void {
    while (this.pos === this.switchAt) {
      if (this.current) {
        this.buf = this.file;
        this.pos = this.current.resume;
        this.current = null;
        this.switchAt = this.nextPatch < this.patches.length ? this.patches[this.nextPatch].at : -1;
      } else {
        this.current = this.patches[this.nextPatch++];
        this.buf = this.current.ops;
        this.pos = 0;
        this.switchAt = this.buf.length;
      }
    }
  }

  private take(count: number): number {
    const start = this.pos;
    if (start + count > this.buf.length) throw new Error(`unexpected end of data at byte ${start}`);
    this.pos = start + count;
    return start;
  }

  hasNext(): boolean {
    if (this.pos === this.switchAt) this.switchSource();
    return this.pos < this.buf.length;
  }

  byte(): number {
    if (this.pos === this.switchAt) this.switchSource();
    return this.buf[this.take(1)];
  }

  bytes(length: number): Uint8Array {
    const start = this.take(length);
    return new Uint8Array(this.buf.subarray(start, start + length));
  }

  uint16(): number {
    return this.buf.readUInt16LE(this.take(2));
  }

  int32(): number {
    return this.buf.readInt32LE(this.take(4));
  }

  uint32(): number {
    return this.buf.readUInt32LE(this.take(4));
  }

  uint64(): number {
    const start = this.take(8);
    const value = this.buf.readUInt32LE(start) + 2 ** 32 * this.buf.readUInt32LE(start + 4);
    // Only lengths and frame sizes are read this way; the scanner has bounded them by the file size.
    if (!Number.isSafeInteger(value)) throw new Error(`64-bit length ${value} at byte ${start} is out of range`);
    return value;
  }

  float64(): number {
    return this.buf.readDoubleBE(this.take(8));
  }

  skip(offset: number): void {
    this.take(offset);
  }

  string(size: number, encoding: 'ascii' | 'utf-8'): string {
    const start = this.take(size);
    return encoding === 'utf-8' ? utf8Slice(this.buf, start, start + size) : latin1Slice(this.buf, start, start + size);
  }

  line(): string {
    const eol = this.buf.indexOf(0x0a, this.pos);
    if (eol < 0) throw new Error(`no end of line after byte ${this.pos}`);
    const text = utf8Slice(this.buf, this.pos, eol);
    this.pos = eol + 1;
    return text;
  }
}
