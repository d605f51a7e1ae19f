import * as tf from '@tensorflow/tfjs';
import { toTorchvisionNchwBatch } from '../../data/images/normalise.js';
import { readIngredientDictionary } from '../../import/ingredient-dictionary.js';
import { projectionKey, type ComponentName } from '../../model/components.js';
import type { ModelOutputs } from '../../model/forward.js';
import { AdamW } from '../adamw.js';
import { fineTuneStep, type FineTuneBatch } from './fine-tune-step.js';
import { loadSeedCheckpointModel, type FineTuneModel } from './fine-tune-model.js';
import { readTrainStepGoldens, type IterationGoldens, type ParamEntry, type StageGoldens } from './train-step-goldens.js';

/**
 * verify-train-step: run the golden set's iterations from its checkpoints on the active backend and
 * compare every recorded number. Tolerances come from the set itself (tolerance_hints.json: how far
 * 2- and 4-thread and float64 recomputations of the seed land) and from the README's rules:
 * - loss terms of iteration 1: relative 1e-5; later iterations inherit step-1 differences, so they
 *   also get 10x the hints' spread of that file;
 * - forward outputs: 10x the hints' spread of the file (or of the same file of iteration 1), plus
 *   1e-5 of the file's largest value;
 * - gradients: relative L2 <= 10x the largest recomputation's + 1e-4 per tensor; a gradient the seed
 *   has exactly zero must be exactly zero;
 * - parameter updates (param after - param before) per element: 2.1 lr (a flipped sign moves an
 *   element by 2 lr); their sums and norms, full tensors, against param_stats.json;
 * - BatchNorm running statistics: 1e-4 of each layer's largest value + 10x the hints' spread;
 *   num_batches_tracked exactly;
 * - AdamW moments: relative L2 like the gradients they average (twice that for the squares).
 *
 * ReLU kinks: a gradient is discontinuous where a ReLU pre-activation crosses 0. When one of our
 * feed-forward gates sits closer to 0 (relative to its layer's range) than 10x our forward error,
 * PyTorch may have taken the other side; one flipped gate at one position moves the gradients of
 * everything upstream of it on that branch by ~1e-3 (stage 2 of the shipped set: the classifier
 * encoder's FFN, margin 3e-6). Those tensors are then judged with the floor KINK_FLOOR instead of
 * GRAD_FLOOR, and the report names the gate. Updates, losses and outputs are not relaxed.
 */

export interface Check {
  group: string;
  item: string;
  error: number;
  tolerance: number;
}

export interface GroupSummary {
  group: string;
  checks: number;
  worstItem: string;
  worstError: number;
  tolerance: number;
  /** worst error / its tolerance (<= 1 passes). */
  ratio: number;
  pass: boolean;
}

export interface GateKink {
  stage: string;
  iteration: number;
  /** The feed-forward block whose ReLU gate is near 0. */
  gate: string;
  /** min |pre-activation| / max |pre-activation| in our forward. */
  margin: number;
  /** Our forward outputs' largest relative error against the goldens. */
  forwardRelError: number;
  /** Tensors judged with the kink floor. */
  affected: number;
}

export interface VerifyReport {
  goldens: string;
  backend: string;
  seconds: number;
  pass: boolean;
  groups: GroupSummary[];
  failures: Check[];
  /** Every comparison made. */
  checks: Check[];
  kinks: GateKink[];
}

const HINT_FACTOR = 10;
const GRAD_FLOOR = 1e-4;
const KINK_FLOOR = 1e-2;
const KINK_FACTOR = 10;
/** Forward outputs of the image branch (the rest are the recipe branch's). */
const IMAGE_SIDE_FILES = /^(logits|img_emb|z$|prob_normalised)/;
const LOSS_REL = 1e-5;
const FORWARD_REL = 1e-5;
const BN_REL = 1e-4;
/** A step-1 AdamW update is lr * g / (|g| + eps): a flipped sign moves it by 2 lr; 5% margin. */
const UPDATE_LR_FACTOR = 2.1;

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  if (Number.isNaN(d)) return Infinity;
  return n > 0 ? Math.sqrt(d / n) : Math.sqrt(d);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    m = Math.max(m, d);
  }
  return m;
}

