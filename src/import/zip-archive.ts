import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { DataFileError } from '../util/errors.js';

/**
 * A read-only view of a zip archive that reads entries by offset instead of loading the file:
 * a PyTorch checkpoint is a zip of one small pickle plus one STORED entry per tensor storage, and
 * a real one is several GB, most of it optimizer state that an import never needs.
 * Handles zip64 (torch.save uses it for files or offsets past 4 GiB) and deflated entries
 * (a checkpoint re-zipped by another tool); encrypted, multi-disk and other methods are refused.
 */

export const METHOD_STORED = 0;
export const METHOD_DEFLATED = 8;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  flags: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;

/** A 64-bit little-endian size or offset, refused beyond 2^53 (no real file is that big). */
function readU64(buf: Buffer, at: number, file: string): number {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new DataFileError(file, `zip64 field ${value} is beyond any real file size`);
  return Number(value);
}

export class ZipArchive {
  private readonly byName = new Map<string, ZipEntry>();
  /** Data offsets, found from local headers on first use (they may differ from the central directory's extras). */
  private readonly dataOffsets = new Map<string, number>();

  private constructor(readonly file: string, private fd: number | undefined, readonly fileSize: number, entries: ZipEntry[]) {
    for (const e of entries) this.byName.set(e.name, e);
  }

  /** Open `file` and read its central directory (a few KB per thousand entries). */
  static open(file: string): ZipArchive {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new DataFileError(file, code === 'ENOENT' ? 'file not found' : `cannot open (${(err as Error).message})`);
    }
    try {
      const size = fstatSync(fd).size;
      return new ZipArchive(file, fd, size, readCentralDirectory(fd, file, size));
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Entries in central-directory order. */
  entries(): ZipEntry[] {
    return [...this.byName.values()];
  }

  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Read `length` bytes at absolute `position`, failing (naming the file) if it ends first. */
  readAt(position: number, length: number, into?: Buffer): Buffer {
    const buf = into ?? Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.requireFd(), buf, done, length - done, position + done);
      if (n === 0) throw new DataFileError(this.file, `ends at byte ${position + done}, inside data that should reach byte ${position + length} (truncated?)`);
      done += n;
    }
    return buf;
  }

  /** Absolute file offset of an entry's first data byte. */
  dataOffset(entry: ZipEntry): number {
    const known = this.dataOffsets.get(entry.name);
    if (known !== undefined) return known;
    const header = this.readAt(entry.localHeaderOffset, 30);
    if (header.readUInt32LE(0) !== SIG_LOCAL) throw new DataFileError(this.file, `entry ${entry.name}: no local header at byte ${entry.localHeaderOffset}`);
    const offset = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    if (offset + entry.compressedSize > this.fileSize) {
      throw new DataFileError(this.file, `entry ${entry.name} runs past the end of the file (truncated?)`);
    }
    this.dataOffsets.set(entry.name, offset);
    return offset;
  }

  /**
   * `length` bytes from `start` inside an entry's uncompressed data. STORED entries are read in
   * place; a deflated entry has to be inflated whole first (only re-zipped files have those).
   */
  readRange(entry: ZipEntry, start: number, length: number, into?: Buffer): Buffer {
    if (start < 0 || start + length > entry.size) {
      throw new DataFileError(this.file, `entry ${entry.name} has ${entry.size} bytes; bytes ${start}..${start + length} were asked for`);
    }
    if (entry.method === METHOD_STORED) return this.readAt(this.dataOffset(entry) + start, length, into);
    const whole = this.readEntry(entry);
    const slice = whole.subarray(start, start + length);
    if (!into) return slice;
    slice.copy(into);
    return into;
  }

  /** An entry's whole uncompressed data. */
  readEntry(entry: ZipEntry): Buffer {
    const raw = this.readAt(this.dataOffset(entry), entry.compressedSize);
    if (entry.method === METHOD_STORED) return raw;
    let out: Buffer;
    try {
      out = inflateRawSync(raw);
    } catch (err) {
      throw new DataFileError(this.file, `entry ${entry.name}: corrupt deflate data (${(err as Error).message})`);
    }
    if (out.length !== entry.size) throw new DataFileError(this.file, `entry ${entry.name} inflates to ${out.length} bytes, the directory says ${entry.size}`);
    return out;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private requireFd(): number {
    if (this.fd === undefined) throw new Error(`${this.file}: archive already closed`);
    return this.fd;
  }
}

