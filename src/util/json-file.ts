import { promises as fs } from 'node:fs';
import { DataFileError } from './errors.js';

/**
 * The parsed JSON text of a data file. Malformed text fails as "<file>: not valid JSON (<the
 * parser's reason>)", the one wording every reader of the project's JSON files uses.
 */
export function parseJsonText<T = unknown>(file: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new DataFileError(file, `not valid JSON (${(err as Error).message})`);
  }
}

/**
 * Read and parse a JSON data file: absent, "<file>: not found"; unreadable or malformed, "<file>:
 * not valid JSON (<reason>)". Readers with their own wording for an absent file read the text
 * themselves and call parseJsonText.
 */
export async function readJsonFile<T = unknown>(file: string): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new DataFileError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `not valid JSON (${(err as Error).message})`);
  }
  return parseJsonText<T>(file, text);
}