function sampled(values: Float32Array, p: ParamEntry): Float32Array {
  const out = new Float32Array(p.count);
  for (let j = 0; j < p.count; j++) out[j] = values[j * p.stride];
  return out;
}

/** The training-mode forward output a golden file holds (named as the generator names it). */
function forwardOutput(outputs: ModelOutputs, file: string): tf.Tensor | undefined {
  const image = outputs.image;
  const recipe = outputs.recipe;
  const proj = /^proj_(\w+?)_to_(\w+)$/.exec(file);
  if (proj) return recipe?.projections[projectionKey(proj[1] as ComponentName, proj[2] as ComponentName)];
  const feat = /^feat_(\w+)$/.exec(file);
  if (feat) return recipe?.features[feat[1] as ComponentName];
  switch (file) {
    case 'logits': return image?.logits;
    case 'img_emb': return image?.debiased?.embedding ?? image?.embedding;
    case 'img_emb_pure': return image?.embedding;
    case 'img_emb_debiased': return image?.debiased?.embedding;
    case 'z': return image?.debiased?.z;
    case 'prob_normalised': return image?.debiased?.probNormalised;
    case 'recipe_emb': return recipe?.embedding;
    default: return undefined;
  }
}

function hintMax(runs: number[] | undefined): number {
  return runs && runs.length ? Math.max(...runs) : 0;
}

export { batchOf as batchOfForDebug };
function batchOf(g: StageGoldens): FineTuneBatch {
  const { inputs } = g;
  const [n, h, w, c] = inputs.imageShape;
  const crops = Array.from({ length: n }, (_, i) => ({
    data: inputs.images.subarray(i * h * w * c, (i + 1) * h * w * c), width: w, height: h, channels: 3 as const,
  }));
  const nchw = tf.tensor4d(toTorchvisionNchwBatch(crops), [n, 3, h, w]);
  const images = tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D;
  nchw.dispose();
  const ints = (v: BigInt64Array): Int32Array => Int32Array.from(v, (x) => Number(x));
  return {
    images,
    recipe: {
      title: tf.tensor2d(ints(inputs.title), inputs.titleShape as [number, number], 'int32'),
      ingredients: tf.tensor3d(ints(inputs.ingredients), inputs.ingredientsShape as [number, number, number], 'int32'),
      instructions: tf.tensor3d(ints(inputs.instructions), inputs.instructionsShape as [number, number, number], 'int32'),
    },
    targets: tf.tensor2d(inputs.targets, inputs.targetsShape as [number, number]),
  };
}

function snapshot(model: FineTuneModel, params: ParamEntry[]): Map<string, Float32Array> {
  return new Map(params.map((p) => [p.name, model.params.get(p.name).dataSync() as Float32Array]));
}

function sumAndNorm(a: ArrayLike<number>): [number, number] {
  let s = 0;
  let q = 0;
  for (let i = 0; i < a.length; i++) {
    s += a[i];
    q += a[i] * a[i];
  }
  return [s, Math.sqrt(q)];
}

/** Trainable tensors upstream of a feed-forward gate on its branch (its backward passes them). */
function upstreamOf(gate: string, names: readonly string[]): string[] {
  if (gate.startsWith('transformer.')) {
    return names.filter((n) => n.startsWith('backbone.') || n.startsWith('transformer.encoder.') ||
      (gate.startsWith('transformer.decoder.') && (n.startsWith('transformer.decoder.') || n.startsWith('query_embed.'))));
  }
  const branch = gate.split('.').slice(0, 3).join('.');
  return names.filter((n) => n.startsWith('text_encoder.word_embedding') || n.startsWith(branch));
}

