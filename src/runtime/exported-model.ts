import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadVocabulary, type Vocabulary } from '../data/text/vocabulary.js';
import { checkManifestFiles, readExportManifest, type ExportedGraph, type ExportManifest } from '../export/manifest.js';
import { MANIFEST_FILE } from '../export/io-spec.js';
import { DataFileError } from '../util/errors.js';
import { sha256Bytes } from '../util/sha256.js';

/** An exported model folder (src/export) as the server, the index command and `evaluate` use it. */
export interface ExportedModel {
  dir: string;
  manifest: ExportManifest;
  /** sha256 of manifest.json: an index records it, so a re-export under the same id is noticed. */
  manifestSha256: string;
  vocab: Vocabulary;
  /** Ingredient label names, index = logit position. */
  labels: string[];
  recipeEncoderPath: string;
  /** Absent for a head-only export (feature maps in, no photos): such a model can build indexes but not serve photos. */
  imageEncoderPath?: string;
}

/**
 * Read and verify an exported model folder: the manifest, every file's size and sha256, the
 * vocabulary and the label names (their count must match the ingredient logits).
 */
export async function openExportedModel(dir: string): Promise<ExportedModel> {
  const manifest = await readExportManifest(dir);
  await checkManifestFiles(dir, manifest);
  const manifestBytes = await fs.readFile(path.join(dir, MANIFEST_FILE));
  const vocab = await loadVocabulary(path.join(dir, manifest.vocabulary.file));
  const labels = await readLabels(path.join(dir, manifest.labels.file), manifest.labels.count);
  const graphPath = (g: ExportedGraph | undefined) => (g ? path.join(dir, g.file) : undefined);
  return {
    dir,
    manifest,
    manifestSha256: sha256Bytes(manifestBytes),
    vocab,
    labels,
    recipeEncoderPath: graphPath(manifest.models.recipeEncoder)!,
    imageEncoderPath: graphPath(manifest.models.imageEncoder),
  };
}

async function readLabels(file: string, count: number): Promise<string[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new DataFileError(file, `cannot read the label names (${(err as Error).message})`);
  }
  const labels = (parsed as { labels?: unknown })?.labels;
  if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) throw new DataFileError(file, 'expected {"labels": [names]}');
  if (labels.length !== count) throw new DataFileError(file, `holds ${labels.length} labels, the manifest says ${count}`);
  return labels as string[];
}
