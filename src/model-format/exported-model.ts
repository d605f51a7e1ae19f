import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadVocabulary, type Vocabulary } from '../data/text/vocabulary.js';
import { checkManifestFiles, modelManifestSha256, readExportManifest, type ExportedGraph, type ExportManifest, type QuantizedGraphRecord } from './manifest.js';
import { MANIFEST_FILE } from './io-spec.js';
import { DataFileError, UserError } from '../util/errors.js';
import { sha256File } from '../util/sha256.js';

/** Which image encoder to run: the exported float32 graph, or its int8 quantization (`quantize`). */
export type Precision = 'fp32' | 'int8';
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8'];

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
  /** Precision of the image encoder at imageEncoderPath. */
  precision: Precision;
}

/**
 * Read and verify an exported model folder: the manifest, every file's size and sha256, the
 * vocabulary and the label names (their count must match the ingredient logits).
 */
export async function openExportedModel(dir: string, opts: { precision?: Precision } = {}): Promise<ExportedModel> {
  const precision = opts.precision ?? 'fp32';
  if (!PRECISIONS.includes(precision)) throw new UserError(`unknown precision "${String(precision)}" (choose one of ${PRECISIONS.join(', ')})`);
  const manifest = await readExportManifest(dir) as ExportManifest & { quantized?: { int8?: QuantizedGraphRecord } };
  await checkManifestFiles(dir, manifest);
  const manifestBytes = await fs.readFile(path.join(dir, MANIFEST_FILE));
  const vocab = await loadVocabulary(path.join(dir, manifest.vocabulary.file));
  const labels = await readLabels(path.join(dir, manifest.labels.file), manifest.labels.count);
  const graphPath = (g: ExportedGraph | undefined) => (g ? path.join(dir, g.file) : undefined);
  let imageEncoderPath = graphPath(manifest.models.imageEncoder);
  if (precision === 'int8') imageEncoderPath = await int8EncoderPath(dir, manifest.quantized?.int8);
  return {
    dir,
    manifest,
    manifestSha256: modelManifestSha256(manifestBytes),
    vocab,
    labels,
    recipeEncoderPath: graphPath(manifest.models.recipeEncoder)!,
    imageEncoderPath,
    precision,
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

/** The int8 image encoder recorded by `quantize`, checked against its sha256. */
async function int8EncoderPath(dir: string, record: QuantizedGraphRecord | undefined): Promise<string> {
  if (!record) throw new UserError(`${dir}: no int8 image encoder; make one with: recipe-retrieval quantize --model ${dir} <dataset-root>`);
  const file = path.join(dir, record.file);
  const sha = await sha256File(file).catch(() => undefined);
  if (sha === undefined) throw new DataFileError(file, 'listed in manifest.json (quantized.int8) but missing');
  if (sha !== record.sha256) throw new DataFileError(file, 'sha256 differs from manifest.json (quantized.int8): modified or corrupt; run quantize again');
  return file;
}