async function verifyStage(g: StageGoldens, checks: Check[], kinks: GateKink[], log: (line: string) => void): Promise<void> {
  const { model } = loadSeedCheckpointModel(g.checkpoint, { dropout: g.dropout, classifierHeads: g.classifierHeads });
  const batch = batchOf(g);
  let dictionary: tf.Tensor2D | undefined;
  if (model.debias) {
    if (!g.dictionary) throw new Error(`${g.stage}: a debiasing checkpoint but no ingredient dictionary in the set`);
    const d = await readIngredientDictionary(g.dictionary, model.config.classifier.labels, model.config.recipe.width);
    dictionary = tf.tensor2d(d.matrix.data, d.matrix.dims as [number, number]);
  }
  const add = (group: string, item: string, error: number, tolerance: number): void => {
    checks.push({ group: `${g.stage} ${group}`, item, error, tolerance });
  };
  // The set's optimizer order must be our trainable set, name for name.
  const ours = new Set(model.trainable);
  const theirs = new Set(g.params.map((p) => p.name));
  const missing = g.params.filter((p) => !ours.has(p.name)).map((p) => p.name);
  const extra = model.trainable.filter((n) => !theirs.has(n));
  add('trainable set', 'tensors missing or extra', missing.length + extra.length, 0);
  if (missing.length) throw new Error(`${g.stage}: the golden set trains ${missing.slice(0, 3).join(', ')}, which this model does not have`);
  for (const layer of g.batchNorm) {
    const ourLayer = model.batchNorm.layers.find((l) => l.name === layer.name);
    add('trainable set', `${layer.name} frozen flag`, ourLayer && ourLayer.frozen === layer.affine_frozen ? 0 : 1, 0);
  }
  const startTracked = new Map(model.batchNorm.batchesTracked);
  const optimizer = new AdamW(g.optimizer);
  const lr = g.optimizer.learningRate;
  let previousGoldenAfter: Float32Array | undefined;
  try {
    for (const it of g.iterations) {
      const k = it.iteration;
      const before = snapshot(model, g.params);
      const started = performance.now();
      const gateMargins = new Map<string, number>();
      const result = fineTuneStep(model, optimizer, batch, g.objective, { dictionary, checkpoint: false, capture: true, gateMargins });
      log(`${g.stage} iteration ${k}: step ${((performance.now() - started) / 1000).toFixed(1)} s, loss ${result.losses.get('total')}`);
      compareLosses(g, it, result.losses, add);
      // Our forward's relative error per branch: how far a gate of that branch may have moved.
      const branchError = { image: 0, recipe: 0 };
      for (const [file, golden] of it.forward) {
        const t = forwardOutput(result.outputs!, file);
        const branch = IMAGE_SIDE_FILES.test(file) ? 'image' : 'recipe';
        if (t) branchError[branch] = Math.max(branchError[branch], maxAbsDiff(t.dataSync(), golden) / Math.max(maxAbs(golden), 1e-30));
        const spread = hintMax(g.hints.files_max_abs_diff[`iter${k}/forward/${file}.bin`] ?? g.hints.files_max_abs_diff[`iter1/forward/${file}.bin`]);
        const tol = HINT_FACTOR * spread + FORWARD_REL * maxAbs(golden);
        add(`iter${k} forward outputs`, file, t ? maxAbsDiff(t.dataSync(), golden) : Infinity, tol);
      }
      disposeAll(result.outputs);
      const kinked = new Set<string>();
      const zeroGrad = new Set(k === 1 ? g.params.filter((p) => p.zero_grad_iter1).map((p) => p.name) : it.stats.grad_all_zero ?? []);
      for (const [gate, margin] of gateMargins) {
        const forwardRelError = gate.startsWith('transformer.') ? branchError.image : branchError.recipe;
        // A gate the loss does not differentiate through (stage 1's classifier: zero gradients) cannot matter.
        if (zeroGrad.has(`${gate}.linear1.weight`) || !(margin < KINK_FACTOR * forwardRelError)) continue;
        const affected = upstreamOf(gate, g.params.map((p) => p.name));
        affected.forEach((n) => kinked.add(n));
        kinks.push({ stage: g.stage, iteration: k, gate, margin, forwardRelError, affected: affected.length });
      }
      compareGrads(g, it, result.grads!, kinked, add);
      for (const t of result.grads!.values()) t.dispose();
      const after = snapshot(model, g.params);
      compareUpdates(g, it, before, after, previousGoldenAfter, lr, add);
      previousGoldenAfter = it.paramsAfterSampled;
      compareBatchNorm(g, it, model, startTracked, add);
      if (it.adam) compareAdam(g, it, optimizer, add);
    }
  } finally {
    model.params.dispose();
    model.batchNorm.dispose();
    optimizer.dispose();
    tf.dispose([batch.images, batch.targets, batch.recipe.title, batch.recipe.ingredients, batch.recipe.instructions]);
    dictionary?.dispose();
  }
}

