import { closeSync, openSync, readSync } from 'node:fs';
import { parsePickle } from '../data/pickle.js';
import { DataFileError, UserError } from '../util/errors.js';
import { createTorchResolvers, TensorRef, type StorageRef } from './torch-unpickler.js';
import { ZipArchive, type ZipEntry } from './zip-archive.js';

/**
 * A PyTorch checkpoint written by `torch.save` (zip format, PyTorch >= 1.6): `<folder>/data.pkl`
 * (the object, tensors as references to storages) and `<folder>/data/<key>` (one raw little-endian
 * storage each). Opening parses only data.pkl; tensor data is read on request, by file offset.
 */

const ZIP_MAGIC = Buffer.from('PK\x03\x04', 'latin1');
/** Legacy torch.save starts with a pickled magic number: PROTO 2, LONG1 of 10 bytes 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);

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
  const head = leadingBytes(file, LEGACY_MAGIC.length);
  if (head.subarray(0, 4).equals(ZIP_MAGIC)) return 'zip';
  if (head.equals(LEGACY_MAGIC)) return 'legacy';
  return 'unknown';
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
    private readonly archive: ZipArchive,
    /** The archive's top folder (`model_best.pth` for model_best.pth.tar), never assumed. */
    readonly folder: string,
    /** data.pkl decoded: dicts are Maps, tensors TensorRef. */
    readonly root: unknown,
    readonly storages: ReadonlyMap<string, StorageRef>,
  ) {}

  static open(file: string): TorchCheckpoint {
    const format = detectCheckpointFormat(file);
    if (format === 'legacy') {
      throw new DataFileError(file, 'is in the legacy (pre-1.6) torch.save format, which this importer does not read; ' +
        're-save it with PyTorch >= 1.6: torch.save(torch.load(path, map_location="cpu"), new_path)');
    }
    if (format !== 'zip') throw new DataFileError(file, 'is not a PyTorch checkpoint (torch.save writes a zip archive; this file does not start like one)');
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
      return new TorchCheckpoint(file, archive, folder, root, storages);
    } catch (err) {
      archive.close();
      throw err;
    }
  }

  private storageEntry(storage: StorageRef): ZipEntry {
    const name = `${this.folder}/data/${storage.key}`;
    const entry = this.archive.entry(name);
    if (!entry) throw new DataFileError(this.file, `storage ${storage.key} has no entry ${name}`);
    if (entry.size < storage.numel * storage.itemSize) {
      throw new DataFileError(this.file, `entry ${name} has ${entry.size} bytes, too few for ${storage.numel} ${storage.dtype} elements`);
    }
    return entry;
  }

  /** The raw bytes of elements [first, first + count) of a storage. */
  private storageBytes(storage: StorageRef, first: number, count: number): Buffer {
    const entry = this.storageEntry(storage);
    const bytes = count * storage.itemSize;
    // Read into a fresh ArrayBuffer (offset 0) so typed views over it are always aligned.
    const into = Buffer.from(new ArrayBuffer(bytes));
    return this.archive.readRange(entry, first * storage.itemSize, bytes, into);
  }

  /** The tensor's elements in row-major order, read from the file now (nothing is cached). */
  read(t: TensorRef): TensorValues {
    const { storage } = t;
    const count = t.numel;
    let raw: Buffer;
    if (t.isContiguous()) {
      raw = this.storageBytes(storage, t.offset, count);
    } else {
      // A strided view: read the span it covers once, then gather.
      const span = t.shape.reduce((acc, d, i) => acc + (d - 1) * t.stride[i], 0) + 1;
      const source = this.storageBytes(storage, t.offset, count === 0 ? 0 : span);
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
    this.archive.close();
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
