import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { modelParamSpecs } from '../src/model/param-spec.js';
import { ParamStore } from '../src/model/param-store.js';
import { activateBackend } from '../src/cli/backend-setup.js';
import { loadCheckpoint } from '../src/model-format/checkpoint.js';
import { planEpoch } from '../src/train/epoch-plan.js';
import { learningRateAt } from '../src/train/hyperparameters.js';
import { readEpochMetrics, type EpochMetrics } from '../src/train/metrics-log.js';
import { readRunInfo, runPaths } from '../src/train/run-files.js';
import { resumeRun, startRun, type PreparedRun, type TrainStageOptions } from '../src/train/run-setup.js';
import { trainEpochs } from '../src/train/trainer.js';
import { isBetter } from '../src/train/validation.js';
import { renderCurves } from '../src/train/curves-svg.js';
import { parseArgs } from 'node:util';
import type { ParsedArgs } from '../src/cli/command.js';
import { COMMON_OPTIONS, parseArgsOptions } from '../src/cli/options.js';
import { commands } from '../src/cli/registry.js';
import { UserError } from '../src/util/errors.js';
import { runCli } from './helpers/cli.js';
import { makeSyntheticDataset, type SyntheticDataset } from './helpers/synthetic-dataset.js';

let data: SyntheticDataset;
let work: string;

before(async () => {
  data = await makeSyntheticDataset();
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-runs-'));
  await activateBackend('wasm', () => {});
});

after(async () => {
  await fs.rm(data.root, { recursive: true, force: true });
  await fs.rm(work, { recursive: true, force: true });
});

function baselineArgs(out: string, extra: string[] = []): string[] {
  return [
    'train', '--stage', 'baseline', data.root, '--out', out, '--preset', 'tiny', '--build-vocab', '--min-count', '1',
    '--batch', '4', '--backend', 'wasm', '--seed', '3', ...extra,
  ];
}

async function paramsOf(dir: string): Promise<Map<string, Float32Array>> {
  const loaded = await loadCheckpoint(dir, ['params']);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of loaded.groups.get('params')!) {
    out.set(name, t.dataSync() as Float32Array);
    t.dispose();
  }
  return out;
}

// ---------- units ----------

test('planEpoch: same (seed, epoch) -> same batches; every pair once; a final single-pair batch is dropped', () => {
  const a = planEpoch(5, 3, 10, 2, 3);
  assert.deepEqual(planEpoch(5, 3, 10, 2, 3), a);
  assert.notDeepEqual(planEpoch(5, 4, 10, 2, 3), a, 'another epoch shuffles differently');
  // 10 pairs in batches of 3: 3+3+3+1, the lone last pair dropped.
  assert.deepEqual(a.map((b) => b.length), [3, 3, 3]);
  const pairs = a.flat().map((e) => e.pair);
  assert.equal(new Set(pairs).size, 9);
  assert.ok(a.flat().every((e) => e.view >= 1 && e.view <= 2));
  assert.ok(planEpoch(5, 3, 10, 0, 4).flat().every((e) => e.view === 0), 'no augmented views: view 0');
  assert.deepEqual(planEpoch(1, 0, 9, 0, 4).map((b) => b.length), [4, 4], '9 = 4+4+1');
  assert.deepEqual(planEpoch(1, 0, 10, 0, 4).map((b) => b.length), [4, 4, 2]);
});

test('learning rate: x0.1 every lrStep epochs (epoch counted from 0)', () => {
  const h = { learningRate: 1e-4, lrStep: 30, lrGamma: 0.1 };
  assert.equal(learningRateAt(h, 0), 1e-4);
  assert.equal(learningRateAt(h, 29), 1e-4);
  assert.ok(Math.abs(learningRateAt(h, 30) - 1e-5) < 1e-20);
  assert.ok(Math.abs(learningRateAt(h, 99) - 1e-7) < 1e-20);
});

