import { closeSync, openSync, readSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { DataFileError, UserError } from '../util/errors.js';
import { decodeFloat16 } from './float16.js';
import {
  FEATURE_SHAPE, ROW_BYTES, ROW_VALUES, manifestPath, readManifest, readShardKeys, viewDir,
  type CacheManifest, type ViewTransform,
} from './cache-format.js';

/** Where one image's row lives. */
interface RowLocation {
  shard: number;
  row: number;
  recipeId: string;
}

/**
 * Read access to one (split, view) of a feature cache. Only the key index is held in memory
 * (~100 bytes per image); rows are read from disk on demand (positioned reads, one 200 KB row each,
 * served from the page cache after the first epoch), so a Recipe1M-size cache (48 GB per view) needs no RAM.
 */
export interface FeatureCache {
  readonly split: string;
  readonly view: number;
  readonly backboneHash: string;
  readonly transform: ViewTransform;
  /** [7, 7, 2048]: a row is that map in HWC order. */
  readonly shape: readonly number[];
  /** Values per row (7*7*2048 = 100,352). */
  readonly rowLength: number;
  /** Image file names that have a row, in the order they were extracted. */
  readonly keys: string[];
  /** Recipe ids that have a row (same order as keys). */
  readonly recipeIds: string[];
  /** What the last finished extraction run reported missing / unreadable (image names). */
  readonly missing: string[];
  readonly unreadable: string[];
  has(key: string): boolean;
  /** The row of an image as float32, or undefined when the cache has none. */
  get(key: string): Float32Array | undefined;
  /** Decode an image's row into out[offset .. offset+rowLength) (no allocation: for assembling batches). */
  readInto(key: string, out: Float32Array, offset?: number): boolean;
  keyForRecipe(recipeId: string): string | undefined;
  getForRecipe(recipeId: string): Float32Array | undefined;
  /** Close the open shard files (reads reopen them). */
  close(): void;
}

export async function openFeatureCache(cacheDir: string, split: string, view: number): Promise<FeatureCache> {
  const dir = viewDir(cacheDir, split, view);
  const manifest = await readManifest(dir);
  if (!manifest) throw new UserError(`${manifestPath(dir)}: no feature cache for split ${split} view ${view} (run: recipe-retrieval features <root> --split ${split})`);
  const locations = new Map<string, RowLocation>();
  for (let s = 0; s < manifest.shards.length; s++) {
    const shard = manifest.shards[s];
    const dataFile = path.join(dir, shard.data);
    const size = (await fs.stat(dataFile).catch(() => undefined))?.size;
    if (size === undefined) throw new DataFileError(dataFile, 'shard file missing');
    if (size < shard.rows * ROW_BYTES) throw new DataFileError(dataFile, `holds ${size} bytes, the manifest commits ${shard.rows} rows of ${ROW_BYTES}`);
    const keys = await readShardKeys(dir, shard);
    keys.forEach(([name, recipeId], row) => {
      // A later row for the same image supersedes the earlier one (the file changed and was re-extracted).
      locations.delete(name);
      locations.set(name, { shard: s, row, recipeId });
    });
  }
  return new ShardedFeatureCache(dir, manifest, locations);
}

class ShardedFeatureCache implements FeatureCache {
  readonly split: string;
  readonly view: number;
  readonly backboneHash: string;
  readonly transform: ViewTransform;
  readonly shape = FEATURE_SHAPE;
  readonly rowLength = ROW_VALUES;
  readonly keys: string[];
  readonly recipeIds: string[];
  readonly missing: string[];
  readonly unreadable: string[];
  private readonly manifest: CacheManifest;
  private readonly byRecipe = new Map<string, string>();
  private readonly fds = new Map<number, number>();
  private readonly buffer = Buffer.allocUnsafe(ROW_BYTES);
  // The Buffer's memory viewed as float16 bits; allocUnsafe may hand out a pool slice, so view with its offset.
  private readonly halves: Uint16Array;

  constructor(
    private readonly dir: string,
    manifest: CacheManifest,
    private readonly locations: Map<string, RowLocation>,
  ) {
    this.split = manifest.split;
    this.view = manifest.view;
    this.backboneHash = manifest.backboneHash;
    this.transform = manifest.transform;
    this.missing = manifest.lastRun?.missing ?? [];
    this.unreadable = manifest.lastRun?.unreadable ?? [];
    this.keys = [...locations.keys()];
    this.recipeIds = this.keys.map((k) => locations.get(k)!.recipeId);
    this.keys.forEach((k, i) => this.byRecipe.set(this.recipeIds[i], k));
    this.halves = new Uint16Array(this.buffer.buffer, this.buffer.byteOffset, ROW_VALUES);
    this.manifest = manifest;
  }

  has(key: string): boolean {
    return this.locations.has(key);
  }

  get(key: string): Float32Array | undefined {
    const out = new Float32Array(ROW_VALUES);
    return this.readInto(key, out) ? out : undefined;
  }

  readInto(key: string, out: Float32Array, offset = 0): boolean {
    const loc = this.locations.get(key);
    if (!loc) return false;
    const fd = this.fd(loc.shard);
    let done = 0;
    while (done < ROW_BYTES) {
      const n = readSync(fd, this.buffer, done, ROW_BYTES - done, loc.row * ROW_BYTES + done);
      if (n === 0) throw new DataFileError(path.join(this.dir, this.manifest.shards[loc.shard].data), 'ends before a committed row');
      done += n;
    }
    decodeFloat16(this.halves, out, offset);
    return true;
  }

  keyForRecipe(recipeId: string): string | undefined {
    return this.byRecipe.get(recipeId);
  }

  getForRecipe(recipeId: string): Float32Array | undefined {
    const key = this.byRecipe.get(recipeId);
    return key === undefined ? undefined : this.get(key);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  private fd(shard: number): number {
    let fd = this.fds.get(shard);
    if (fd === undefined) {
      fd = openSync(path.join(this.dir, this.manifest.shards[shard].data), 'r');
      this.fds.set(shard, fd);
    }
    return fd;
  }
}
