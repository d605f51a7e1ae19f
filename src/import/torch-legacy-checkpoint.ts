import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parsePickleAt, type PickleReadOptions } from '../data/pickle/pickle.js';
import { DataFileError } from '../util/errors.js';
import type { StorageSource } from './torch-checkpoint.js';
import { createTorchResolvers, type StorageRef } from '../data/pickle/torch-unpickler.js';

/**
 * The legacy torch.save format (PyTorch before 1.6; torchvision's older ImageNet files such as
 * resnet50-19c8e357.pth). One file holds, in a row:
 *   1. pickle: the magic number 0x1950a86a20f9469cfc6c
 *   2. pickle: the protocol version, 1001
 *   3. pickle: sys_info {protocol_version, little_endian, type_sizes}
 *   4. pickle: the object, storages as persistent ids ('storage', type, key, location, numel, view)
 *   5. pickle: the storage keys, in the order their data follows
 *   6. per key: numel as int64 little-endian, then numel * element size raw bytes.
 * Only the pickles are read at open (a few tens of KB for a ResNet-50); storage records are located
 * from their 8-byte headers and tensor data is read on request straight from the file, so a
 * multi-GB file costs no more memory than the tensors asked for.
 */

export const LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
/** The pickles are small; the first read covers them all in the usual file, later ones double. */
const FIRST_READ = 1 << 20;
/** A pickle region larger than this is not a torch checkpoint's (a broken pickle would read on forever). */
const MAX_PICKLE_REGION = 1 << 30;

/** Where one storage's data lies in the file. */
interface StorageRecord {
  offset: number;
  bytes: number;
}

