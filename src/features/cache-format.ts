import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DataFileError } from '../util/errors.js';
import { parseJsonText } from '../util/json-file.js';

/**
 * On-disk feature cache, one folder per (split, view):
 *
 *   <cache>/<split>/view-<k>/manifest.json          header + list of shards with their committed row counts
 *   <cache>/<split>/view-<k>/shard-00000.f16        rows of float16 (little-endian), rowBytes each, no header
 *   <cache>/<split>/view-<k>/shard-00000.keys.json  one entry per row: image name, recipe id, file size, mtime
 *
 * A row is the backbone's [7,7,2048] map in HWC order (index = (y*7 + x)*2048 + c).
 * The manifest is the commit record: readers use the first `rows` rows of each shard it lists and ignore
 * anything beyond (bytes appended by an interrupted run). Writers append rows, fsync, rewrite the keys file
 * atomically, then the manifest atomically; a resumed run truncates shards back to the committed rows.
 * So an interrupted run never leaves a file that reads as more complete than it is.
 *
 * Rows are keyed by image file name (unique within a Recipe1M split: the c0..c3 rule maps a name to one
 * path). Each row records the file's size and mtime when it was extracted: a file changed since is
 * re-extracted (the later row wins). Stat is enough to decide, so a resumed run does not read every
 * image; a content hash would cost a full read of the split's photos. The header records the backbone
 * hash and the transform: a cache made with other weights or another transform is discarded, not mixed.
 */

export const CACHE_FORMAT = 'recipe-retrieval/feature-cache';
export const CACHE_VERSION = 1;
export const FEATURE_SHAPE = [7, 7, 2048] as const;
export const ROW_VALUES = FEATURE_SHAPE[0] * FEATURE_SHAPE[1] * FEATURE_SHAPE[2];
export const ROW_BYTES = ROW_VALUES * 2;

/** How view images are made: view 0 is the test transform, views >= 1 the seeded train transform. */
export type ViewTransform =
  | { kind: 'test'; resize: number; crop: number; normalisation: 'caffe' }
  | { kind: 'train'; resize: number; crop: number; normalisation: 'caffe'; seed: number; flip: true };

export interface ShardEntry {
  data: string;
  keys: string;
  rows: number;
}

/** One row's identity: [image name, recipe id, file size in bytes, file mtime in ms]. */
export type RowKey = [name: string, recipeId: string, size: number, mtimeMs: number];

export interface CacheManifest {
  format: typeof CACHE_FORMAT;
  version: typeof CACHE_VERSION;
  split: string;
  view: number;
  backboneHash: string;
  transform: ViewTransform;
  dtype: 'float16';
  byteOrder: 'little';
  shape: number[];
  rowBytes: number;
  shards: ShardEntry[];
  /** What the last run that finished saw missing or unreadable (image names); absent until one finishes. */
  lastRun?: { finishedAt: string; listed: number; missing: string[]; unreadable: string[] };
}

export function viewDir(cacheDir: string, split: string, view: number): string {
  return path.join(cacheDir, split, `view-${view}`);
}

export function manifestPath(dir: string): string {
  return path.join(dir, 'manifest.json');
}

export function shardNames(index: number): { data: string; keys: string } {
  const stem = `shard-${String(index).padStart(5, '0')}`;
  return { data: `${stem}.f16`, keys: `${stem}.keys.json` };
}

/** Read a manifest; undefined when the folder has none yet. Malformed content is a DataFileError. */
export async function readManifest(dir: string): Promise<CacheManifest | undefined> {
  const file = manifestPath(dir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DataFileError(file, (err as Error).message);
  }
  const m = parseJsonText<CacheManifest>(file, text);
  if (m.format !== CACHE_FORMAT) throw new DataFileError(file, `not a feature cache manifest (format ${JSON.stringify(m.format)})`);
  if (m.version !== CACHE_VERSION) throw new DataFileError(file, `feature cache version ${m.version}; this build reads version ${CACHE_VERSION}`);
  if (m.dtype !== 'float16' || m.byteOrder !== 'little' || m.rowBytes !== ROW_BYTES || m.shape?.join() !== FEATURE_SHAPE.join()) {
    throw new DataFileError(file, `unexpected row layout (${m.dtype}, ${m.byteOrder}, shape ${m.shape}, ${m.rowBytes} bytes)`);
  }
  if (!Array.isArray(m.shards) || !m.shards.every(validShard)) throw new DataFileError(file, 'malformed "shards" list');
  return m;
}

function validShard(s: ShardEntry): boolean {
  const safe = (n: unknown) => typeof n === 'string' && /^shard-\d{5}\.(f16|keys\.json)$/.test(n);
  return safe(s.data) && safe(s.keys) && Number.isInteger(s.rows) && s.rows >= 0;
}

/** Read a shard's keys file and keep its first `rows` entries (the committed ones). */
export async function readShardKeys(dir: string, shard: ShardEntry): Promise<RowKey[]> {
  const file = path.join(dir, shard.keys);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'keys file missing' : `unreadable (${(err as Error).message})`);
  }
  const rows = (parsed as { rows?: unknown }).rows;
  if (!Array.isArray(rows) || rows.length < shard.rows) {
    throw new DataFileError(file, `holds ${Array.isArray(rows) ? rows.length : 'no'} keys, the manifest commits ${shard.rows}`);
  }
  for (const r of rows.slice(0, shard.rows)) {
    if (!Array.isArray(r) || r.length !== 4 || typeof r[0] !== 'string' || typeof r[1] !== 'string' || typeof r[2] !== 'number' || typeof r[3] !== 'number') {
      throw new DataFileError(file, `malformed key entry ${JSON.stringify(r)}`);
    }
  }
  return rows.slice(0, shard.rows) as RowKey[];
}

export function sameTransform(a: ViewTransform, b: ViewTransform): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(t: ViewTransform): [string, unknown][] {
  return Object.entries(t).sort(([x], [y]) => x.localeCompare(y));
}
