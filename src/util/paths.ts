import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * The repository (package) root. Compiled files live in dist/src/util, sources in src/util,
 * so walk up until a directory holds package.json.
 */
import { existsSync } from 'node:fs';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && !dir.endsWith(`${path.sep}dist`)) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package root not found above ${start}`);
    dir = parent;
  }
}

export const packageRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** Resolve a path relative to the package root (for shipped data: the demo dataset, fixtures, models). */
export function fromRoot(...parts: string[]): string {
  return path.join(packageRoot, ...parts);
}
