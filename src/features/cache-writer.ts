import { promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import {
  CACHE_FORMAT, CACHE_VERSION, FEATURE_SHAPE, ROW_BYTES, ROW_VALUES, readManifest, readShardKeys, sameTransform,
  shardNames, viewDir, manifestPath, type CacheManifest, type RowKey, type ViewTransform,
} from './cache-format.js';

export interface WriterOptions {
  backboneHash: string;
  transform: ViewTransform;
  /** Rows per shard file before a new one starts (1024 rows = 200 MB). */
  shardRows?: number;
  log?: (line: string) => void;
}

/**
 * Appends rows to one (split, view) of the feature cache; see cache-format.ts for the layout and the
 * commit protocol. Rows are buffered in memory until commit(); an interruption loses at most the
 * uncommitted rows, and reopening resumes from the last commit.
 */
export class FeatureCacheWriter {
  /** Image name -> [size, mtimeMs] of the row already committed for it. */
  readonly committed = new Map<string, { size: number; mtimeMs: number }>();
  private pendingKeys: RowKey[] = [];
  private pendingRows: Uint16Array[] = [];
  /** Keys of the last shard (the one being appended to). */
  private tailKeys: RowKey[] = [];

  private constructor(
    readonly dir: string,
    private readonly manifest: CacheManifest,
    private readonly shardRows: number,
  ) {}

  /**
   * Open for appending. An existing cache with another backbone hash or transform is discarded (it could
   * not be mixed with new rows); one with the same header is resumed from its last commit.
   */
  static async open(cacheDir: string, split: string, view: number, opts: WriterOptions): Promise<FeatureCacheWriter> {
    if (endianness() !== 'LE') throw new Error('the feature cache stores little-endian float16; this machine is big-endian');
    const dir = viewDir(cacheDir, split, view);
    const shardRows = opts.shardRows ?? 1024;
    let manifest = await readManifest(dir);
    if (manifest && (manifest.backboneHash !== opts.backboneHash || !sameTransform(manifest.transform, opts.transform) || manifest.split !== split || manifest.view !== view)) {
      const what = manifest.backboneHash !== opts.backboneHash ? 'other backbone weights' : 'another transform';
      opts.log?.(`${manifestPath(dir)}: cache made with ${what}; discarding it`);
      await fs.rm(dir, { recursive: true, force: true });
      manifest = undefined;
    }
    await fs.mkdir(dir, { recursive: true });
    const writer = new FeatureCacheWriter(dir, manifest ?? freshManifest(split, view, opts), shardRows);
    await writer.loadCommitted();
    return writer;
  }

  private async loadCommitted(): Promise<void> {
    const shards = this.manifest.shards;
    for (let s = 0; s < shards.length; s++) {
      const keys = await readShardKeys(this.dir, shards[s]);
      for (const [name, , size, mtimeMs] of keys) this.committed.set(name, { size, mtimeMs });
      // Bytes past the committed rows come from an interrupted run: cut them so appends start clean.
      const dataFile = path.join(this.dir, shards[s].data);
      const stat = await fs.stat(dataFile).catch(() => undefined);
      if (!stat || stat.size < shards[s].rows * ROW_BYTES) {
        throw new Error(`${dataFile}: holds ${stat?.size ?? 0} bytes, fewer than the ${shards[s].rows} committed rows (delete the folder to rebuild)`);
      }
      if (stat.size > shards[s].rows * ROW_BYTES) await fs.truncate(dataFile, shards[s].rows * ROW_BYTES);
      if (s === shards.length - 1) this.tailKeys = keys;
    }
  }

  /** True when the image already has a committed row extracted from a file of this size and mtime. */
  isCurrent(name: string, size: number, mtimeMs: number): boolean {
    const c = this.committed.get(name);
    return c !== undefined && c.size === size && c.mtimeMs === mtimeMs;
  }

  get pending(): number {
    return this.pendingRows.length;
  }

  get rowsCommitted(): number {
    return this.manifest.shards.reduce((n, s) => n + s.rows, 0);
  }

  /** Buffer one row (float16 bits of a [7,7,2048] map, HWC). */
  add(key: RowKey, row: Uint16Array): void {
    if (row.length !== ROW_VALUES) throw new Error(`row holds ${row.length} values, expected ${ROW_VALUES}`);
    this.pendingKeys.push(key);
    this.pendingRows.push(row);
  }

  /** Make the buffered rows durable: append + fsync the shard, then the keys file, then the manifest (atomically). */
  async commit(): Promise<void> {
    while (this.pendingRows.length > 0) {
      let shard = this.manifest.shards[this.manifest.shards.length - 1];
      if (!shard || shard.rows >= this.shardRows) {
        shard = { ...shardNames(this.manifest.shards.length), rows: 0 };
        this.manifest.shards.push(shard);
        this.tailKeys = [];
      }
      const take = Math.min(this.shardRows - shard.rows, this.pendingRows.length);
      const rows = this.pendingRows.splice(0, take);
      const keys = this.pendingKeys.splice(0, take);
      // 'w' for a new shard: a file of that name can only be an uncommitted leftover.
      const handle = await fs.open(path.join(this.dir, shard.data), shard.rows === 0 ? 'w' : 'r+');
      try {
        let position = shard.rows * ROW_BYTES;
        for (const row of rows) {
          await handle.write(new Uint8Array(row.buffer, row.byteOffset, ROW_BYTES), 0, ROW_BYTES, position);
          position += ROW_BYTES;
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.tailKeys = [...this.tailKeys, ...keys];
      await writeFileAtomic(path.join(this.dir, shard.keys), `${JSON.stringify({ rows: this.tailKeys })}\n`);
      shard.rows += take;
      await this.writeManifest();
      for (const [name, , size, mtimeMs] of keys) this.committed.set(name, { size, mtimeMs });
    }
  }

  /** Commit what is pending and record what the finished run found missing. */
  async finish(lastRun: CacheManifest['lastRun']): Promise<void> {
    await this.commit();
    this.manifest.lastRun = lastRun;
    await this.writeManifest();
  }

  private async writeManifest(): Promise<void> {
    await writeFileAtomic(manifestPath(this.dir), `${JSON.stringify(this.manifest, null, 1)}\n`);
  }
}

function freshManifest(split: string, view: number, opts: WriterOptions): CacheManifest {
  return {
    format: CACHE_FORMAT,
    version: CACHE_VERSION,
    split,
    view,
    backboneHash: opts.backboneHash,
    transform: opts.transform,
    dtype: 'float16',
    byteOrder: 'little',
    shape: [...FEATURE_SHAPE],
    rowBytes: ROW_BYTES,
    shards: [],
  };
}