test('selection: R@1 first, then R@5, R@10, lower medR; debiased metrics when present; a tie keeps the earlier epoch', () => {
  const m = (r1: number, r5: number, r10: number, medR: number) => ({ medR, r1, r5, r10 });
  const val = (i2r: ReturnType<typeof m>, debiased?: ReturnType<typeof m>) => ({
    pairs: 10, n: 10, runs: 1, imageToRecipe: i2r, recipeToImage: m(0, 0, 0, 9), selection: 0,
    debiased: debiased ? { imageToRecipe: debiased, recipeToImage: m(0, 0, 0, 9) } : undefined,
  });
  assert.equal(isBetter(val(m(20, 50, 60, 4)), undefined), true);
  assert.equal(isBetter(val(m(30, 10, 10, 9)), val(m(20, 50, 60, 4))), true);
  assert.equal(isBetter(val(m(20, 60, 60, 4)), val(m(20, 50, 60, 4))), true);
  assert.equal(isBetter(val(m(20, 50, 70, 4)), val(m(20, 50, 60, 4))), true);
  assert.equal(isBetter(val(m(20, 50, 60, 3)), val(m(20, 50, 60, 4))), true);
  assert.equal(isBetter(val(m(20, 50, 60, 4)), val(m(20, 50, 60, 4))), false);
  // Stage 2 selects on ẽ_I even when e_I is better.
  assert.equal(isBetter(val(m(90, 90, 90, 1), m(10, 10, 10, 5)), val(m(0, 0, 0, 9), m(20, 20, 20, 5))), false);
  // rsum: R@1+R@5+R@10 of both directions (recipe->image is 0,0,0 here), so a lucky R@1 loses to broad gains.
  assert.equal(isBetter(val(m(10, 60, 80, 4)), val(m(30, 30, 40, 4)), 'rsum'), true);
  assert.equal(isBetter(val(m(10, 60, 80, 4)), val(m(30, 30, 40, 4)), 'r1'), false);
  assert.equal(isBetter(val(m(20, 50, 60, 4)), val(m(10, 60, 60, 4)), 'rsum'), true, 'equal rsum: higher R@1');
  assert.equal(isBetter(val(m(20, 50, 60, 4)), val(m(20, 50, 60, 4)), 'rsum'), false);
});

test('curves.svg: two panels, one point per epoch and series, valid XML characters', () => {
  const epoch = (e: number, loss: number, r1: number): EpochMetrics => ({
    epoch: e, step: e * 3, lr: 1e-3, loss: { total: loss, retrieval: loss / 2, recipe: loss / 2 },
    val: { pairs: 5, n: 5, runs: 1, imageToRecipe: { medR: 2, r1, r5: 60, r10: 100 }, recipeToImage: { medR: 2, r1: 20, r5: 60, r10: 100 }, selection: r1 },
    best: true, seconds: { train: 1, val: 0.1, total: 1.1 },
  });
  const svg = renderCurves([epoch(1, 1.2, 20), epoch(2, 0.8, 40), epoch(3, 0.5, 60)], 'baseline <tiny>');
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((svg.match(/<polyline /g) ?? []).length, 5, '3 loss series + 2 recall series');
  assert.equal((svg.match(/<circle /g) ?? []).length, 15);
  assert.match(svg, /baseline &lt;tiny&gt;/);
  assert.doesNotMatch(svg, /NaN/);
});

// ---------- stage 1 from the CLI ----------

test('train --stage baseline: 2 epochs write run.json, metrics.jsonl (2 lines), curves.svg, last/ and best/', async () => {
  const out = path.join(work, 'base');
  const run = runCli([...baselineArgs(out), '--epochs', '2', '--json']);
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  assert.equal(result.epochsDone, 2);
  assert.match(run.stderr, /epoch 1\/2 step 1\/3 loss \d+\.\d{4} .*ETA/, 'a progress line per batch');

  const info = await readRunInfo(out);
  assert.equal(info.stage, 'baseline');
  assert.equal(info.preset, 'tiny');
  assert.equal(info.trainPairs, 10);
  assert.equal(info.valPairs, 6);
  assert.equal(info.views, 2);
  assert.equal(info.config.backboneChannels, 2048, 'channels come from the feature cache');
  assert.equal(info.labels.count, 8);
  assert.equal(info.hyperparameters.batchSize, 4);
  assert.equal(info.epochsDone, 2);
  assert.ok(info.bestEpoch === 1 || info.bestEpoch === 2);
  assert.match(info.vocab.sha256, /^[0-9a-f]{64}$/);

  const metrics = await readEpochMetrics(runPaths(out).metrics);
  assert.deepEqual(metrics.map((m) => m.epoch), [1, 2]);
  assert.deepEqual(metrics.map((m) => m.step), [3, 6], '10 pairs at batch 4: 4+4+2');
  for (const m of metrics) {
    assert.ok(m.loss.total > 0 && Number.isFinite(m.loss.total));
    assert.ok(m.loss.retrieval !== undefined && m.loss.recipe !== undefined && m.loss.classification === undefined);
    assert.equal(m.val.n, 6, 'val has fewer than 1000 pairs: all of them, once');
    assert.equal(m.val.selection, m.val.imageToRecipe.r1);
    assert.equal(m.lr, 1e-3);
  }
  assert.equal(metrics.filter((m) => m.best).length >= 1, true);
  const svg = await fs.readFile(runPaths(out).curves, 'utf8');
  assert.match(svg, /<svg/);

  const best = await loadCheckpoint(runPaths(out).best);
  assert.equal((best.manifest.meta as { epoch: number }).epoch, info.bestEpoch);
  assert.deepEqual([...best.groups.keys()], ['params'], 'best/ holds weights only');
  const last = await loadCheckpoint(runPaths(out).last);
  assert.deepEqual([...last.groups.keys()].sort(), ['adam.m', 'adam.v', 'params']);
  for (const g of [...best.groups.values(), ...last.groups.values()]) for (const t of g.values()) t.dispose();
  await fs.access(runPaths(out).vocab);
  assert.equal(JSON.parse(await fs.readFile(runPaths(out).labels, 'utf8')).labels.length, 8);
});

