import { promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { DataFileError, UserError } from '../util/errors.js';
import { readTextIfPresent } from '../util/read-if-present.js';

export const PARTIAL_FILE = 'embedding.partial.f32';
export const PROGRESS_FILE = 'embedding.progress.json';
const PROGRESS_FORMAT = 'recipe-retrieval-embedding-progress';

export interface ResumableEmbedOptions {
  /** Folder for the partial file and its progress record (the index folder being built). */
  outDir: string;
  /** Rows to embed: 0..total-1. */
  total: number;
  /** Rows per embedBatch call, and per commit. */
  batchSize: number;
  /**
   * What is being embedded (e.g. model manifest sha256 + dataset split): progress recorded under
   * another key belongs to other embeddings and is discarded rather than mixed in.
   */
  key: string;
  /** Embeddings of rows [start, end): (end - start) x dim floats, row-major. */
  embedBatch: (start: number, end: number) => Promise<Float32Array>;
  onProgress?: (done: number, total: number) => void;
  log?: (line: string) => void;
}

export interface ResumableEmbedResult {
  /** total x dim, row-major. */
  embeddings: Float32Array;
  dim: number;
  /** Rows found committed by an earlier run (0 for a fresh start). */
  resumedFrom: number;
}

interface Progress {
  format: typeof PROGRESS_FORMAT;
  key: string;
  total: number;
  dim: number;
  /** Rows committed: the partial file's first rows x dim floats are final. */
  rows: number;
}

/**
 * Embed rows in chunks, committing each: the chunk's floats are written at their place in the
 * partial file and fsynced, then the progress record is rewritten atomically. Bytes past the
 * recorded rows come from an interrupted chunk and are cut on resume, so a rerun after any
 * interruption continues from the last commit and yields the same embeddings as one unbroken run.
 */
export async function embedRecipesResumable(options: ResumableEmbedOptions): Promise<ResumableEmbedResult> {
  const { outDir, total, batchSize, key } = options;
  if (endianness() !== 'LE') throw new Error(`${PARTIAL_FILE} is little-endian float32; this machine is big-endian`);
  if (!Number.isInteger(total) || total < 1) throw new UserError(`total must be a positive integer, got ${total}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`batchSize must be a positive integer, got ${batchSize}`);
  await fs.mkdir(outDir, { recursive: true });
  const partialFile = path.join(outDir, PARTIAL_FILE);
  const progressFile = path.join(outDir, PROGRESS_FILE);

  let progress = await readProgress(progressFile);
  if (progress && (progress.key !== key || progress.total !== total)) {
    options.log?.(`${progressFile}: progress from other embeddings (${progress.key !== key ? 'another key' : `${progress.total} rows`}); starting over`);
    progress = undefined;
  }
  if (progress) {
    const size = (await fs.stat(partialFile).catch(() => undefined))?.size ?? 0;
    const committedBytes = progress.rows * progress.dim * 4;
    if (size < committedBytes) {
      options.log?.(`${partialFile}: ${size} bytes, fewer than the ${progress.rows} committed rows; starting over`);
      progress = undefined;
    } else if (size > committedBytes) {
      await fs.truncate(partialFile, committedBytes);
    }
  }
  if (!progress) {
    await fs.rm(progressFile, { force: true });
    await fs.writeFile(partialFile, new Uint8Array(0));
  } else if (progress.rows > 0) {
    options.log?.(`resuming embedding at row ${progress.rows} of ${total}`);
  }
  const resumedFrom = progress?.rows ?? 0;
  let dim = progress?.dim ?? 0;
  let done = resumedFrom;
  options.onProgress?.(done, total);

  const handle = await fs.open(partialFile, 'r+');
  try {
    while (done < total) {
      const end = Math.min(done + batchSize, total);
      const rows = end - done;
      const chunk = await options.embedBatch(done, end);
      if (!(chunk instanceof Float32Array) || chunk.length === 0 || chunk.length % rows !== 0) {
        throw new Error(`embedBatch(${done}, ${end}) returned ${chunk?.length} values, not ${rows} rows`);
      }
      if (dim === 0) dim = chunk.length / rows;
      if (chunk.length !== rows * dim) throw new Error(`embedBatch(${done}, ${end}) returned rows of width ${chunk.length / rows}, earlier rows are ${dim} wide`);
      await handle.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), 0, chunk.byteLength, done * dim * 4);
      await handle.datasync();
      done = end;
      const record: Progress = { format: PROGRESS_FORMAT, key, total, dim, rows: done };
      await writeFileAtomic(progressFile, `${JSON.stringify(record)}\n`);
      options.onProgress?.(done, total);
    }
  } finally {
    await handle.close();
  }

  const bytes = await fs.readFile(partialFile);
  if (bytes.byteLength !== total * dim * 4) throw new DataFileError(partialFile, `holds ${bytes.byteLength} bytes after embedding, expected ${total * dim * 4}`);
  const embeddings = new Float32Array(total * dim);
  new Uint8Array(embeddings.buffer).set(bytes);
  return { embeddings, dim, resumedFrom };
}

/** Remove the partial file and its progress record (once the index holding them is saved). */
export async function discardEmbeddingProgress(outDir: string): Promise<void> {
  await fs.rm(path.join(outDir, PROGRESS_FILE), { force: true });
  await fs.rm(path.join(outDir, PARTIAL_FILE), { force: true });
}

async function readProgress(file: string): Promise<Progress | undefined> {
  const text = await readTextIfPresent(file);
  if (text === undefined) return undefined;
  try {
    const p = JSON.parse(text) as Progress;
    const ok = p.format === PROGRESS_FORMAT && typeof p.key === 'string' && [p.total, p.dim, p.rows].every((v) => Number.isInteger(v) && v >= 0) && p.rows <= p.total;
    return ok ? p : undefined;
  } catch {
    return undefined;
  }
}