type Add = (group: string, item: string, error: number, tolerance: number) => void;

function compareLosses(g: StageGoldens, it: IterationGoldens, ours: Map<string, number>, add: Add): void {
  const spread = it.iteration === 1 ? 0 : hintMax(g.hints.files_max_abs_diff[`iter${it.iteration}/losses.f32.bin`]);
  for (const [name, value] of it.losses) {
    const got = ours.get(name);
    const tol = value === 0 ? 0 : LOSS_REL * Math.abs(value) + HINT_FACTOR * spread;
    // Report relative errors (the bar is relative); an exact zero must stay exactly zero.
    const error = got === undefined ? Infinity : value === 0 ? Math.abs(got) : Math.abs(got - value) / Math.abs(value);
    add(`iter${it.iteration} losses`, name, error, value === 0 ? 0 : tol / Math.abs(value));
  }
}

function compareGrads(g: StageGoldens, it: IterationGoldens, grads: Map<string, tf.Tensor>, kinked: ReadonlySet<string>, add: Add): void {
  const k = it.iteration;
  const hints = k === 1 ? g.hints.grad_iter1 : g.hints.grad_iter2;
  for (const p of g.params) {
    const t = grads.get(p.name);
    const values = t ? (t.dataSync() as Float32Array) : new Float32Array(p.numel);
    if (k === 1 && p.zero_grad_iter1) {
      add(`iter1 gradients (exact zeros)`, p.name, maxAbs(values), 0);
      continue;
    }
    const golden = it.gradsLayout === 'full'
      ? it.grads.subarray(p.full_offset!, p.full_offset! + p.numel)
      : it.grads.subarray(p.offset, p.offset + p.count);
    const mine = it.gradsLayout === 'full' ? values : sampled(values, p);
    const tol = HINT_FACTOR * hintMax(hints.relative_l2_diff[p.index]) + (kinked.has(p.name) ? KINK_FLOOR : GRAD_FLOOR);
    const group = p.name.startsWith('backbone.') ? 'backbone' : 'heads';
    add(`iter${k} gradients ${group} (rel L2)`, p.name, t ? relL2(mine, golden) : Infinity, tol);
    if (k > 1) {
      // Full-tensor norm from param_stats.json (the sampled layout leaves elements out).
      const [, norm] = sumAndNorm(values);
      const goldenNorm = Math.sqrt(it.stats.grad[p.index][1]);
      add(`iter${k} gradient norms ${group} (rel)`, p.name, goldenNorm > 0 ? Math.abs(norm - goldenNorm) / goldenNorm : norm, tol);
    }
  }
}

