/**
 * Reading and writing Python pickles (Recipe1M splits, label maps, vocab.pkl).
 *
 * Reading runs pickleparser behind a validating scan (scan.ts) that also corrects the values
 * pickleparser 0.2.1 gets wrong: ints outside int32 (negatives came out positive, >= 2^63 threw),
 * protocol-0 text values, and DICT with inline items. Ints are numbers while they are safe
 * integers and bigints beyond, so no value is ever rounded.
 */
import { Parser } from 'pickleparser';
import { promises as fs } from 'node:fs';
import { DataFileError, UserError } from '../../util/errors.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { scanPickle, SUBSTITUTE_CODE_BASE } from './scan.js';
import { PatchedPickleReader } from './parser-reader.js';
import { createPickleNameRegistry } from './names.js';
import { encodePickle, type PickleWriteOptions } from './writer.js';

export { encodePickle, PickleEncodeError, type PickleWriteOptions } from './writer.js';
export { createPickleNameRegistry } from './names.js';

/** Values the project reads and writes. Python dicts are Maps (keys keep their type: str -> string, int -> number). */
export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleValue[] | Map<string | number, PickleValue>;

type ParserOptions = NonNullable<ConstructorParameters<typeof Parser>[0]>;
export type PickleNameResolver = NonNullable<ParserOptions['nameResolver']>;
export type PicklePersistentResolver = NonNullable<ParserOptions['persistentResolver']>;
export type PickleExtensionResolver = NonNullable<ParserOptions['extensionResolver']>;

/** Hooks for pickles of objects (numpy arrays, torch checkpoints); plain data needs none. */
export interface PickleReadOptions {
  /** Maps (module, name) to a function or class; default: createPickleNameRegistry(). */
  nameResolver?: PickleNameResolver;
  /** Resolves PERSID/BINPERSID ids (torch storages); default: error. */
  persistentResolver?: PicklePersistentResolver;
  /** Resolves copyreg extension codes; default: error. */
  extensionResolver?: PickleExtensionResolver;
  /** Out-of-band buffers for protocol 5 NEXT_BUFFER. */
  buffers?: Iterator<unknown>;
}

const defaultNames = createPickleNameRegistry();

const noExtensions: PickleExtensionResolver = {
  resolve(code: number) {
    throw new Error(`extension code ${code} is not registered`);
  },
};

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decode pickle bytes. Python dicts -> Map (int keys stay numbers, str keys strings); tuples, lists
 * and sets -> arrays; bytes -> Uint8Array; ints beyond +-(2^53-1) -> bigint. `file` names the
 * source in errors.
 */
export function parsePickle(bytes: Uint8Array, file = '<buffer>', opts: PickleReadOptions = {}): PickleValue {
  return parsePickleAt(bytes, 0, file, opts).value;
}

/**
 * Decode the one pickle that starts at `offset` and stop at its STOP opcode; `end` is the offset just
 * past it. For files that hold several pickles in a row, or a pickle followed by raw data (legacy
 * torch.save). Byte positions in errors are relative to `offset`.
 */
export function parsePickleAt(bytes: Uint8Array, offset: number, file = '<buffer>', opts: PickleReadOptions = {}): { value: PickleValue; end: number } {
  const buffer = asBuffer(bytes).subarray(offset);
  const scan = scanPickle(buffer, file);
  const userExtensions = opts.extensionResolver ?? noExtensions;
  const parser = new Parser({
    unpicklingTypeOfDictionary: 'Map',
    unpicklingTypeOfSet: 'array',
    nameResolver: opts.nameResolver ?? defaultNames,
    ...(opts.persistentResolver ? { persistentResolver: opts.persistentResolver } : {}),
    extensionResolver: {
      resolve: (code: number) => (code >= SUBSTITUTE_CODE_BASE ? scan.values[code - SUBSTITUTE_CODE_BASE] : userExtensions.resolve(code)),
    },
    ...(opts.buffers ? { buffers: opts.buffers } : {}),
  });
  const reader = new PatchedPickleReader(buffer, scan.patches);
  let value: unknown;
  try {
    value = parser.read(reader);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new DataFileError(file, `malformed pickle near byte ${reader.filePosition}: ${(err as Error).message}`);
  }
  if (value === undefined) throw new DataFileError(file, 'malformed pickle: nothing on the stack at STOP');
  return { value: value as PickleValue, end: offset + scan.end };
}

export async function readPickleFile(file: string, opts: PickleReadOptions = {}): Promise<PickleValue> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFileError(file, 'file not found');
    if (code === 'EISDIR') throw new DataFileError(file, 'is a directory, not a pickle file');
    throw new DataFileError(file, `cannot read (${(err as Error).message})`);
  }
  return parsePickle(bytes, file, opts);
}

/** Encode `value` (see encodePickle) and write it atomically. */
export async function writePickleFile(file: string, value: unknown, opts: PickleWriteOptions = {}): Promise<void> {
  await writeFileAtomic(file, encodePickle(value, opts));
}
