import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DataFileError, UserError } from '../../util/errors.js';
import type { AsymmetricLossOptions } from '../losses.js';
import type { AdamWOptions } from '../adamw.js';
import type { SeedObjective } from './seed-objective.js';

/**
 * Reader of a training-step golden set (tools/seed_train_goldens.py's layout, see its README):
 * every number the verifier uses (hyperparameters, file shapes, tolerances' raw material) comes
 * from the set's own JSON files, so another set with other sizes and values verifies unchanged.
 */

export interface ParamEntry {
  index: number;
  name: string;
  shape: number[];
  numel: number;
  /** Sampled layout: elements j * stride, j < count, stored at offset. */
  offset: number;
  stride: number;
  count: number;
  /** Full layout offset; null for a gradient that is exactly zero. */
  full_offset: number | null;
  zero_grad_iter1: boolean;
}

export interface BnEntry {
  name: string;
  channels: number;
  affine_frozen: boolean;
  running_mean_offset: number;
  running_var_offset: number;
  num_batches_tracked_index: number;
  momentum: number;
  eps: number;
}

/** [sum, sum of squares, max |x|] of a full tensor, float64. */
export type TensorStats = [number, number, number];

export interface IterationGoldens {
  iteration: number;
  losses: Map<string, number>;
  forward: Map<string, Float32Array>;
  /** Iteration 1: full gradients; iteration 2: sampled. */
  grads: Float32Array;
  gradsLayout: 'full' | 'sampled';
  paramsAfterSampled: Float32Array;
  stats: { grad: TensorStats[]; param_after: TensorStats[]; update: TensorStats[]; grad_all_zero?: string[] };
  bnRunning: Float32Array;
  bnTracked: BigInt64Array;
  adam?: { params: Array<{ name: string; shape: number[]; numel: number; exp_avg_offset: number; exp_avg_sq_offset: number; step: number }>; values: Float32Array };
}

export interface ToleranceHints {
  /** Per parameter (optimizer order): one value per recomputation run. */
  grad_iter1: { max_abs_diff: number[][]; relative_l2_diff: number[][] };
  param_after_iter1: { max_abs_diff: number[][]; relative_l2_diff: number[][] };
  grad_iter2: { max_abs_diff: number[][]; relative_l2_diff: number[][] };
  param_after_iter2: { max_abs_diff: number[][]; relative_l2_diff: number[][] };
  files_max_abs_diff: Record<string, number[]>;
}

export interface StageGoldens {
  stage: string;
  dir: string;
  checkpoint: string;
  /** Stage 2: the ingredient dictionary pickle. */
  dictionary?: string;
  inputs: { images: Uint8Array; imageShape: number[]; title: BigInt64Array; titleShape: number[]; ingredients: BigInt64Array; ingredientsShape: number[]; instructions: BigInt64Array; instructionsShape: number[]; targets: Float32Array; targetsShape: number[] };
  objective: SeedObjective;
  optimizer: AdamWOptions;
  classifierHeads: number;
  /** The set ran with every dropout probability 0 (its one documented deviation). */
  dropout: number;
  params: ParamEntry[];
  batchNorm: BnEntry[];
  hints: ToleranceHints;
  iterations: IterationGoldens[];
}

function json<T>(file: string): T {
  if (!existsSync(file)) throw new DataFileError(file, 'is missing from the golden set');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new DataFileError(file, `is not valid JSON (${(err as Error).message})`);
  }
}