function inProcessOptions(out: string, epochs: number): TrainStageOptions {
  return {
    stage: 'baseline', root: data.root, out, preset: 'tiny', buildVocabMinCount: 1, hyper: { epochs, batchSize: 4 },
    seed: 3, backendName: 'wasm', resume: false, log: () => {},
  };
}

async function trainInProcess(prepared: PreparedRun): Promise<void> {
  try {
    await trainEpochs(prepared, { log: () => {} });
  } finally {
    prepared.dispose();
  }
}

test('--resume after 1 epoch ends with exactly the weights and losses of an uninterrupted 2-epoch run', async () => {
  const whole = path.join(work, 'whole');
  const split = path.join(work, 'split');
  await trainInProcess(await startRun(inProcessOptions(whole, 2)));
  await trainInProcess(await startRun(inProcessOptions(split, 1)));
  const lines: string[] = [];
  await trainInProcess(await resumeRun(split, 2, (line) => lines.push(line)));
  assert.ok(lines.some((l) => /resuming .* after epoch 1 \(step 3\)/.test(l)), lines.join('\n'));

  const a = await paramsOf(runPaths(whole).last);
  const b = await paramsOf(runPaths(split).last);
  assert.deepEqual([...a.keys()], [...b.keys()]);
  let maxDiff = 0;
  for (const [name, values] of a) {
    const other = b.get(name)!;
    for (let i = 0; i < values.length; i++) maxDiff = Math.max(maxDiff, Math.abs(values[i] - other[i]));
  }
  assert.equal(maxDiff, 0, 'bit-identical weights');
  const ma = await readEpochMetrics(runPaths(whole).metrics);
  const mb = await readEpochMetrics(runPaths(split).metrics);
  assert.deepEqual(mb.map((m) => m.loss), ma.map((m) => m.loss));
  assert.deepEqual(mb.map((m) => m.val.imageToRecipe), ma.map((m) => m.val.imageToRecipe));
  assert.equal((await readRunInfo(split)).epochsDone, 2);
  // And the weights did move from their initial values: training is not a no-op.
  const info = await readRunInfo(whole);
  const initial = ParamStore.initialise(modelParamSpecs(info.config, { debias: false }), info.seed);
  assert.notDeepEqual(initial.get('img_fc.weight').dataSync(), a.get('img_fc.weight'));
  initial.dispose();
});

