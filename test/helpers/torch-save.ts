import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fromRoot } from '../../src/util/paths.js';

/**
 * torch.save's two formats written by Python's own pickler (test/helpers/torch_save.py, stdlib
 * only, a fake torch module layout): an independent reference for the checkpoint readers.
 */

export type SpecStorageType = 'FloatStorage' | 'LongStorage' | 'HalfStorage' | 'DoubleStorage';

export interface SpecStorage {
  type: SpecStorageType;
  /** Numbers; int64 values as decimal strings. */
  values?: Array<number | string>;
  /** [byte offset, numel] of raw little-endian data in the spec's blob. */
  blob?: [number, number];
  location?: string;
}

export interface SpecTensor {
  name: string;
  storage: string;
  offset: number;
  shape: number[];
  stride: number[];
  /** A pre-0.4 storage view (legacy only; the zip file shifts the tensor's offset instead). */
  view?: { offset: number; numel: number } | null;
}

export interface TorchSaveSpec {
  storages: Record<string, SpecStorage>;
  tensors: SpecTensor[];
  blob?: string;
  /** Fields of a checkpoint dict holding the state_dict under 'state_dict'; absent: the bare OrderedDict. */
  checkpoint?: Record<string, unknown>;
  legacy?: string;
  zip?: string;
  folder?: string;
  protocol?: number;
  rebuild?: '_rebuild_tensor_v2' | '_rebuild_tensor';
  magic?: number;
  protocol_version?: number;
  little_endian?: boolean;
}

/** Write the spec's files (legacy and/or zip) with python3. */
export function torchSave(spec: TorchSaveSpec, specFile: string): void {
  writeFileSync(specFile, JSON.stringify(spec));
  execFileSync('python3', [fromRoot('test/helpers/torch_save.py'), specFile], { encoding: 'utf8' });
}

/** Row-major contiguous strides for `shape`. */
export function contiguousStride(shape: readonly number[]): number[] {
  return shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
}
