import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { loadBackbone, type Backbone } from '../backbone/resnet50.js';
import { RecipeDataset } from '../data/dataset.js';
import { ImageDecodeError, loadTestCrop, loadTrainCrop, SEED_GEOMETRY, toCaffeNhwcBatch, type RgbImage } from '../data/images/index.js';
import type { Split } from '../data/recipe.js';
import { selectBackend, type BackendRequest } from '../tf/backend.js';
import { SeededRandom } from '../util/random.js';
import { ROW_VALUES, type ViewTransform } from './cache-format.js';
import { FeatureCacheWriter } from './cache-writer.js';
import { encodeFloat16 } from './float16.js';
import { ProgressReporter } from './progress.js';

export interface ExtractOptions {
  /** Dataset root in the Recipe1M layout. */
  root: string;
  split: Split;
  cacheDir: string;
  /** Augmented train views 1..views in addition to the centre-crop view 0 (default 0: view 0 only). */
  views?: number;
  /** Images per forward pass (default 8). */
  batchSize?: number;
  /** Seed of the train views' random crops and flips (default 1). */
  seed?: number;
  backend?: BackendRequest;
  /** Stop after extracting this many new images (all views together); the cache stays resumable. */
  limit?: number;
  /** Abort between batches (e.g. on SIGINT); what was extracted is committed first. */
  signal?: AbortSignal;
  /** Commit to disk at least every this many new rows (default 32: at most ~15 s of work lost on a crash). */
  commitRows?: number;
  shardRows?: number;
  log?: (line: string) => void;
  progressIntervalMs?: number;
}

export interface ViewSummary {
  view: number;
  transform: ViewTransform;
  /** Distinct first images considered. */
  images: number;
  extracted: number;
  /** Already in the cache, from a file of the same size and mtime. */
  alreadyCached: number;
  /** Listed in the split but absent from the image tree (names). */
  missing: string[];
  /** Present but not decodable (name and reason). */
  unreadable: { name: string; reason: string }[];
  rowsInCache: number;
  seconds: number;
}

export interface ExtractSummary {
  split: Split;
  root: string;
  cacheDir: string;
  backend: string;
  backboneHash: string;
  recipes: number;
  /** Recipes whose image list is empty (ids). */
  recipesWithoutImage: string[];
  views: ViewSummary[];
  /** 'limit' or 'aborted' when the run stopped before covering every image; absent when it finished. */
  stoppedEarly?: 'limit' | 'aborted';
  seconds: number;
}

interface Item {
  name: string;
  recipeId: string;
  file: string;
}

interface StatItem extends Item {
  size: number;
  mtimeMs: number;
}

/** The transform of a view: 0 is the evaluation centre crop, >= 1 the seeded train augmentation. */
export function viewTransform(view: number, seed: number): ViewTransform {
  const { resizeShorterTo: resize, cropSize: crop } = SEED_GEOMETRY;
  return view === 0
    ? { kind: 'test', resize, crop, normalisation: 'caffe' }
    : { kind: 'train', resize, crop, normalisation: 'caffe', seed, flip: true };
}

/**
 * The random stream of one image in one train view. It depends only on (seed, view, name), not on the
 * order of processing, so an interrupted and resumed run produces exactly the rows of an uninterrupted one.
 */
