import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileRecord } from '../export/manifest.js';
import { sha256Hex } from '../index/file-hash.js';
import { MANIFEST_FILE, parseManifest } from '../index/manifest.js';
import { loadRecipeIndex } from '../index/store.js';
import { resolveRecordedPath } from '../server/dataset-index.js';
import { galleryPhotoPath, type Gallery } from './gallery.js';
import { GALLERY_SPLIT, SETUP_RECORD_FILE } from './paths.js';
import { readSetupRecord, type SetupRecord } from './setup-record.js';

export interface IndexExpectations {
  dir: string;
  /** The verified model export the index must have been embedded with. */
  model: { id: string; dim: number; manifestSha256: string };
  checkpointSha256: string;
  gallery: Gallery;
}

export type IndexVerdict =
  | { state: 'ok'; record: SetupRecord }
  | { state: 'missing' | 'foreign' | 'stale' | 'corrupt'; reasons: string[] }
  /** The index itself is current and intact; only these gallery photos need copying. */
  | { state: 'photos'; reasons: string[]; names: string[]; record: SetupRecord };

const short = (sha: string | undefined) => (sha ? `${sha.slice(0, 12)}...` : 'none');

/**
 * Check the demo index folder against the current model export, demo run and dataset (stale?),
 * then its bytes against its manifests (corrupt?), then the gallery photos.
 */
export async function inspectIndex(x: IndexExpectations): Promise<IndexVerdict> {
  const { dir } = x;
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const manifestBytes = await fs.readFile(manifestFile).catch(() => undefined);
  let record: SetupRecord | undefined;
  try {
    record = await readSetupRecord(dir);
  } catch (err) {
    return { state: 'corrupt', reasons: [(err as Error).message] };
  }
  if (!record) {
    if (!manifestBytes) return { state: 'missing', reasons: [`${dir}: no index built yet`] };
    let split: string;
    try {
      split = parseManifest(manifestFile, manifestBytes.toString('utf8')).dataset.split;
    } catch (err) {
      return { state: 'missing', reasons: [`${(err as Error).message} (an interrupted build)`] };
    }
    if (split === GALLERY_SPLIT) return { state: 'missing', reasons: [`${path.join(dir, SETUP_RECORD_FILE)} absent (an interrupted setup)`] };
    return { state: 'foreign', reasons: [`${dir} holds an index of split "${split}" that setup did not make`] };
  }
  if (!manifestBytes) return { state: 'missing', reasons: [`${manifestFile} missing (an interrupted build)`] };

  const stale: string[] = [];
  if (record.model.manifestSha256 !== x.model.manifestSha256) {
    stale.push(`the model was exported again since the index was built (model manifest ${short(record.model.manifestSha256)} -> ${short(x.model.manifestSha256)})`);
  }
  if (record.model.checkpointSha256 !== x.checkpointSha256) {
    stale.push(`the demo run's weights changed (checkpoint ${short(record.model.checkpointSha256)} -> ${short(x.checkpointSha256)})`);
  }
  const names = new Set([...Object.keys(record.dataset.files), ...Object.keys(x.gallery.files)]);
  const changed = [...names].filter((n) => record.dataset.files[n]?.sha256 !== x.gallery.files[n]?.sha256);
  if (changed.length) stale.push(`the demo dataset changed (${changed.join(', ')})`);
  if (stale.length) return { state: 'stale', reasons: stale };

  if (sha256Hex(manifestBytes) !== record.index.manifestSha256) {
    return { state: 'corrupt', reasons: [`${manifestFile}: sha256 differs from the one ${SETUP_RECORD_FILE} recorded`] };
  }
  try {
    // The index's own verification: every file's size and sha256, HNSW header, model id and width.
    const loaded = await loadRecipeIndex(dir, { expectModelId: x.model.id, expectDim: x.model.dim });
    if (loaded.manifest.model.manifestSha256 !== x.model.manifestSha256) {
      return { state: 'stale', reasons: [`${manifestFile}: built with another export of model ${x.model.id}`] };
    }
    if (path.resolve(resolveRecordedPath(loaded.manifest.dataset.root)) !== path.resolve(dir) || loaded.manifest.dataset.split !== GALLERY_SPLIT) {
      return { state: 'stale', reasons: [`${manifestFile}: records its photos at ${loaded.manifest.dataset.root} (${loaded.manifest.dataset.split}), not in this folder (was it moved?)`] };
    }
  } catch (err) {
    return { state: 'corrupt', reasons: [(err as Error).message] };
  }

  const reasons: string[] = [];
  const copy: string[] = [];
  for (const [name, source] of x.gallery.photos) {
    const recorded = record.photos[name];
    const problem = !recorded
      ? 'not in the gallery yet'
      : recorded.sha256 !== source.sha256
        ? 'changed in the demo dataset'
        : await copyProblem(galleryPhotoPath(dir, name), recorded.sha256);
    if (problem) {
      reasons.push(`photo ${name}: ${problem}`);
      copy.push(name);
    }
  }
  if (copy.length) return { state: 'photos', reasons, names: copy, record };
  return { state: 'ok', record };
}

async function copyProblem(file: string, sha256: string): Promise<string | undefined> {
  const actual = await fileRecord(file).catch(() => undefined);
  if (!actual) return `${file} missing`;
  return actual.sha256 === sha256 ? undefined : `${file}: sha256 differs from ${SETUP_RECORD_FILE}`;
}
