import { closeSync, openSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { picklePython, PyGlobal, PyPersistentId, PyReduce, PyTuple, pyOrderedDict, type PyValue } from '../data/pickle/python-pickler.js';

/**
 * Writes checkpoints in torch.save's zip format (`train --fine-tune` saves seed-format checkpoints
 * with it; tests and benchmarks write fixtures with it): STORED entries whose data starts on a
 * 64-byte boundary (torch pads the local header's extra field), optionally zip64
 * records (torch uses them past 4 GiB; `forceZip64` exercises a reader's zip64 path on small files).
 * Tensor data is produced by callbacks chunk by chunk, so multi-GB files need little memory.
 */

const ALIGNMENT = 64;
const U32_MAX = 0xffffffff;
const CHUNK_ELEMENTS = 1 << 20;

export type WritableDType = 'float32' | 'int64';
/** Fill `out` with elements [start, start + out.length) of the tensor. */
export type TensorFill = (out: Float32Array | BigInt64Array, start: number) => void;

interface PendingStorage {
  key: string;
  dtype: WritableDType;
  numel: number;
  fill: TensorFill;
}

interface WrittenEntry {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
}

const STORAGE_TYPE: Record<WritableDType, string> = { float32: 'FloatStorage', int64: 'LongStorage' };
const REBUILD = new PyGlobal('torch._utils', '_rebuild_tensor_v2');

export interface TorchZipOptions {
  /** Top folder inside the archive (torch: the file name without its extension). */
  folder?: string;
  forceZip64?: boolean;
  /** Storage location tag written into the persistent ids. */
  location?: string;
}

export class TorchCheckpointWriter {
  private readonly storages: PendingStorage[] = [];
  private readonly entries: WrittenEntry[] = [];
  private fd: number | undefined;
  private position = 0;
  readonly folder: string;

  constructor(readonly file: string, private readonly opts: TorchZipOptions = {}) {
    this.folder = opts.folder ?? 'archive';
  }

  /** A tensor (contiguous, own storage) for the object graph; its data is produced at finish(). */
  tensor(dtype: WritableDType, shape: readonly number[], fill: TensorFill): PyReduce {
    const key = String(this.storages.length);
    const numel = shape.reduce((a, b) => a * b, 1);
    this.storages.push({ key, dtype, numel, fill });
    const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
    const storage = new PyPersistentId(new PyTuple(['storage', new PyGlobal('torch', STORAGE_TYPE[dtype]), key, this.opts.location ?? 'cpu', numel]));
    return new PyReduce(REBUILD, [storage, 0, new PyTuple([...shape]), new PyTuple(stride), false, pyOrderedDict([])]);
  }

  /** A tensor holding `values` (copied at finish()). */
  tensorOf(values: Float32Array | BigInt64Array, shape: readonly number[]): PyReduce {
    const dtype: WritableDType = values instanceof Float32Array ? 'float32' : 'int64';
    return this.tensor(dtype, shape, (out, start) => {
      (out as Float32Array).set((values as Float32Array).subarray(start, start + out.length));
    });
  }

  /** Write data.pkl for `root`, every storage, `version` and the central directory. */
  finish(root: PyValue): { bytes: number } {
    this.fd = openSync(this.file, 'w');
    try {
      this.addEntry(`${this.folder}/data.pkl`, [picklePython(root)]);
      for (const s of this.storages) this.addStorage(s);
      this.addEntry(`${this.folder}/version`, [Buffer.from('3\n')]);
      this.writeDirectory();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
    return { bytes: this.position };
  }

  private write(data: Uint8Array, at?: number): void {
    let done = 0;
    while (done < data.byteLength) done += writeSync(this.fd!, data, done, data.byteLength - done, at === undefined ? this.position + done : at + done);
    if (at === undefined) this.position += data.byteLength;
  }

  private zip64(size: number, offset: number): boolean {
    return this.opts.forceZip64 === true || size >= U32_MAX || offset >= U32_MAX;
  }

  /** Local header (CRC patched in after the data) padded so the data starts on a 64-byte boundary. */
  private beginEntry(nameText: string, size: number): WrittenEntry {
    const name = Buffer.from(nameText, 'utf8');
    const offset = this.position;
    const zip64 = this.zip64(size, offset);
    const zip64Extra = zip64 ? 20 : 0;
    const unpadded = offset + 30 + name.length + zip64Extra + 4;
    const pad = (ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT;
    const header = Buffer.alloc(30 + name.length + zip64Extra + 4 + pad);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(zip64 ? 45 : 20, 4);
    header.writeUInt32LE(zip64 ? U32_MAX : size, 18);
    header.writeUInt32LE(zip64 ? U32_MAX : size, 22);
    header.writeUInt16LE(name.length, 26);
    header.writeUInt16LE(zip64Extra + 4 + pad, 28);
    name.copy(header, 30);
    let at = 30 + name.length;
    if (zip64) {
      header.writeUInt16LE(0x0001, at);
      header.writeUInt16LE(16, at + 2);
      header.writeBigUInt64LE(BigInt(size), at + 4);
      header.writeBigUInt64LE(BigInt(size), at + 12);
      at += 20;
    }
    header.writeUInt16LE(0x4246, at); // 'FB': torch's padding record
    header.writeUInt16LE(pad, at + 2);
    this.write(header);
    return { name, crc: 0, size, offset };
  }

  private endEntry(entry: WrittenEntry, crc: number): void {
    entry.crc = crc;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(crc >>> 0);
    this.write(b, entry.offset + 14);
    this.entries.push(entry);
  }

  private addEntry(name: string, chunks: Uint8Array[]): void {
    const entry = this.beginEntry(name, chunks.reduce((n, c) => n + c.byteLength, 0));
    let crc = 0;
    for (const chunk of chunks) {
      crc = crc32(chunk, crc);
      this.write(chunk);
    }
    this.endEntry(entry, crc);
  }

  private addStorage(s: PendingStorage): void {
    const itemSize = s.dtype === 'float32' ? 4 : 8;
    const entry = this.beginEntry(`${this.folder}/data/${s.key}`, s.numel * itemSize);
    let crc = 0;
    for (let start = 0; start < s.numel; start += CHUNK_ELEMENTS) {
      const count = Math.min(CHUNK_ELEMENTS, s.numel - start);
      const out = s.dtype === 'float32' ? new Float32Array(count) : new BigInt64Array(count);
      s.fill(out, start);
      const bytes = new Uint8Array(out.buffer, 0, out.byteLength);
      crc = crc32(bytes, crc);
      this.write(bytes);
    }
    this.endEntry(entry, crc);
  }

  private writeDirectory(): void {
    const start = this.position;
    for (const e of this.entries) {
      const zip64 = this.zip64(e.size, e.offset);
      const extra = zip64 ? 28 : 0;
      const h = Buffer.alloc(46 + e.name.length + extra);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE(zip64 ? 45 : 20, 4);
      h.writeUInt16LE(zip64 ? 45 : 20, 6);
      h.writeUInt32LE(e.crc >>> 0, 16);
      h.writeUInt32LE(zip64 ? U32_MAX : e.size, 20);
      h.writeUInt32LE(zip64 ? U32_MAX : e.size, 24);
      h.writeUInt16LE(e.name.length, 28);
      h.writeUInt16LE(extra, 30);
      h.writeUInt32LE(zip64 ? U32_MAX : e.offset, 42);
      e.name.copy(h, 46);
      if (zip64) {
        const at = 46 + e.name.length;
        h.writeUInt16LE(0x0001, at);
        h.writeUInt16LE(24, at + 2);
        h.writeBigUInt64LE(BigInt(e.size), at + 4);
        h.writeBigUInt64LE(BigInt(e.size), at + 12);
        h.writeBigUInt64LE(BigInt(e.offset), at + 20);
      }
      this.write(h);
    }
    const size = this.position - start;
    const count = this.entries.length;
    const zip64 = this.opts.forceZip64 === true || start >= U32_MAX || this.entries.some((e) => this.zip64(e.size, e.offset));
    if (zip64) {
      const recordAt = this.position;
      const rec = Buffer.alloc(56);
      rec.writeUInt32LE(0x06064b50, 0);
      rec.writeBigUInt64LE(44n, 4);
      rec.writeUInt16LE(45, 12);
      rec.writeUInt16LE(45, 14);
      rec.writeBigUInt64LE(BigInt(count), 24);
      rec.writeBigUInt64LE(BigInt(count), 32);
      rec.writeBigUInt64LE(BigInt(size), 40);
      rec.writeBigUInt64LE(BigInt(start), 48);
      this.write(rec);
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      locator.writeBigUInt64LE(BigInt(recordAt), 8);
      locator.writeUInt32LE(1, 16);
      this.write(locator);
    }
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(zip64 ? 0xffff : count, 8);
    eocd.writeUInt16LE(zip64 ? 0xffff : count, 10);
    eocd.writeUInt32LE(zip64 ? U32_MAX : size, 12);
    eocd.writeUInt32LE(zip64 ? U32_MAX : start, 16);
    this.write(eocd);
  }
}
