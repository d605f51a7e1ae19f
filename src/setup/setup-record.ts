import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Split } from '../data/recipe.js';
import type { FileRecord } from '../export/manifest.js';
import { writeFileAtomic } from '../util/atomic.js';
import { DataFileError } from '../util/errors.js';
import { SETUP_RECORD_FILE } from './paths.js';

export const SETUP_RECORD_FORMAT = 'recipe-retrieval-demo-setup';
export const SETUP_RECORD_VERSION = 1;

/**
 * setup.json in the demo index folder: what the index was built from (model export, demo run,
 * dataset pickles) and what setup added beside the index files (the gallery photos), so that a
 * later setup can tell current from stale or damaged without rebuilding.
 */
export interface SetupRecord {
  format: typeof SETUP_RECORD_FORMAT;
  version: typeof SETUP_RECORD_VERSION;
  createdAt: string;
  model: { id: string; manifestSha256: string; checkpointSha256: string };
  dataset: { root: string; files: Record<string, FileRecord> };
  /** sha256 of the index's manifest.json (which itself holds the sha256 of every index file). */
  index: { manifestSha256: string; count: number };
  /** Gallery photo name -> the copy's size and sha256, and the split it came from. */
  photos: Record<string, FileRecord & { split: Split }>;
}

export async function readSetupRecord(dir: string): Promise<SetupRecord | undefined> {
  const file = path.join(dir, SETUP_RECORD_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let record: SetupRecord;
  try {
    record = JSON.parse(text) as SetupRecord;
  } catch (err) {
    throw new DataFileError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (record?.format !== SETUP_RECORD_FORMAT || record.version !== SETUP_RECORD_VERSION) {
    throw new DataFileError(file, `not a ${SETUP_RECORD_FORMAT} version ${SETUP_RECORD_VERSION} record`);
  }
  if (typeof record.model?.manifestSha256 !== 'string' || typeof record.index?.manifestSha256 !== 'string' || typeof record.photos !== 'object' || typeof record.dataset?.files !== 'object') {
    throw new DataFileError(file, 'model, index, dataset or photos entry missing');
  }
  return record;
}

export async function writeSetupRecord(dir: string, record: SetupRecord): Promise<void> {
  await writeFileAtomic(path.join(dir, SETUP_RECORD_FILE), `${JSON.stringify(record, null, 1)}\n`);
}

export async function removeSetupRecord(dir: string): Promise<void> {
  await fs.rm(path.join(dir, SETUP_RECORD_FILE), { force: true });
}