function bytes(file: string): Buffer {
  if (!existsSync(file)) throw new DataFileError(file, 'is missing from the golden set');
  const b = readFileSync(file);
  // A fresh, aligned copy so typed views are safe.
  return Buffer.from(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

const f32 = (file: string): Float32Array => { const b = bytes(file); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
const i64 = (file: string): BigInt64Array => { const b = bytes(file); return new BigInt64Array(b.buffer, b.byteOffset, b.byteLength / 8); };

function numberArg(args: Record<string, unknown>, key: string, source: string): number {
  const v = args[key];
  if (typeof v !== 'number') throw new DataFileError(source, `args_as_used.${key} is missing or not a number`);
  return v;
}

interface SetManifest {
  batch: { order: number[] };
  stages: Record<string, {
    checkpoint: string;
    dropout_modules_set_to_0?: number;
    optimizer_param_group: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
    args_as_used: Record<string, unknown>;
  }>;
}

interface InputsManifest { files: Array<{ path: string; shape: number[]; dtype: string }> }

function readInputs(setDir: string, order: number[], source: string): StageGoldens['inputs'] {
  const manifestFile = path.join(setDir, 'manifest.json');
  const files = json<InputsManifest>(manifestFile).files;
  const shape = (p: string): number[] => {
    const f = files.find((e) => e.path === p);
    if (!f) throw new DataFileError(manifestFile, `lists no ${p}`);
    return f.shape;
  };
  const at = (p: string): string => path.join(setDir, p);
  const identity = order.every((v, i) => v === i);
  if (!identity) throw new UserError(`${source}: batch order ${JSON.stringify(order)} is not the identity; reordering is not supported`);
  return {
    images: new Uint8Array(bytes(at('inputs/images_uint8_hwc.bin'))), imageShape: shape('inputs/images_uint8_hwc.bin'),
    title: i64(at('inputs/title_ids.bin')), titleShape: shape('inputs/title_ids.bin'),
    ingredients: i64(at('inputs/ingredient_ids.bin')), ingredientsShape: shape('inputs/ingredient_ids.bin'),
    instructions: i64(at('inputs/instruction_ids.bin')), instructionsShape: shape('inputs/instruction_ids.bin'),
    targets: f32(at('inputs/target_multi_hot.bin')), targetsShape: shape('inputs/target_multi_hot.bin'),
  };
}

function readIteration(dir: string, k: number): IterationGoldens {
  const it = path.join(dir, `iter${k}`);
  const losses = json<{ terms: Array<{ name: string; value: number }> }>(path.join(it, 'losses.json'));
  const forwardDir = path.join(it, 'forward');
  const forward = new Map<string, Float32Array>();
  const manifestForward = readdirBins(forwardDir);
  for (const name of manifestForward) forward.set(name, f32(path.join(forwardDir, `${name}.bin`)));
  const full = existsSync(path.join(it, 'grads_full.f32.bin'));
  const adamJson = path.join(it, 'adam_state.json');
  return {
    iteration: k,
    losses: new Map(losses.terms.map((t) => [t.name, t.value])),
    forward,
    grads: f32(path.join(it, full ? 'grads_full.f32.bin' : 'grads_sampled.f32.bin')),
    gradsLayout: full ? 'full' : 'sampled',
    paramsAfterSampled: f32(path.join(it, 'params_after_sampled.f32.bin')),
    stats: json(path.join(it, 'param_stats.json')),
    bnRunning: f32(path.join(it, 'bn_running.f32.bin')),
    bnTracked: i64(path.join(it, 'bn_num_batches_tracked.i64.bin')),
    adam: existsSync(adamJson) ? { params: json<{ params: NonNullable<IterationGoldens['adam']>['params'] }>(adamJson).params, values: f32(path.join(it, 'adam_state.f32.bin')) } : undefined,
  };
}

function readdirBins(dir: string): string[] {
  if (!existsSync(dir)) return [];
  // Sorted for a stable report order.
  return readdirSync(dir).filter((f) => f.endsWith('.bin')).map((f) => f.slice(0, -4)).sort();
}

/** Every stage of a golden set (`train-step/`), in manifest order. */
export function readTrainStepGoldens(dir: string): StageGoldens[] {
  const manifestFile = path.join(dir, 'manifest.json');
  if (!existsSync(manifestFile)) throw new UserError(`${dir}: not a training-step golden set (no manifest.json)`);
  const manifest = json<SetManifest>(manifestFile);
  return Object.entries(manifest.stages).map(([stage, s]): StageGoldens => {
    const stageDir = path.join(dir, stage);
    const checkpoint = path.resolve(dir, s.checkpoint);
    const setDir = path.dirname(checkpoint);
    const args = s.args_as_used;
    const source = `${manifestFile} (${stage})`;
    const objective: SeedObjective = {
      classificationWeight: numberArg(args, 'cls_weight', source),
      retrievalWeight: numberArg(args, 'retrieval_weight', source),
      margin: numberArg(args, 'margin', source),
      asl: {
        gammaNeg: numberArg(args, 'gamma_neg', source), gammaPos: numberArg(args, 'gamma_pos', source),
        clip: numberArg(args, 'loss_clip', source), eps: numberArg(args, 'eps', source),
      } satisfies AsymmetricLossOptions,
    };
    if (!(numberArg(args, 'recipe_loss_weight', source) > 0)) throw new UserError(`${source}: recipe_loss_weight <= 0 (recipe loss off) is not supported`);
    const group = s.optimizer_param_group;
    const dictionaryFile = typeof args.dic_type === 'string' ? path.join(setDir, `ingredient_dict_${args.dic_type}.pkl`) : undefined;
    const iterations: IterationGoldens[] = [];
    for (let k = 1; existsSync(path.join(stageDir, `iter${k}`)); k++) iterations.push(readIteration(stageDir, k));
    return {
      stage, dir: stageDir, checkpoint,
      dictionary: dictionaryFile && existsSync(dictionaryFile) ? dictionaryFile : undefined,
      inputs: readInputs(setDir, manifest.batch.order, source),
      objective,
      optimizer: { learningRate: group.lr, beta1: group.betas[0], beta2: group.betas[1], epsilon: group.eps, weightDecay: group.weight_decay },
      classifierHeads: numberArg(args, 'nheads', source),
      dropout: (s.dropout_modules_set_to_0 ?? 0) > 0 ? 0 : numberArg(args, 'dropout', source),
      params: json<{ params: ParamEntry[] }>(path.join(stageDir, 'param_index.json')).params,
      batchNorm: json<{ layers: BnEntry[] }>(path.join(stageDir, 'bn_index.json')).layers,
      hints: json<ToleranceHints>(path.join(stageDir, 'tolerance_hints.json')),
      iterations,
    };
  });
}
