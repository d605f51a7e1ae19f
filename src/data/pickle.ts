// PROVISIONAL: the pickle helper replaces this file with the full reader (integer-gap checks) and writer.
import { Parser } from 'pickleparser';
import { promises as fs } from 'node:fs';
import { DataFileError } from '../util/errors.js';

/** Values the project reads and writes. Python dicts are Maps (keys keep their type: str -> string, int -> number). */
export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PickleValue[] | Map<string | number, PickleValue>;

export function parsePickle(bytes: Uint8Array, file = '<buffer>'): PickleValue {
  try {
    return new Parser({ unpicklingTypeOfDictionary: 'Map' }).parse(bytes) as PickleValue;
  } catch (err) {
    throw new DataFileError(file, `not a readable pickle (${(err as Error).message})`);
  }
}

export async function readPickleFile(file: string): Promise<PickleValue> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    throw new DataFileError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message);
  }
  return parsePickle(bytes, file);
}

/** Serialise to pickle bytes (protocol 2 or 4). Plain objects are written as dicts with string keys. */
export function encodePickle(_value: unknown, _opts: { protocol?: 2 | 4 } = {}): Uint8Array {
  throw new Error('not implemented yet');
}

export async function writePickleFile(_file: string, _value: unknown, _opts: { protocol?: 2 | 4 } = {}): Promise<void> {
  throw new Error('not implemented yet');
}
