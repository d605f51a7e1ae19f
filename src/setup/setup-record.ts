import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FileRecord } from '../model-format/manifest.js';
import { writeFileAtomic } from '../util/atomic.js';
import { DataFileError } from '../util/errors.js';
import { readTextIfPresent } from '../util/read-if-present.js';
import { SETUP_RECORD_FILE } from './paths.js';
import { parseJsonText } from '../util/json-file.js';

export const SETUP_RECORD_FORMAT = 'recipe-retrieval-demo-setup';
/** 2: the index reads its photos from the dataset (version 1 copied them into the index folder). */
export const SETUP_RECORD_VERSION = 2;

/**
 * setup.json in the demo index folder: what the index was built from (model export, demo run,
 * dataset pickles), so that a later setup can tell current from stale or damaged without rebuilding.
 */
export interface SetupRecord {
  format: typeof SETUP_RECORD_FORMAT;
  version: typeof SETUP_RECORD_VERSION;
  createdAt: string;
  model: { id: string; manifestSha256: string; checkpointSha256: string };
  /** The dataset root as the index manifest records it, and the sha256 of every pickle indexed. */
  dataset: { root: string; files: Record<string, FileRecord> };
  /** sha256 of the index's manifest.json (which itself holds the sha256 of every index file). */
  index: { manifestSha256: string; count: number };
}

/** A record an earlier setup wrote (version 1: photos copied into the index folder). */
export class OutdatedSetupRecordError extends DataFileError {}

export async function readSetupRecord(dir: string): Promise<SetupRecord | undefined> {
  const file = path.join(dir, SETUP_RECORD_FILE);
  const text = await readTextIfPresent(file);
  if (text === undefined) return undefined;
  const record = parseJsonText<SetupRecord>(file, text);
  if (record?.format === SETUP_RECORD_FORMAT && typeof record.version === 'number' && record.version < SETUP_RECORD_VERSION) {
    throw new OutdatedSetupRecordError(file, `written by an earlier setup (version ${record.version}, which copied the photos into the index folder)`);
  }
  if (record?.format !== SETUP_RECORD_FORMAT || record.version !== SETUP_RECORD_VERSION) {
    throw new DataFileError(file, `not a ${SETUP_RECORD_FORMAT} version ${SETUP_RECORD_VERSION} record`);
  }
  if (typeof record.model?.manifestSha256 !== 'string' || typeof record.index?.manifestSha256 !== 'string' || typeof record.dataset?.files !== 'object' || typeof record.dataset?.root !== 'string') {
    throw new DataFileError(file, 'model, index or dataset entry missing');
  }
  return record;
}

export async function writeSetupRecord(dir: string, record: SetupRecord): Promise<void> {
  await writeFileAtomic(path.join(dir, SETUP_RECORD_FILE), `${JSON.stringify(record, null, 1)}\n`);
}

export async function removeSetupRecord(dir: string): Promise<void> {
  await fs.rm(path.join(dir, SETUP_RECORD_FILE), { force: true });
}
