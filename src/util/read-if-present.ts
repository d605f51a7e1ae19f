import { promises as fs } from 'node:fs';

/**
 * A file's text, or undefined when it cannot be read (absent, a folder, no permission): for
 * optional files (run.json, progress records) whose absence the caller handles itself.
 */
export async function readTextIfPresent(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}
