import { promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import path from 'node:path';
import hnswlib from 'hnswlib-node';
import type { Recipe } from '../data/recipe.js';
import { writeFileAtomic } from '../util/atomic.js';
import { DataFileError, UserError } from '../util/errors.js';
import { sha256Bytes, sha256File } from '../util/sha256.js';
import { readHnswHeader } from './hnsw-header.js';
import type { Projection } from './projection.js';
import { INDEX_FORMAT, INDEX_VERSION, MANIFEST_FILE, parseManifest, PROJECTION_FILE, type IndexFileName, type IndexManifest } from './manifest.js';
import { MAX_EF, RecipeIndex } from './recipe-index.js';

/** A recipe as the index shows it: its display data and the dataset split it (and its photos) belong to. */
export interface IndexedRecipe extends Recipe {
  split: string;
}

export interface SaveIndexInfo {
  /** The model that embedded the recipes: its id and the sha256 of its manifest. */
  model: { id: string; manifestSha256: string };
  /** Dataset root as it should be recorded, and the splits the recipes come from. */
  dataset: { root: string; splits: readonly string[] };
  /** Display data, one per index row, in row order (ids must match the index's; splits among dataset.splits). */
  recipes: readonly IndexedRecipe[];
}

export interface LoadIndexOptions {
  /** Refuse an index embedded by another model. */
  expectModelId?: string;
  /** Refuse an index whose vectors have another width than the model's embeddings. */
  expectDim?: number;
  /** Search breadth to use by default (else the manifest's efSearch). */
  ef?: number;
}

export interface LoadedRecipeIndex {
  index: RecipeIndex;
  /** recipes[row] is the display data of index row `row`. */
  recipes: readonly IndexedRecipe[];
  manifest: IndexManifest;
  dir: string;
}

/**
 * Write an index folder: hnsw.bin, embeddings.f32, recipes.json, then manifest.json. Every file is
 * written atomically and the manifest last (an existing one is removed first), so a folder with a
 * manifest is complete and one without is an interrupted build.
 */
export async function saveRecipeIndex(dir: string, index: RecipeIndex, info: SaveIndexInfo): Promise<IndexManifest> {
  if (endianness() !== 'LE') throw new Error('embeddings.f32 is little-endian float32; this machine is big-endian');
  if (info.recipes.length !== index.count) throw new UserError(`index holds ${index.count} rows but ${info.recipes.length} recipes were given`);
  const splits = new Set(info.dataset.splits);
  if (splits.size === 0 || splits.size !== info.dataset.splits.length) throw new UserError(`an index needs a list of distinct splits, got [${info.dataset.splits.join(', ')}]`);
  info.recipes.forEach((r, row) => {
    if (r.id !== index.ids[row]) throw new UserError(`recipe ${row} has id ${r.id}, but index row ${row} is ${index.ids[row]}`);
    if (!splits.has(r.split)) throw new UserError(`recipe ${r.id} is of split ${JSON.stringify(r.split)}, not one of the index's [${info.dataset.splits.join(', ')}]`);
  });
  await fs.mkdir(dir, { recursive: true });
  await fs.rm(path.join(dir, MANIFEST_FILE), { force: true });

  const files = {} as IndexManifest['files'];
  const graphFile = path.join(dir, 'hnsw.bin');
  await writeGraphAtomic(index, graphFile);
  files['hnsw.bin'] = { bytes: (await fs.stat(graphFile)).size, sha256: await sha256File(graphFile) };

  const vectorBytes = new Uint8Array(index.vectors.buffer, index.vectors.byteOffset, index.vectors.byteLength);
  await writeFileAtomic(path.join(dir, 'embeddings.f32'), vectorBytes);
  files['embeddings.f32'] = { bytes: vectorBytes.byteLength, sha256: sha256Bytes(vectorBytes) };

  if (index.projection) {
    const basis = index.projection.basis;
    const basisBytes = new Uint8Array(basis.buffer, basis.byteOffset, basis.byteLength);
    await writeFileAtomic(path.join(dir, PROJECTION_FILE), basisBytes);
    files[PROJECTION_FILE] = { bytes: basisBytes.byteLength, sha256: sha256Bytes(basisBytes) };
  } else {
    await fs.rm(path.join(dir, PROJECTION_FILE), { force: true });
  }

  const recipesJson = Buffer.from(JSON.stringify(info.recipes.map(displayFields)));
  await writeFileAtomic(path.join(dir, 'recipes.json'), recipesJson);
  files['recipes.json'] = { bytes: recipesJson.byteLength, sha256: sha256Bytes(recipesJson) };

  const manifest: IndexManifest = {
    format: INDEX_FORMAT,
    version: INDEX_VERSION,
    model: { id: info.model.id, manifestSha256: info.model.manifestSha256 },
    width: index.dim,
    space: index.space,
    count: index.count,
    hnsw: { ...index.params },
    dataset: { root: info.dataset.root, splits: [...info.dataset.splits] },
    builtAt: new Date().toISOString(),
    buildMs: Math.round(index.buildMs),
    files,
  };
  await writeFileAtomic(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Only the fields a search result shows (and the split that locates the photos), in a fixed order. */
function displayFields(r: IndexedRecipe): IndexedRecipe {
  return { id: r.id, title: r.title, ingredients: r.ingredients, instructions: r.instructions, images: r.images, split: r.split };
}

/** hnswlib writes the file itself; write it under a temporary name, fsync, and rename into place. */
async function writeGraphAtomic(index: RecipeIndex, file: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await index.writeGraph(tmp);
    const handle = await fs.open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Open an index folder for searching. Checks, in order: the manifest is there and well formed; the
 * model and width are the expected ones; every file has the size and sha256 the manifest records;
 * the HNSW header agrees with the manifest (readIndex itself would accept any width); then loads the
 * graph and sets ef (readIndex resets it to 10).
 */
export async function loadRecipeIndex(dir: string, options: LoadIndexOptions = {}): Promise<LoadedRecipeIndex> {
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const text = await fs.readFile(manifestFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') {
      throw new DataFileError(manifestFile, 'missing: the index folder is incomplete (interrupted build?) or not an index; rebuild it with the index command');
    }
    throw new DataFileError(manifestFile, err.message);
  });
  const manifest = parseManifest(manifestFile, text);
  if (options.expectModelId !== undefined && manifest.model.id !== options.expectModelId) {
    throw new DataFileError(manifestFile, `index was built with model ${manifest.model.id}, but the loaded model is ${options.expectModelId}; rebuild the index with this model`);
  }
  if (options.expectDim !== undefined && manifest.width !== options.expectDim) {
    throw new DataFileError(manifestFile, `index vectors are ${manifest.width} wide, but the model's embeddings are ${options.expectDim} wide; rebuild the index with this model`);
  }
  const ef = options.ef ?? manifest.hnsw.efSearch;
  if (!Number.isInteger(ef) || ef < 1 || ef > MAX_EF) throw new UserError(`ef must be an integer from 1 to ${MAX_EF}, got ${ef}`);

  const graphFile = path.join(dir, 'hnsw.bin');
  await verifyFile(dir, manifest, 'hnsw.bin', () => sha256File(graphFile));
  const vectorFile = path.join(dir, 'embeddings.f32');
  const vectorBytes = await readVerified(dir, manifest, 'embeddings.f32');
  const recipesFile = path.join(dir, 'recipes.json');
  const recipesBytes = await readVerified(dir, manifest, 'recipes.json');

  if (vectorBytes.byteLength !== manifest.count * manifest.width * 4) {
    throw new DataFileError(vectorFile, `holds ${vectorBytes.byteLength} bytes, but ${manifest.count} rows of width ${manifest.width} need ${manifest.count * manifest.width * 4}`);
  }
  // A copy aligned for Float32Array (a Buffer may sit at any offset of a shared pool).
  const vectors = new Float32Array(manifest.count * manifest.width);
  new Uint8Array(vectors.buffer).set(vectorBytes);

  const recipes = JSON.parse(recipesBytes.toString('utf8')) as IndexedRecipe[];
  if (!Array.isArray(recipes) || recipes.length !== manifest.count || recipes.some((r) => typeof r?.id !== 'string' || !Array.isArray(r.images))) {
    throw new DataFileError(recipesFile, `must be an array of ${manifest.count} recipes with string ids and image lists`);
  }
  const stray = recipes.find((r) => !manifest.dataset.splits.includes(r.split));
  if (stray) throw new DataFileError(recipesFile, `recipe ${stray.id} is of split ${JSON.stringify(stray.split)}, which the manifest does not list`);

  const graphWidth = manifest.hnsw.projectedDim ?? manifest.width;
  let projection: Projection | undefined;
  if (manifest.hnsw.projectedDim !== undefined) {
    const bytes = await readVerified(dir, manifest, PROJECTION_FILE);
    if (bytes.byteLength !== graphWidth * manifest.width * 4) {
      throw new DataFileError(path.join(dir, PROJECTION_FILE), `holds ${bytes.byteLength} bytes, but a ${graphWidth} x ${manifest.width} basis needs ${graphWidth * manifest.width * 4}`);
    }
    const basis = new Float32Array(graphWidth * manifest.width);
    new Uint8Array(basis.buffer).set(bytes);
    projection = { dim: manifest.width, reducedDim: graphWidth, basis };
  }
  const header = await readHnswHeader(graphFile);
  if (header.dataBytes !== graphWidth * 4) {
    throw new DataFileError(graphFile, `holds vectors ${header.dataBytes / 4} wide, but the manifest says ${graphWidth}`);
  }
  if (header.count !== manifest.count) throw new DataFileError(graphFile, `holds ${header.count} vectors, but the manifest says ${manifest.count}`);

  const hnsw = new hnswlib.HierarchicalNSW('ip', graphWidth);
  await hnsw.readIndex(graphFile);
  if (hnsw.getCurrentCount() !== manifest.count) {
    throw new DataFileError(graphFile, `loaded ${hnsw.getCurrentCount()} vectors, but the manifest says ${manifest.count}`);
  }
  const params = { ...manifest.hnsw, efSearch: ef };
  const index = new RecipeIndex(hnsw, vectors, recipes.map((r) => r.id), manifest.width, manifest.space, params, manifest.buildMs, projection);
  return { index, recipes, manifest, dir };
}

/** Size first (cheap, catches truncation), then sha256 (catches any change). */
async function verifyFile(dir: string, manifest: IndexManifest, name: IndexFileName | typeof PROJECTION_FILE, hash: () => Promise<string>): Promise<void> {
  const file = path.join(dir, name);
  const expected = manifest.files[name];
  if (!expected) throw new DataFileError(path.join(dir, MANIFEST_FILE), `records no ${name}`);
  const { size } = await fs.stat(file).catch(missing(file));
  if (size !== expected.bytes) {
    throw new DataFileError(file, `holds ${size} bytes, but the manifest records ${expected.bytes}: the file is truncated or was replaced; rebuild the index`);
  }
  if ((await hash()) !== expected.sha256) {
    throw new DataFileError(file, 'sha256 does not match the manifest: the file is corrupted or was replaced after the index was built; rebuild the index');
  }
}

/** Read a file whole and verify it against the manifest (hashing the very bytes that get used). */
async function readVerified(dir: string, manifest: IndexManifest, name: IndexFileName | typeof PROJECTION_FILE): Promise<Buffer> {
  const file = path.join(dir, name);
  let bytes: Buffer | undefined;
  await verifyFile(dir, manifest, name, async () => {
    bytes = await fs.readFile(file).catch(missing(file));
    return sha256Bytes(bytes);
  });
  return bytes!;
}

function missing(file: string): (err: NodeJS.ErrnoException) => never {
  return (err) => {
    throw new DataFileError(file, err.code === 'ENOENT' ? 'missing from the index folder; rebuild the index' : err.message);
  };
}
