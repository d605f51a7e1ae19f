import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../util/atomic.js';
import { DataFileError } from '../util/errors.js';
import { sha256Bytes } from '../util/sha256.js';
import { parseJsonText } from '../util/json-file.js';

/**
 * A checkpoint folder:
 *   checkpoint.json   format tag, metadata (model config, stage, epoch, metrics...), and a table of every
 *                     tensor: group, name, shape, byte offset, plus the weights file's name, size and sha256
 *   weights-<sha>.bin little-endian float32 rows of all tensors, back to back
 * The weights file is written first (atomically, under a content-derived name), checkpoint.json last: a folder
 * whose checkpoint.json is present is complete, and one interrupted mid-write still holds the previous checkpoint.
 */
export const CHECKPOINT_FORMAT = 'recipe-retrieval-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface TensorEntry {
  group: string;
  name: string;
  shape: number[];
  /** Byte offset in the weights file. */
  offset: number;
}

export interface CheckpointManifest<M = Record<string, unknown>> {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  meta: M;
  weights: { file: string; bytes: number; sha256: string };
  tensors: TensorEntry[];
}

/** Named tensors by group, e.g. `params` (model weights), `adam.m`, `adam.v`, `dictionary`. */
export type TensorGroups = Record<string, ReadonlyMap<string, tf.Tensor>>;

export async function saveCheckpoint<M extends object>(dir: string, groups: TensorGroups, meta: M): Promise<CheckpointManifest<M>> {
  const tensors: TensorEntry[] = [];
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [group, map] of Object.entries(groups)) {
    for (const [name, tensor] of map) {
      if (tensor.dtype !== 'float32') throw new Error(`checkpoint tensor ${group}/${name} is ${tensor.dtype}, expected float32`);
      const values = tensor.dataSync() as Float32Array;
      const bytes = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
      tensors.push({ group, name, shape: [...tensor.shape], offset });
      parts.push(bytes);
      offset += bytes.byteLength;
    }
  }
  const weights = Buffer.concat(parts);
  const sha256 = sha256Bytes(weights);
  const file = `weights-${sha256.slice(0, 16)}.bin`;
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, file), weights);
  const manifest: CheckpointManifest<M> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    meta,
    weights: { file, bytes: weights.byteLength, sha256 },
    tensors,
  };
  await writeFileAtomic(path.join(dir, 'checkpoint.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  // Older weights files of this folder are no longer referenced.
  for (const name of await fs.readdir(dir)) {
    if (/^weights-[0-9a-f]{16}\.bin$/.test(name) && name !== file) await fs.rm(path.join(dir, name), { force: true });
  }
  return manifest;
}

export interface LoadedCheckpoint<M> {
  manifest: CheckpointManifest<M>;
  /** Tensors by group then name; the caller owns (and disposes) them. */
  groups: Map<string, Map<string, tf.Tensor>>;
}

export async function hasCheckpoint(dir: string): Promise<boolean> {
  return (await fs.stat(path.join(dir, 'checkpoint.json')).catch(() => undefined))?.isFile() ?? false;
}

export async function readCheckpointManifest<M = Record<string, unknown>>(dir: string): Promise<CheckpointManifest<M>> {
  const file = path.join(dir, 'checkpoint.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new DataFileError(file, 'no checkpoint here (checkpoint.json not found)');
  }
  const manifest = parseJsonText<CheckpointManifest<M>>(file, text);
  if (manifest.format !== CHECKPOINT_FORMAT) throw new DataFileError(file, `not a ${CHECKPOINT_FORMAT} manifest`);
  if (manifest.version !== CHECKPOINT_VERSION) throw new DataFileError(file, `checkpoint version ${manifest.version} is not supported (expected ${CHECKPOINT_VERSION})`);
  return manifest;
}

/** Load a checkpoint; `groupsWanted` limits which groups are materialised (e.g. only `params` for inference). */
export async function loadCheckpoint<M = Record<string, unknown>>(dir: string, groupsWanted?: readonly string[]): Promise<LoadedCheckpoint<M>> {
  const manifest = await readCheckpointManifest<M>(dir);
  const weightsPath = path.join(dir, manifest.weights.file);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(weightsPath);
  } catch {
    throw new DataFileError(weightsPath, 'weights file named by checkpoint.json is missing');
  }
  if (bytes.byteLength !== manifest.weights.bytes) {
    throw new DataFileError(weightsPath, `has ${bytes.byteLength} bytes, checkpoint.json says ${manifest.weights.bytes}`);
  }
  const sha = sha256Bytes(bytes);
  if (sha !== manifest.weights.sha256) throw new DataFileError(weightsPath, 'sha256 does not match checkpoint.json (corrupt file)');
  const groups = new Map<string, Map<string, tf.Tensor>>();
  for (const entry of manifest.tensors) {
    if (groupsWanted && !groupsWanted.includes(entry.group)) continue;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(bytes.subarray(entry.offset, entry.offset + count * 4));
    if (!groups.has(entry.group)) groups.set(entry.group, new Map());
    groups.get(entry.group)!.set(entry.name, tf.tensor(values, entry.shape, 'float32'));
  }
  return { manifest, groups };
}