export function viewRng(seed: number, view: number, name: string): SeededRandom {
  let h = 0x811c9dc5; // FNV-1a 32
  for (const ch of `${seed}:${view}:${name}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return new SeededRandom(h);
}

/**
 * Extract the backbone's 7x7x2048 map of the first image of every recipe of a split into the feature
 * cache, for view 0 and train views 1..K. Resumable; missing and unreadable images are counted, never fatal.
 */
export async function extractFeatures(opts: ExtractOptions): Promise<ExtractSummary> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const views = opts.views ?? 0;
  const batchSize = opts.batchSize ?? 8;
  const seed = opts.seed ?? 1;
  const commitRows = opts.commitRows ?? 32;
  let budget = opts.limit ?? Infinity;

  const dataset = await RecipeDataset.open(opts.root);
  const recipes = await dataset.readPaired(opts.split);
  const recipesWithoutImage: string[] = [];
  const invalid: { name: string; reason: string }[] = [];
  const items: Item[] = [];
  const seen = new Set<string>();
  for (const r of recipes) {
    const name = r.images[0];
    if (name === undefined) {
      recipesWithoutImage.push(r.id);
      continue;
    }
    if (seen.has(name)) continue; // two recipes sharing a photo: one row serves both names
    seen.add(name);
    try {
      items.push({ name, recipeId: r.id, file: dataset.imagePath(opts.split, name) });
    } catch (err) {
      invalid.push({ name, reason: (err as Error).message });
    }
  }

  const backend = await selectBackend(opts.backend ?? 'auto', log);
  const backbone = await loadBackbone();
  const summary: ExtractSummary = {
    split: opts.split,
    root: opts.root,
    cacheDir: opts.cacheDir,
    backend: backend.name,
    backboneHash: backbone.backboneHash,
    recipes: recipes.length,
    recipesWithoutImage,
    views: [],
    seconds: 0,
  };

  for (let view = 0; view <= views && summary.stoppedEarly === undefined; view++) {
    if (opts.signal?.aborted) {
      summary.stoppedEarly = 'aborted';
      break;
    }
    const viewStarted = Date.now();
    const transform = viewTransform(view, seed);
    const writer = await FeatureCacheWriter.open(opts.cacheDir, opts.split, view, {
      backboneHash: backbone.backboneHash,
      transform,
      shardRows: opts.shardRows,
      log,
    });
    const { present, missing } = await statItems(items);
    const todoAll = present.filter((it) => !writer.isCurrent(it.name, it.size, it.mtimeMs));
    const todo = todoAll.slice(0, Math.min(todoAll.length, budget));
    const vs: ViewSummary = {
      view,
      transform,
      images: items.length + invalid.length,
      extracted: 0,
      alreadyCached: present.length - todoAll.length,
      missing: missing.map((it) => it.name),
      unreadable: [...invalid],
      rowsInCache: 0,
      seconds: 0,
    };
    summary.views.push(vs);
    const label = `features ${opts.split} view ${view}`;
    log(`${label}: ${todoAll.length} to extract, ${vs.alreadyCached} cached, ${missing.length} missing`);
    const progress = new ProgressReporter(label, todo.length, log, opts.progressIntervalMs);

    const load = (batch: StatItem[]) => Promise.all(batch.map((it) => loadCrop(it, view, seed)));
    let next = todo.length > 0 ? load(todo.slice(0, batchSize)) : undefined;
    let processed = 0;
    for (let at = 0; next !== undefined; at += batchSize) {
      const loaded = await next;
      // Decode the next batch on sharp's threads while the backbone runs on this one.
      next = at + batchSize < todo.length && !opts.signal?.aborted ? load(todo.slice(at + batchSize, at + 2 * batchSize)) : undefined;
      const ok: { it: StatItem; crop: RgbImage }[] = [];
      for (const l of loaded) {
        if ('reason' in l) vs.unreadable.push({ name: l.it.name, reason: l.reason });
        else ok.push(l);
      }
      if (ok.length > 0) {
        const maps = await runBackbone(backbone, ok.map((l) => l.crop));
        ok.forEach(({ it }, i) => {
          writer.add([it.name, it.recipeId, it.size, it.mtimeMs], encodeFloat16(maps.subarray(i * ROW_VALUES, (i + 1) * ROW_VALUES)));
        });
        vs.extracted += ok.length;
      }
      processed += loaded.length;
      if (writer.pending >= commitRows) await writer.commit();
      progress.update(processed);
      if (next === undefined && processed < todo.length) summary.stoppedEarly = 'aborted';
    }
    budget -= processed;
    if (summary.stoppedEarly === undefined && todo.length < todoAll.length) summary.stoppedEarly = 'limit';
    if (summary.stoppedEarly === undefined) {
      await writer.finish({
        finishedAt: new Date().toISOString(),
        listed: vs.images,
        missing: vs.missing,
        unreadable: vs.unreadable.map((u) => u.name),
      });
    } else {
      await writer.commit();
    }
    vs.rowsInCache = writer.rowsCommitted;
    vs.seconds = (Date.now() - viewStarted) / 1000;
  }
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

/** Size and mtime of every image file; absent files are "missing". Bounded concurrency for ~100k files. */
async function statItems(items: Item[]): Promise<{ present: StatItem[]; missing: Item[] }> {
  const present: StatItem[] = [];
  const missing: Item[] = [];
  for (let i = 0; i < items.length; i += 256) {
    const chunk = items.slice(i, i + 256);
    const stats = await Promise.all(chunk.map((it) => fs.stat(it.file).catch(() => undefined)));
    chunk.forEach((it, j) => {
      const st = stats[j];
      if (st?.isFile()) present.push({ ...it, size: st.size, mtimeMs: st.mtimeMs });
      else missing.push(it);
    });
  }
  return { present, missing };
}

async function loadCrop(it: StatItem, view: number, seed: number): Promise<{ it: StatItem; crop: RgbImage } | { it: StatItem; reason: string }> {
  try {
    const crop = view === 0 ? await loadTestCrop(it.file) : await loadTrainCrop(it.file, viewRng(seed, view, it.name));
    return { it, crop };
  } catch (err) {
    if (err instanceof ImageDecodeError) return { it, reason: err.message };
    throw err;
  }
}

async function runBackbone(backbone: Backbone, crops: RgbImage[]): Promise<Float32Array> {
  const input = toCaffeNhwcBatch(crops);
  const out = tf.tidy(() => backbone.featureMaps(tf.tensor4d(input, [crops.length, crops[0].height, crops[0].width, 3])));
  try {
    return (await out.data()) as Float32Array;
  } finally {
    out.dispose();
  }
}
