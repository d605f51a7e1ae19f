import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { OP } from '../data/pickle/opcodes.js';
import { parsePickle, parsePickleAt } from '../data/pickle/pickle.js';
import { encodeLong } from '../data/pickle/writer.js';
import { DataFileError, UserError } from '../util/errors.js';
import { LEGACY_MAGIC_NUMBER, openLegacyCheckpoint } from './torch-legacy-checkpoint.js';
import { createTorchResolvers, TensorRef, type StorageRef } from '../data/pickle/torch-unpickler.js';
import { ZipArchive, type ZipEntry } from './zip-archive.js';

/**
 * A PyTorch checkpoint written by `torch.save`, in either of its formats:
 * - zip (PyTorch >= 1.6): `<folder>/data.pkl` (the object, tensors as references to storages) and
 *   `<folder>/data/<key>` (one raw little-endian storage each);
 * - legacy (before 1.6; older torchvision weight files): pickles in a row, then the raw storages
 *   (torch-legacy-checkpoint.ts).
 * Opening parses only the object pickle; tensor data is read on request from a StorageSource.
 */

const ZIP_MAGIC = Buffer.from('PK\x03\x04', 'latin1');
/** Legacy torch.save starts with a pickled magic number: PROTO 2, LONG1 of 10 bytes 0x1950a86a20f9469cfc6c. */
const MAGIC_LONG = encodeLong(LEGACY_MAGIC_NUMBER);
const LEGACY_MAGIC = Buffer.from([OP.PROTO, 2, OP.LONG1, MAGIC_LONG.length, ...MAGIC_LONG]);

export type CheckpointFormat = 'zip' | 'legacy' | 'unknown';

