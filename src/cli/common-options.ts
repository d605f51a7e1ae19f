import { SPLITS, type Split } from '../data/recipe.js';
import { DEVICES } from '../runtime/device.js';
import { PRECISIONS } from '../model-format/exported-model.js';
import { BACKEND_REQUESTS, type BackendRequest } from '../tf/backend-names.js';
import { defineOptions } from './options.js';

/**
 * Options several commands take, declared here once (each command may add to a description or
 * change a default by spreading one).
 */

/** --backend: the TF.js backend. */
export function backendOption<const D extends BackendRequest>(fallback: D, description = '') {
  return { type: 'string', value: 'B', description, choices: BACKEND_REQUESTS, default: fallback } as const;
}

/** --split: one of the dataset's splits. */
export function splitOption<const D extends Split>(fallback: D, description = '') {
  return { type: 'string', value: 'S', description, choices: SPLITS, default: fallback } as const;
}

/** --device: where onnxruntime runs (auto: CUDA when it can start, else CPU). */
export function deviceOption(description = 'auto = CUDA when onnxruntime can start it, else CPU') {
  return { type: 'string', value: 'D', description, choices: DEVICES, default: 'auto' } as const;
}

/** --precision: the image encoder an exported model runs (int8: the one quantize made). */
export function precisionOption(description = '') {
  return { type: 'string', value: 'P', description, choices: PRECISIONS, default: 'fp32' } as const;
}

/** --model: an exported model folder (export, import-checkpoint), for index, quantize and serve. */
export const EXPORTED_MODEL_OPTION = {
  type: 'string', value: 'DIR', description: 'exported model folder (made by export or import-checkpoint)',
  required: 'an exported model folder, e.g. models/<id>',
} as const;

/** What export and import-checkpoint write a model folder with. */
export const MODEL_FOLDER_OPTIONS = defineOptions({
  out: { type: 'string', value: 'DIR', description: 'output folder; its name is the model id unless --id is given', required: 'e.g. --out models/my-model' },
  id: { type: 'string', value: 'NAME', description: 'model id recorded in the manifest' },
  evaluation: {
    type: 'string', value: 'FILE',
    description: 'the model\'s measured quality: what `evaluate --json` printed for it;\nrecorded in the manifest, shown by the server (/v1/info and the page)',
  },
});

/** The files of a written model folder, a line each: name, size, the start of its sha256. */
export function formatModelFiles(files: Record<string, { bytes: number; sha256: string }>): string[] {
  return Object.entries(files).map(([name, f]) => `  ${name.padEnd(20)} ${(f.bytes / 1e6).toFixed(2).padStart(8)} MB  ${f.sha256.slice(0, 16)}`);
}