test('train --stage debias starts from the stage-1 best weights, adds Wv, loads D, and trains with L_cls', async () => {
  const stage1 = path.join(work, 'base');
  const dict = runCli(['dictionary', '--run', stage1, data.root, '--backend', 'wasm']);
  assert.equal(dict.status, 0, dict.stderr);
  const out = path.join(work, 'debias');
  const prepared = await startRun({
    stage: 'debias', root: data.root, out, preset: 'tiny', init: stage1, hyper: { epochs: 1, batchSize: 4 },
    seed: 3, backendName: 'wasm', resume: false, log: () => {},
  });
  try {
    const stage1Params = await paramsOf(runPaths(stage1).best);
    for (const name of ['img_fc.weight', 'text_encoder.word_embedding.weight', 'transformer.decoder.layers.0.multihead_attn.in_proj_weight']) {
      assert.deepEqual(prepared.params.get(name).dataSync(), stage1Params.get(name), `${name} is stage 1's`);
    }
    assert.equal(prepared.params.names().length, stage1Params.size + 2, 'exactly Wv.weight and Wv.bias added');
    assert.deepEqual(prepared.params.get('Wv.weight').shape, [prepared.config.embeddingDim, prepared.config.recipe.width]);
    assert.deepEqual(prepared.dictionary?.shape, [8, prepared.config.recipe.width]);
    assert.equal(prepared.info.hyperparameters.classificationWeight, 0.001);
    assert.equal(prepared.info.hyperparameters.learningRate, 1e-3, 'defaults of the init run\'s preset');
    assert.equal(prepared.trainLabels?.length, 10);
    await trainEpochs(prepared, { log: () => {} });
  } finally {
    prepared.dispose();
  }
  const metrics = await readEpochMetrics(runPaths(out).metrics);
  assert.equal(metrics.length, 1);
  assert.ok(metrics[0].loss.classification! > 0, 'the ingredient loss is trained');
  assert.ok(metrics[0].val.debiased, 'validation ranks ẽ_I');
  assert.equal(metrics[0].val.selection, metrics[0].val.debiased!.imageToRecipe.r1);
  const best = await paramsOf(runPaths(out).best);
  assert.ok(best.has('Wv.weight') && best.has('Wv.bias'));
  await fs.access(path.join(runPaths(out).dictionary, 'checkpoint.json'));
});

// ---------- errors ----------

/** Run a command as main() would, minus the process: parse flags, run, return the error message. */
async function commandError(argv: string[]): Promise<string> {
  const [name, ...rest] = argv;
  const cmd = commands.find((c) => c.name === name)!;
  const parsed = parseArgs({ args: rest, options: parseArgsOptions({ ...cmd.options, ...COMMON_OPTIONS }), allowPositionals: true, strict: true });
  try {
    await cmd.run({ values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals }, { json: false, log: () => {} });
  } catch (err) {
    assert.ok(err instanceof UserError, `${argv.join(' ')}: ${(err as Error).stack}`);
    return err.message;
  }
  assert.fail(`${argv.join(' ')} did not fail`);
}

test('bad inputs are UserErrors naming the cause and the fix', async () => {
  const emptyDir = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-empty-'));
  try {
    const cases: Array<[string[], RegExp]> = [
      [baselineArgs(path.join(work, 'e1'), ['--cache', path.join(emptyDir, 'nocache')]), /no feature cache for split train view 0 \(run: recipe-retrieval features/],
      [baselineArgs(path.join(work, 'e2'), ['--labels-dir', emptyDir]), /no ing2label_topk\*\.pkl label file \(run: recipe-retrieval prepare-labels/],
      [['train', '--stage', 'baseline', data.root, '--out', path.join(work, 'e3'), '--preset', 'huge'], /unknown model preset "huge"/],
      [['train', '--stage', 'middle', data.root, '--out', path.join(work, 'e4')], /--stage must be baseline or debias/],
      [['train', '--stage', 'baseline', data.root, '--out', path.join(work, 'base'), '--preset', 'tiny'], /already holds a run \(use --resume/],
      [['train', '--stage', 'debias', data.root, '--out', path.join(work, 'e5'), '--init', path.join(work, 'whole')], /no ingredient dictionary \(run: recipe-retrieval dictionary/],
      [['train', '--stage', 'baseline', data.root, '--out', path.join(work, 'base'), '--resume', '--lr', '1'], /--resume takes its settings from run\.json; drop --lr/],
      [baselineArgs(path.join(work, 'e6'), ['--views', '5']), /no augmented view 3 of train/],
      [baselineArgs(path.join(work, 'e7'), ['--lr=-1']), /--lr must be a positive number/],
      [['dictionary', '--run', path.join(work, 'nope'), data.root], /model folder not found/],
    ];
    for (const [args, pattern] of cases) assert.match(await commandError(args), pattern, args.join(' '));
  } finally {
    await fs.rm(emptyDir, { recursive: true, force: true });
  }
});

test('the CLI prints such an error as one line and exits non-zero', () => {
  const run = runCli(['train', '--stage', 'baseline', data.root, '--out', path.join(work, 'e8'), '--preset', 'tiny', '--labels-dir', work]);
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^(mode: frozen-feature .*\n)?(tfjs backend: .*\n)?recipe-retrieval train: .*no ing2label_topk\*\.pkl label file .*\n$/);
  assert.equal(run.stdout, '');
});
