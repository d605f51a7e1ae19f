import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ModelConfig } from '../model/config.js';
import { DataFileError } from '../util/errors.js';
import { sha256Bytes, sha256File } from '../util/sha256.js';
import type { GraphInterface } from './io-spec.js';
import type { ModelEvaluation } from './model-evaluation.js';
import { MANIFEST_FILE } from './io-spec.js';
import { parseJsonText } from '../util/json-file.js';

export const EXPORT_FORMAT = 'recipe-retrieval-onnx-export';
export const EXPORT_VERSION = 1;

export interface FileRecord {
  sha256: string;
  bytes: number;
}

export interface ExportedGraph extends GraphInterface {
  file: string;
}

/** manifest.json of an exported model folder: everything a server needs to use the ONNX files. */
export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  version: typeof EXPORT_VERSION;
  modelId: string;
  createdAt: string;
  producer: { name: string; version: string };
  preset: string;
  stage: string;
  config: ModelConfig;
  embeddingDim: number;
  onnx: { opset: number; irVersion: number };
  models: { imageEncoder?: ExportedGraph; imageHead?: ExportedGraph; recipeEncoder: ExportedGraph };
  debias: { active: boolean; reason: string; keepThreshold: number; dictionarySha256?: string };
  preprocessing: {
    image: {
      resizeShorterSide: number;
      centreCrop: number;
      resizeKernel: string;
      input: string;
      normalisation: string;
    };
    text: {
      vocabulary: string;
      encoding: string;
      limits: Record<string, number>;
      maxPositions: number;
    };
  };
  vocabulary: { file: string; sha256: string; words: number };
  labels: { file: string; count: number };
  backbone?: { source: string; sha256: string };
  source: {
    run: string;
    runName: string;
    stage: string;
    epoch?: number;
    checkpointSha256: string;
    metrics: unknown;
  };
  /** The model's measured retrieval quality (an `evaluate --json` report given at export or import), shown by the server. */
  evaluation?: ModelEvaluation;
  /** Checks made at export time (backbone hash, ONNX vs TF.js probe). */
  checks: Record<string, unknown>;
  /** sha256 and size of every other file of the folder. */
  files: Record<string, FileRecord>;
}

/**
 * A graph `quantize` adds beside the exported ones (manifest.json's `quantized.int8`): what a reader
 * needs to find and check it. quantize/quantize-model.ts records more (scheme, nodes, calibration).
 */
export interface QuantizedGraphRecord {
  file: string;
  sha256: string;
  bytes: number;
  /** The float32 graph it was made from. */
  source: { file: string; sha256: string };
}

/**
 * The model's identity as indexes record it: the sha256 of manifest.json as export wrote it.
 * `quantize` adds a `quantized` block (a new graph beside the others, none of them changed), so
 * that block is left out: an index built before quantizing still belongs to the model.
 */
export function modelManifestSha256(manifestBytes: Uint8Array): string {
  const text = Buffer.from(manifestBytes).toString('utf8');
  let parsed: { quantized?: unknown } | undefined;
  try {
    parsed = JSON.parse(text) as { quantized?: unknown };
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || !('quantized' in parsed)) return sha256Bytes(manifestBytes);
  const { quantized: _quantized, ...base } = parsed;
  return sha256Bytes(`${JSON.stringify(base, null, 2)}\n`);
}

export async function fileRecord(file: string): Promise<FileRecord> {
  // Streamed: export folders hold ONNX graphs of ~100 MB.
  return { sha256: await sha256File(file), bytes: (await fs.stat(file)).size };
}

export async function readExportManifest(dir: string): Promise<ExportManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new DataFileError(file, 'not found (not an exported model folder, or its export did not finish)');
  }
  const manifest = parseJsonText<ExportManifest>(file, text);
  if (manifest.format !== EXPORT_FORMAT) throw new DataFileError(file, `not a ${EXPORT_FORMAT} manifest`);
  if (manifest.version !== EXPORT_VERSION) throw new DataFileError(file, `export version ${manifest.version} is not supported (expected ${EXPORT_VERSION})`);
  return manifest;
}

/** Check every listed file's size and sha256; throws naming the first that differs. */
export async function checkManifestFiles(dir: string, manifest: ExportManifest): Promise<void> {
  for (const [name, expected] of Object.entries(manifest.files)) {
    const file = path.join(dir, name);
    const actual = await fileRecord(file).catch(() => undefined);
    if (!actual) throw new DataFileError(file, 'listed in manifest.json but missing');
    if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256) {
      throw new DataFileError(file, 'size or sha256 differs from manifest.json (modified or corrupt)');
    }
  }
}
