import path from 'node:path';
import { packageRoot } from './paths.js';

/**
 * How a manifest records a path (a run, a checkpoint, a dataset root): relative to the project
 * root when inside it, so a committed manifest names no machine path and an index folder can move
 * with the checkout; absolute otherwise. The root itself is recorded absolute, never as ''.
 */
export function portablePath(file: string): string {
  const absolute = path.resolve(file);
  const relative = path.relative(packageRoot, absolute);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? absolute : relative;
}

/** Where a recorded path is now: relative ones are relative to the project root. */
export function resolveRecordedPath(recorded: string): string {
  return path.isAbsolute(recorded) ? recorded : path.join(packageRoot, recorded);
}
