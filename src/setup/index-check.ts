import { promises as fs } from 'node:fs';
import path from 'node:path';
import { INDEX_FORMAT, INDEX_VERSION, MANIFEST_FILE, parseManifest, type IndexManifest } from '../index/manifest.js';
import { loadRecipeIndex } from '../index/store.js';
import { resolveRecordedPath } from '../util/portable-path.js';
import { sha256Bytes } from '../util/sha256.js';
import type { DemoDataset } from './demo-dataset.js';
import { SETUP_RECORD_FILE } from './paths.js';
import { OutdatedSetupRecordError, readSetupRecord, type SetupRecord } from './setup-record.js';

export interface IndexExpectations {
  dir: string;
  /** The verified model export the index must have been embedded with. */
  model: { id: string; dim: number; manifestSha256: string };
  checkpointSha256: string;
  dataset: DemoDataset;
}

export type IndexVerdict =
  | { state: 'ok'; record: SetupRecord }
  | { state: 'missing' | 'foreign' | 'stale' | 'corrupt'; reasons: string[] };

const short = (sha: string | undefined) => (sha ? `${sha.slice(0, 12)}...` : 'none');

/**
 * Check the demo index folder against the current model export, demo run and dataset (stale?),
 * then its bytes against its manifests (corrupt?).
 */
export async function inspectIndex(x: IndexExpectations): Promise<IndexVerdict> {
  const { dir } = x;
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const manifestBytes = await fs.readFile(manifestFile).catch(() => undefined);
  let record: SetupRecord | undefined;
  try {
    record = await readSetupRecord(dir);
  } catch (err) {
    return { state: err instanceof OutdatedSetupRecordError ? 'stale' : 'corrupt', reasons: [(err as Error).message] };
  }
  if (!record) {
    // Nothing there yet (a first setup): nothing to explain.
    if (!manifestBytes) return { state: 'missing', reasons: [] };
    return withoutRecord(x, manifestFile, manifestBytes);
  }
  if (!manifestBytes) return { state: 'missing', reasons: [`${manifestFile} missing (an interrupted build)`] };

  const stale: string[] = [];
  if (record.model.manifestSha256 !== x.model.manifestSha256) {
    stale.push(`the model was exported again since the index was built (model manifest ${short(record.model.manifestSha256)} -> ${short(x.model.manifestSha256)})`);
  }
  if (record.model.checkpointSha256 !== x.checkpointSha256) {
    stale.push(`the demo run's weights changed (checkpoint ${short(record.model.checkpointSha256)} -> ${short(x.checkpointSha256)})`);
  }
  if (path.resolve(resolveRecordedPath(record.dataset.root)) !== path.resolve(x.dataset.root)) {
    stale.push(`the index was built over ${record.dataset.root}, not ${x.dataset.root}`);
  }
  const names = new Set([...Object.keys(record.dataset.files), ...Object.keys(x.dataset.files)]);
  const changed = [...names].filter((n) => record.dataset.files[n]?.sha256 !== x.dataset.files[n]?.sha256);
  if (changed.length) stale.push(`the demo dataset changed (${changed.join(', ')})`);
  if (stale.length) return { state: 'stale', reasons: stale };

  if (sha256Bytes(manifestBytes) !== record.index.manifestSha256) {
    return { state: 'corrupt', reasons: [`${manifestFile}: sha256 differs from the one ${SETUP_RECORD_FILE} recorded`] };
  }
  try {
    // The index's own verification: every file's size and sha256, HNSW header, model id and width.
    const loaded = await loadRecipeIndex(dir, { expectModelId: x.model.id, expectDim: x.model.dim });
    if (loaded.manifest.model.manifestSha256 !== x.model.manifestSha256) {
      return { state: 'stale', reasons: [`${manifestFile}: built with another export of model ${x.model.id}`] };
    }
    if (!indexesDataset(loaded.manifest, x.dataset)) {
      return { state: 'stale', reasons: [`${manifestFile}: indexes ${describeDataset(loaded.manifest)}, not ${x.dataset.root} (${x.dataset.splits.join(', ')})`] };
    }
  } catch (err) {
    return { state: 'corrupt', reasons: [(err as Error).message] };
  }
  return { state: 'ok', record };
}

/**
 * A folder with an index but no setup record: a setup interrupted between its last two writes (an
 * index of the whole demo dataset), or an index someone else made, which setup must not replace.
 */
function withoutRecord(x: IndexExpectations, manifestFile: string, bytes: Buffer): IndexVerdict {
  let manifest: IndexManifest;
  try {
    manifest = parseManifest(manifestFile, bytes.toString('utf8'));
  } catch (err) {
    // A complete manifest of another format version is an index, just an older one; anything else is a torn write.
    const version = formatVersion(bytes);
    if (version !== undefined && version !== INDEX_VERSION) {
      return { state: 'foreign', reasons: [`${x.dir} holds an index (format version ${version}) that setup did not make`] };
    }
    return { state: 'missing', reasons: [`${(err as Error).message} (an interrupted build)`] };
  }
  if (indexesDataset(manifest, x.dataset) && manifest.count === x.dataset.count) {
    return { state: 'missing', reasons: [`${path.join(x.dir, SETUP_RECORD_FILE)} absent (an interrupted setup)`] };
  }
  return { state: 'foreign', reasons: [`${x.dir} holds an index of ${describeDataset(manifest)} that setup did not make`] };
}

function indexesDataset(manifest: IndexManifest, dataset: DemoDataset): boolean {
  return path.resolve(resolveRecordedPath(manifest.dataset.root)) === path.resolve(dataset.root)
    && manifest.dataset.splits.join(',') === dataset.splits.join(',');
}

function describeDataset(manifest: IndexManifest): string {
  return `${manifest.dataset.root} (split${manifest.dataset.splits.length > 1 ? 's' : ''} ${manifest.dataset.splits.join(', ')})`;
}

function formatVersion(bytes: Buffer): number | undefined {
  try {
    const m = JSON.parse(bytes.toString('utf8')) as { format?: unknown; version?: unknown };
    return m?.format === INDEX_FORMAT && typeof m.version === 'number' ? m.version : undefined;
  } catch {
    return undefined;
  }
}