function readTail(fd: number, file: string, size: number): { buf: Buffer; start: number } {
  const length = Math.min(size, EOCD_SIZE + MAX_COMMENT + 20);
  const buf = Buffer.allocUnsafe(length);
  const start = size - length;
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, start + done);
    if (n === 0) throw new DataFileError(file, 'changed size while being read');
    done += n;
  }
  return { buf, start };
}

interface Directory {
  count: number;
  offset: number;
  size: number;
}

function findDirectory(fd: number, file: string, fileSize: number): Directory {
  const { buf, start } = readTail(fd, file, fileSize);
  let eocd = -1;
  for (let i = buf.length - EOCD_SIZE; i >= 0; i--) {
    if (buf.readUInt32LE(i) === SIG_EOCD && i + EOCD_SIZE + buf.readUInt16LE(i + 20) <= buf.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new DataFileError(file, 'no zip end-of-central-directory record (not a zip archive, or truncated)');
  if (buf.readUInt16LE(eocd + 4) !== 0 || buf.readUInt16LE(eocd + 6) !== 0) throw new DataFileError(file, 'multi-disk zip archives are not supported');
  let dir: Directory = { count: buf.readUInt16LE(eocd + 10), size: buf.readUInt32LE(eocd + 12), offset: buf.readUInt32LE(eocd + 16) };
  const locator = eocd - 20;
  if (locator >= 0 && buf.readUInt32LE(locator) === SIG_ZIP64_LOCATOR) {
    const zip64At = readU64(buf, locator + 8, file);
    const rec = Buffer.allocUnsafe(56);
    if (readSync(fd, rec, 0, 56, zip64At) !== 56 || rec.readUInt32LE(0) !== SIG_ZIP64_EOCD) {
      throw new DataFileError(file, `zip64 end-of-central-directory record missing at byte ${zip64At}`);
    }
    dir = { count: readU64(rec, 32, file), size: readU64(rec, 40, file), offset: readU64(rec, 48, file) };
  }
  if (dir.offset + dir.size > start + eocd) throw new DataFileError(file, 'zip central directory lies outside the file (truncated?)');
  return dir;
}

function readCentralDirectory(fd: number, file: string, fileSize: number): ZipEntry[] {
  const dir = findDirectory(fd, file, fileSize);
  const buf = Buffer.allocUnsafe(dir.size);
  if (dir.size > 0 && readSync(fd, buf, 0, dir.size, dir.offset) !== dir.size) throw new DataFileError(file, 'cannot read the zip central directory');
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < dir.count; i++) {
    if (at + 46 > buf.length || buf.readUInt32LE(at) !== SIG_CENTRAL) throw new DataFileError(file, `zip central directory entry ${i} is malformed`);
    const flags = buf.readUInt16LE(at + 8);
    const method = buf.readUInt16LE(at + 10);
    let compressedSize = buf.readUInt32LE(at + 20);
    let size = buf.readUInt32LE(at + 24);
    const nameLength = buf.readUInt16LE(at + 28);
    const extraLength = buf.readUInt16LE(at + 30);
    const commentLength = buf.readUInt16LE(at + 32);
    let localHeaderOffset = buf.readUInt32LE(at + 42);
    const name = buf.toString('utf8', at + 46, at + 46 + nameLength);
    // Zip64 extra field: only the values saturated in the fixed header follow, in this order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = buf.readUInt16LE(extra);
      const length = buf.readUInt16LE(extra + 2);
      if (id === 0x0001) {
        let p = extra + 4;
        if (size === U32_MAX) { size = readU64(buf, p, file); p += 8; }
        if (compressedSize === U32_MAX) { compressedSize = readU64(buf, p, file); p += 8; }
        if (localHeaderOffset === U32_MAX) { localHeaderOffset = readU64(buf, p, file); p += 8; }
      }
      extra += 4 + length;
    }
    if (flags & 1) throw new DataFileError(file, `zip entry ${name} is encrypted`);
    if (method !== METHOD_STORED && method !== METHOD_DEFLATED) throw new DataFileError(file, `zip entry ${name} uses compression method ${method} (only stored and deflate are supported)`);
    entries.push({ name, method, compressedSize, size, localHeaderOffset, flags });
    at = extraEnd + commentLength;
  }
  return entries;
}