function compareUpdates(
  g: StageGoldens, it: IterationGoldens, before: Map<string, Float32Array>, after: Map<string, Float32Array>,
  previousGoldenAfter: Float32Array | undefined, lr: number, add: Add,
): void {
  const k = it.iteration;
  for (const p of g.params) {
    const b = before.get(p.name)!;
    const a = after.get(p.name)!;
    const ourUpdate = new Float64Array(p.numel);
    for (let i = 0; i < p.numel; i++) ourUpdate[i] = a[i] - b[i];
    // Elementwise on the sampled elements: the golden's own before is the checkpoint (step 1) or its previous after.
    const goldenAfter = it.paramsAfterSampled.subarray(p.offset, p.offset + p.count);
    const goldenBefore = previousGoldenAfter ? previousGoldenAfter.subarray(p.offset, p.offset + p.count) : sampled(b, p);
    let worst = 0;
    for (let j = 0; j < p.count; j++) {
      const d = Math.abs(ourUpdate[j * p.stride] - (goldenAfter[j] - goldenBefore[j]));
      worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
    }
    add(`iter${k} updates per element (abs)`, p.name, worst, UPDATE_LR_FACTOR * lr);
    // Full tensors: sum and L2 norm of the update against param_stats.json.
    const [sum, norm] = sumAndNorm(ourUpdate);
    const [gSum, gSq] = it.stats.update[p.index];
    const gNorm = Math.sqrt(gSq);
    // Step 1: a sign flip moves an element by 2 lr; allow flips in 1% of the elements (at least one).
    // Later steps inherit step-1 differences in every element, of either sign: they add up like sqrt(n).
    const budget = k === 1 ? Math.max(1, 0.01 * p.numel) : Math.sqrt(p.numel);
    add(`iter${k} update sums (abs)`, p.name, Math.abs(sum - gSum), UPDATE_LR_FACTOR * lr * budget);
    // |norm(a) - norm(b)| <= norm(a - b): the same budget, as an L2 length.
    add(`iter${k} update norms (abs)`, p.name, Math.abs(norm - gNorm), UPDATE_LR_FACTOR * lr * Math.sqrt(budget));
  }
}

function compareBatchNorm(g: StageGoldens, it: IterationGoldens, model: FineTuneModel, start: Map<string, bigint>, add: Add): void {
  const k = it.iteration;
  const spread = hintMax(g.hints.files_max_abs_diff[`iter${k}/bn_running.f32.bin`]);
  for (const layer of g.batchNorm) {
    const mean = model.batchNorm.runningMean.get(layer.name);
    const variance = model.batchNorm.runningVar.get(layer.name);
    if (!mean || !variance) {
      add(`iter${k} BatchNorm running stats`, layer.name, Infinity, 0);
      continue;
    }
    for (const [what, ours, offset] of [['mean', mean, layer.running_mean_offset], ['var', variance, layer.running_var_offset]] as const) {
      const golden = it.bnRunning.subarray(offset, offset + layer.channels);
      add(`iter${k} BatchNorm running stats`, `${layer.name} running_${what}`, maxAbsDiff(ours.dataSync(), golden), BN_REL * maxAbs(golden) + HINT_FACTOR * spread);
    }
    const expected = it.bnTracked[layer.num_batches_tracked_index];
    const got = model.batchNorm.batchesTracked.get(layer.name)!;
    add(`iter${k} num_batches_tracked (exact)`, layer.name, got === expected ? 0 : Math.abs(Number(got - expected)), 0);
    void start;
  }
}