function leadingBytes(file: string, count: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFileError(file, 'file not found');
    if (code === 'EISDIR') throw new DataFileError(file, 'is a directory, not a checkpoint file');
    throw new DataFileError(file, `cannot open (${(err as Error).message})`);
  }
  try {
    const buf = Buffer.alloc(count);
    const n = readSync(fd, buf, 0, count, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export function detectCheckpointFormat(file: string): CheckpointFormat {
  const head = leadingBytes(file, 64);
  if (head.subarray(0, 4).equals(ZIP_MAGIC)) return 'zip';
  if (head.subarray(0, LEGACY_MAGIC.length).equals(LEGACY_MAGIC)) return 'legacy';
  // torch.save(..., pickle_protocol=3 or 4) writes the same magic number at another protocol.
  if (head[0] === OP.PROTO) {
    try {
      if (parsePickleAt(head, 0, file).value === LEGACY_MAGIC_NUMBER) return 'legacy';
    } catch {
      // not a complete pickle in the first bytes: not a legacy checkpoint
    }
  }
  return 'unknown';
}

/** Where a checkpoint's storage data lives: zip entries or a legacy file's raw records. */
export interface StorageSource {
  /**
   * The raw bytes of elements [first, first + count) of the data stored under `storage.key`, in a
   * fresh Buffer over its own ArrayBuffer (offset 0), so typed views over it are always aligned.
   */
  read(storage: StorageRef, first: number, count: number): Buffer;
  close(): void;
}

/** Storages of a zip checkpoint: entry `<folder>/data/<key>`, read by file offset. */
class ZipStorageSource implements StorageSource {
  constructor(
    private readonly file: string,
    private readonly archive: ZipArchive,
    private readonly folder: string,
  ) {}

  private entry(storage: StorageRef): ZipEntry {
    const elements = storage.numel + (storage.elementOffset ?? 0);
    const name = `${this.folder}/data/${storage.key}`;
    const entry = this.archive.entry(name);
    if (!entry) throw new DataFileError(this.file, `storage ${storage.key} has no entry ${name}`);
    if (entry.size < elements * storage.itemSize) {
      throw new DataFileError(this.file, `entry ${name} has ${entry.size} bytes, too few for ${elements} ${storage.dtype} elements`);
    }
    return entry;
  }

  read(storage: StorageRef, first: number, count: number): Buffer {
    const entry = this.entry(storage);
    const bytes = count * storage.itemSize;
    return this.archive.readRange(entry, first * storage.itemSize, bytes, Buffer.from(new ArrayBuffer(bytes)));
  }

  close(): void {
    this.archive.close();
  }
}

/** A tensor's values: float types widen exactly to float32, int64 stays exact as bigint. */
export type TensorValues = Float32Array | BigInt64Array;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export class TorchCheckpoint {
  private constructor(
    readonly file: string,
    readonly format: 'zip' | 'legacy',
    private readonly source: StorageSource,
    /**
     * The zip archive's top folder (`model_best.pth` for model_best.pth.tar), never assumed; for a
     * legacy file, which has none, the file name without its last extension (what torch would name it).
     */
    readonly folder: string,
    /** The object pickle decoded: dicts are Maps, tensors TensorRef. */
    readonly root: unknown,
    /** The stored storages by key (legacy storage views are not listed; they point into these). */
    readonly storages: ReadonlyMap<string, StorageRef>,
  ) {}

  static open(file: string): TorchCheckpoint {
    const format = detectCheckpointFormat(file);
    if (format === 'legacy') {
      const { root, storages, source } = openLegacyCheckpoint(file);
      return new TorchCheckpoint(file, 'legacy', source, path.basename(file, path.extname(file)), root, storages);
    }
    if (format !== 'zip') {
      throw new DataFileError(file, 'is not a PyTorch checkpoint (torch.save writes a zip archive, or before PyTorch 1.6 a pickled magic number; this file starts with neither)');
    }
    const archive = ZipArchive.open(file);
    try {
      const pickles = archive.entries().filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
      if (pickles.length !== 1) {
        throw new DataFileError(file, pickles.length ? `has ${pickles.length} <folder>/data.pkl entries` : 'is a zip archive without <folder>/data.pkl: not a torch.save checkpoint');
      }
      const folder = pickles[0].name.slice(0, -'/data.pkl'.length);
      const byteOrder = archive.entry(`${folder}/byteorder`);
      if (byteOrder && archive.readEntry(byteOrder).toString('latin1').trim() !== 'little') {
        throw new DataFileError(file, 'stores big-endian tensors, which this importer does not read');
      }
      const { nameResolver, persistentResolver, storages } = createTorchResolvers();
      const root = parsePickle(archive.readEntry(pickles[0]), `${file}:${pickles[0].name}`, { nameResolver, persistentResolver });
      return new TorchCheckpoint(file, 'zip', new ZipStorageSource(file, archive, folder), folder, root, storages);
    } catch (err) {
      archive.close();
      throw err;
    }
  }

  /** The tensor's elements in row-major order, read from the file now (nothing is cached). */
  read(t: TensorRef): TensorValues {
    const { storage } = t;
    const count = t.numel;
    const first = t.offset + (storage.elementOffset ?? 0);
    let raw: Buffer;
    if (t.isContiguous()) {
      raw = this.source.read(storage, first, count);
    } else {
      // A strided view: read the span it covers once, then gather.
      const span = t.shape.reduce((acc, d, i) => acc + (d - 1) * t.stride[i], 0) + 1;
      const source = this.source.read(storage, first, count === 0 ? 0 : span);
      raw = Buffer.from(new ArrayBuffer(count * storage.itemSize));
      const index = new Array<number>(t.shape.length).fill(0);
      for (let i = 0; i < count; i++) {
        let at = 0;
        for (let d = 0; d < index.length; d++) at += index[d] * t.stride[d];
        source.copy(raw, i * storage.itemSize, at * storage.itemSize, (at + 1) * storage.itemSize);
        for (let d = index.length - 1; d >= 0; d--) {
          if (++index[d] < t.shape[d]) break;
          index[d] = 0;
        }
      }
    }
    return decode(raw, storage, count, this.file);
  }

  close(): void {
    this.source.close();
  }
}

function decode(raw: Buffer, storage: StorageRef, count: number, file: string): TensorValues {
  const buffer = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
  switch (storage.dtype) {
    case 'float32':
      return raw.byteOffset === 0 && raw.buffer.byteLength === raw.byteLength ? new Float32Array(raw.buffer, 0, count) : new Float32Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'float16': {
      const halves = new Uint16Array(buffer);
      return Float32Array.from(halves, halfToFloat);
    }
    case 'bfloat16': {
      // bfloat16 is the top half of a float32.
      const halves = new Uint16Array(buffer);
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = halves[i] << 16;
      return new Float32Array(out.buffer);
    }
    default:
      throw new UserError(`${file}: storage ${storage.key} holds ${storage.dtype} values, which the importer does not use`);
  }
}