function readFully(fd: number, into: Buffer, position: number): number {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Reads the pickles at the head of the file one after another, each up to its STOP. */
class PickleSequence {
  private head = Buffer.alloc(0);
  /** File offset of the next pickle. */
  position = 0;

  constructor(private readonly file: string, private readonly fd: number, private readonly size: number) {}

  next(what: string, opts: PickleReadOptions = {}): unknown {
    const start = this.position;
    if (start >= this.size) throw new DataFileError(this.file, `truncated legacy checkpoint: the file ends (${this.size} bytes) before its ${what} pickle`);
    const label = `${this.file} (legacy torch.save, ${what} pickle from byte ${start})`;
    for (;;) {
      const available = this.head.length - start;
      const complete = this.head.length >= this.size;
      if (available > 0) {
        try {
          const { value, end } = parsePickleAt(this.head, start, label, opts);
          this.position = end;
          return value;
        } catch (err) {
          // A pickle cut off by the end of what has been read so far: read more and try again.
          if (complete || this.head.length >= MAX_PICKLE_REGION) throw err;
        }
      }
      this.grow();
    }
  }

  private grow(): void {
    const length = Math.min(this.size, Math.max(FIRST_READ, this.head.length * 2));
    const head = Buffer.alloc(length);
    const got = readFully(this.fd, head, 0);
    if (got < length) throw new DataFileError(this.file, `the file shrank while being read (${got} of ${length} bytes)`);
    this.head = head;
  }
}

/** Tensor data read from the file by offset, into a fresh aligned buffer per request (one copy). */
class LegacyStorageSource implements StorageSource {
  private fd: number | undefined;

  constructor(private readonly file: string, fd: number, private readonly records: ReadonlyMap<string, StorageRecord>) {
    this.fd = fd;
  }

  read(storage: StorageRef, first: number, count: number): Buffer {
    if (this.fd === undefined) throw new Error(`${this.file}: checkpoint already closed`);
    const record = this.records.get(storage.key)!;
    const start = first * storage.itemSize;
    const bytes = count * storage.itemSize;
    if (start + bytes > record.bytes) {
      throw new DataFileError(this.file, `storage ${storage.key} holds ${record.bytes} bytes; bytes ${start}..${start + bytes} were asked for`);
    }
    const into = Buffer.from(new ArrayBuffer(bytes));
    const got = readFully(this.fd, into, record.offset + start);
    if (got < bytes) throw new DataFileError(this.file, `the file ends inside storage ${storage.key}`);
    return into;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function openFile(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFileError(file, 'file not found');
    throw new DataFileError(file, `cannot open (${(err as Error).message})`);
  }
}

/** Parse a legacy file's pickles and locate its storage records; tensor data stays on disk. */
export function openLegacyCheckpoint(file: string): { root: unknown; storages: Map<string, StorageRef>; source: StorageSource } {
  const fd = openFile(file);
  try {
    const size = fstatSync(fd).size;
    const pickles = new PickleSequence(file, fd, size);
    const magic = pickles.next('magic number');
    if (magic !== LEGACY_MAGIC_NUMBER) {
      throw new DataFileError(file, `is not a legacy torch.save file: its first pickle holds ${describe(magic)}, not torch's magic number`);
    }
    const version = pickles.next('protocol version');
    if (version !== LEGACY_PROTOCOL_VERSION) {
      throw new DataFileError(file, `has legacy torch.save protocol version ${describe(version)}; only ${LEGACY_PROTOCOL_VERSION} exists`);
    }
    const sysInfo = pickles.next('sys_info');
    if (!(sysInfo instanceof Map)) throw new DataFileError(file, `legacy torch.save sys_info is ${describe(sysInfo)}, not a dict`);
    if (sysInfo.get('little_endian') === false) {
      throw new DataFileError(file, 'was saved on a big-endian machine (sys_info little_endian is False); its tensors are big-endian, which this importer does not read');
    }
    const { nameResolver, persistentResolver, storages } = createTorchResolvers();
    const root = pickles.next('object', { nameResolver, persistentResolver });
    const keys = pickles.next('storage keys');
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
      throw new DataFileError(file, `legacy torch.save storage key list is ${describe(keys)}, not a list of strings`);
    }
    const records = locateRecords(file, fd, size, pickles.position, keys as string[], storages);
    return { root, storages, source: new LegacyStorageSource(file, fd, records) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Walk the storage records from their 8-byte element counts, checking each against the pickle. */
function locateRecords(file: string, fd: number, size: number, from: number, keys: string[], storages: ReadonlyMap<string, StorageRef>): Map<string, StorageRecord> {
  const records = new Map<string, StorageRecord>();
  const header = Buffer.alloc(8);
  let position = from;
  keys.forEach((key, i) => {
    const where = `storage record ${i + 1} of ${keys.length} (key ${key})`;
    const storage = storages.get(key);
    if (!storage) throw new DataFileError(file, `${where} is not referenced by the pickled object, so its element type is unknown`);
    if (records.has(key)) throw new DataFileError(file, `${where} appears twice in the storage key list`);
    if (position + 8 > size || readFully(fd, header, position) < 8) {
      throw new DataFileError(file, `truncated legacy checkpoint: the file ends (${size} bytes) before ${where} at byte ${position}`);
    }
    const numel = header.readBigInt64LE(0);
    if (numel !== BigInt(storage.numel)) {
      throw new DataFileError(file, `${where} at byte ${position} holds ${numel} elements; the pickled object says ${storage.numel}`);
    }
    const bytes = storage.numel * storage.itemSize;
    const offset = position + 8;
    if (offset + bytes > size) {
      throw new DataFileError(file, `truncated legacy checkpoint: ${where} needs bytes ${offset}..${offset + bytes}, the file ends at ${size}`);
    }
    records.set(key, { offset, bytes });
    position = offset + bytes;
  });
  for (const key of storages.keys()) {
    if (!records.has(key)) throw new DataFileError(file, `storage ${key} is referenced by the pickled object but has no data record`);
  }
  return records;
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `0x${value.toString(16)}`.replace('0x-', '-0x');
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'string') return `'${value.slice(0, 40)}'`;
  return Array.isArray(value) ? 'a list or tuple' : value instanceof Map ? 'a dict' : typeof value;
}