function compareAdam(g: StageGoldens, it: IterationGoldens, optimizer: AdamW, add: Add): void {
  const state = optimizer.state();
  for (const entry of it.adam!.params) {
    const p = g.params.find((q) => q.name === entry.name);
    const tol = HINT_FACTOR * Math.max(hintMax(p ? g.hints.grad_iter1.relative_l2_diff[p.index] : undefined),
      hintMax(p ? g.hints.grad_iter2.relative_l2_diff[p.index] : undefined)) + GRAD_FLOOR;
    const m = state.expAvg.get(entry.name);
    const v = state.expAvgSq.get(entry.name);
    const gm = it.adam!.values.subarray(entry.exp_avg_offset, entry.exp_avg_offset + entry.numel);
    const gv = it.adam!.values.subarray(entry.exp_avg_sq_offset, entry.exp_avg_sq_offset + entry.numel);
    add(`iter${it.iteration} AdamW state`, `${entry.name} exp_avg`, m ? relL2(m.dataSync(), gm) : Infinity, tol);
    add(`iter${it.iteration} AdamW state`, `${entry.name} exp_avg_sq`, v ? relL2(v.dataSync(), gv) : Infinity, 2 * tol);
    add(`iter${it.iteration} AdamW state`, `${entry.name} step`, Math.abs((state.steps.get(entry.name) ?? 0) - entry.step), 0);
  }
}

function disposeAll(value: unknown): void {
  if (value instanceof tf.Tensor) {
    if (!value.isDisposed) value.dispose();
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) disposeAll(v);
  }
}

export function summarise(checks: readonly Check[]): GroupSummary[] {
  const groups = new Map<string, GroupSummary>();
  for (const c of checks) {
    const ratio = c.error === 0 ? 0 : c.tolerance > 0 ? c.error / c.tolerance : Infinity;
    const s = groups.get(c.group);
    if (!s) {
      groups.set(c.group, { group: c.group, checks: 1, worstItem: c.item, worstError: c.error, tolerance: c.tolerance, ratio, pass: ratio <= 1 });
      continue;
    }
    s.checks++;
    if (ratio > s.ratio || (ratio === s.ratio && c.error > s.worstError)) {
      Object.assign(s, { worstItem: c.item, worstError: c.error, tolerance: c.tolerance, ratio });
    }
    s.pass = s.pass && ratio <= 1;
  }
  return [...groups.values()];
}

export async function verifyTrainStep(goldensDir: string, log: (line: string) => void = () => {}): Promise<VerifyReport> {
  const started = performance.now();
  const stages = readTrainStepGoldens(goldensDir);
  const checks: Check[] = [];
  const kinks: GateKink[] = [];
  for (const stage of stages) await verifyStage(stage, checks, kinks, log);
  const groups = summarise(checks);
  const failures = checks.filter((c) => !(c.error === 0 || (c.tolerance > 0 && c.error <= c.tolerance)));
  return {
    goldens: goldensDir, backend: tf.getBackend(), seconds: (performance.now() - started) / 1000,
    pass: failures.length === 0, groups, failures, checks, kinks,
  };
}

/** The text report: one line per group with its worst item, then the gates judged as kinks and the failures. */
export function formatTrainStepReport(report: VerifyReport): string {
  const lines = [`verify-train-step ${report.goldens} on backend ${report.backend} (${report.seconds.toFixed(1)} s)`];
  const width = Math.max(...report.groups.map((g) => g.group.length));
  for (const g of report.groups) {
    lines.push(`${g.pass ? 'ok  ' : 'FAIL'} ${g.group.padEnd(width)}  worst ${g.worstError.toExponential(2)} (tolerance ${g.tolerance.toExponential(2)}, ${g.checks} checked) ${g.worstItem}`);
  }
  for (const k of report.kinks) {
    lines.push(`note: ${k.stage} iteration ${k.iteration}: ReLU gate of ${k.gate} within ${k.margin.toExponential(1)} of 0 (our forward error ${k.forwardRelError.toExponential(1)}): ${k.affected} upstream gradients judged with the kink floor ${KINK_FLOOR}`);
  }
  for (const f of report.failures.slice(0, 20)) {
    lines.push(`out of tolerance: ${f.group}: ${f.item}: ${f.error.toExponential(3)} > ${f.tolerance.toExponential(3)}`);
  }
  if (report.failures.length > 20) lines.push(`... ${report.failures.length - 20} more`);
  lines.push(report.pass ? 'PASS: every number within tolerance' : `FAIL: ${report.failures.length} check(s) out of tolerance`);
  return lines.join('\n');
}
