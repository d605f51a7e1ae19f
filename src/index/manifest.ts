import { DataFileError } from '../util/errors.js';
import { parseJsonText } from '../util/json-file.js';

export const INDEX_FORMAT = 'recipe-retrieval-index';
/** 2: the dataset lists its splits and every recipe in recipes.json names its own split (1 held one split). */
export const INDEX_VERSION = 2;

export const INDEX_FILES = ['hnsw.bin', 'embeddings.f32', 'recipes.json'] as const;
export type IndexFileName = (typeof INDEX_FILES)[number];
export const MANIFEST_FILE = 'manifest.json';

/** 'cosine' indexes unit-length vectors; 'ip' indexes them as given (raw inner product). */
export type IndexSpace = 'cosine' | 'ip';

export interface HnswParams {
  M: number;
  efConstruction: number;
  /** ef used by searches that do not pass their own (hnswlib's readIndex would reset it to 10). */
  efSearch: number;
  seed: number;
  /**
   * Width of the space the graph lives in when the vectors are projected onto their top principal
   * directions (projection.f32); absent: the graph holds the full vectors.
   */
  projectedDim?: number;
}

/** The projection's basis, present when hnsw.projectedDim is. */
export const PROJECTION_FILE = 'projection.f32';

/**
 * manifest.json: written last, so an index folder without it is incomplete. It ties the index to the
 * model that embedded it and to the exact bytes of every file.
 */
export interface IndexManifest {
  format: typeof INDEX_FORMAT;
  version: number;
  model: { id: string; manifestSha256: string };
  width: number;
  space: IndexSpace;
  count: number;
  hnsw: HnswParams;
  /** Where the recipes came from: the dataset root (relative to the project when inside it) and its splits, in row order. */
  dataset: { root: string; splits: string[] };
  builtAt: string;
  buildMs: number;
  files: Record<IndexFileName, { bytes: number; sha256: string }> & { [PROJECTION_FILE]?: { bytes: number; sha256: string } };
}

/** Check the manifest's shape; a hand-edited or truncated one fails here with the field named. */
export function parseManifest(file: string, text: string): IndexManifest {
  const m = parseJsonText<IndexManifest>(file, text);
  const fail = (what: string): never => { throw new DataFileError(file, what); };
  if (!m || typeof m !== 'object') fail('not a JSON object');
  if (m.format !== INDEX_FORMAT) fail(`format is ${JSON.stringify(m.format)}, expected ${INDEX_FORMAT}`);
  if (m.version === 1) fail(`index format version 1 (one split per index) is not supported: this build reads version ${INDEX_VERSION}, which records each recipe's split; rebuild the index with the index command`);
  if (m.version !== INDEX_VERSION) fail(`version ${m.version} is not supported (this build reads version ${INDEX_VERSION})`);
  if (typeof m.model?.id !== 'string' || typeof m.model?.manifestSha256 !== 'string') fail('model.id and model.manifestSha256 must be strings');
  if (!isPositiveInt(m.width)) fail(`width must be a positive integer, got ${m.width}`);
  if (!isPositiveInt(m.count)) fail(`count must be a positive integer, got ${m.count}`);
  if (m.space !== 'cosine' && m.space !== 'ip') fail(`space must be cosine or ip, got ${JSON.stringify(m.space)}`);
  for (const key of ['M', 'efConstruction', 'efSearch'] as const) {
    if (!isPositiveInt(m.hnsw?.[key])) fail(`hnsw.${key} must be a positive integer`);
  }
  const splits = m.dataset?.splits;
  // Split names become a path segment of photo paths: plain names only (the catalog's realpath check stays as well).
  if (typeof m.dataset?.root !== 'string' || !Array.isArray(splits) || splits.length === 0 || !splits.every((x) => typeof x === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(x)) || new Set(splits).size !== splits.length) {
    fail('dataset must hold a root and a non-empty list of distinct split names (letters, digits, _ and -)');
  }
  const projected = m.hnsw.projectedDim !== undefined;
  if (projected && !(isPositiveInt(m.hnsw.projectedDim) && m.hnsw.projectedDim < m.width)) fail(`hnsw.projectedDim must be a positive integer below the width ${m.width}`);
  for (const name of [...INDEX_FILES, ...(projected ? [PROJECTION_FILE] as const : [])]) {
    const entry = m.files?.[name];
    if (!entry || !Number.isInteger(entry.bytes) || typeof entry.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(entry.sha256)) {
      fail(`files.${name} must hold bytes and a sha256`);
    }
  }
  return m;
}

function isPositiveInt(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) > 0;
}
