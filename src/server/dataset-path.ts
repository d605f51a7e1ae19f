import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ApiError } from './http-errors.js';

/**
 * Resolve a client-given dataset root inside the configured data folder. Refused: anything but a
 * short relative path, any ".." segment, and any path whose real location (after symbolic links)
 * is outside the data folder.
 */
export async function resolveDatasetRoot(dataDir: string | undefined, requested: unknown): Promise<string> {
  if (!dataDir) {
    throw new ApiError('evaluations_disabled', 'evaluations need a data folder: start the server with --data-dir DIR (or DATA_DIR)');
  }
  if (typeof requested !== 'string' || requested.length === 0 || requested.length > 512) {
    throw new ApiError('invalid_parameter', 'dataset must be a path relative to the server\'s data folder (1..512 characters)');
  }
  const outside = () => new ApiError('path_outside_data_dir', `dataset ${JSON.stringify(requested)} must be a path inside the server's data folder`);
  if (requested.includes('\0') || requested.includes('\\') || path.isAbsolute(requested)) throw outside();
  if (requested.split('/').some((segment) => segment === '..')) throw outside();
  const resolved = path.resolve(dataDir, requested);
  const relative = path.relative(path.resolve(dataDir), resolved);
  if (relative.startsWith('..') || path.isAbsolute(relative)) throw outside();

  let real: string;
  let dataReal: string;
  try {
    dataReal = await fs.realpath(dataDir);
  } catch {
    throw new ApiError('data_dir_missing', 'the server\'s data folder does not exist');
  }
  try {
    real = await fs.realpath(resolved);
  } catch {
    throw new ApiError('dataset_not_found', `no dataset folder ${JSON.stringify(requested)} in the server's data folder`);
  }
  if (real !== dataReal && !real.startsWith(dataReal + path.sep)) throw outside();
  if (!(await fs.stat(real)).isDirectory()) throw new ApiError('dataset_not_found', `${JSON.stringify(requested)} is not a folder`);
  return real;
}
