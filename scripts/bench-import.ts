/**
 * import-checkpoint's time and peak memory; writes bench-results/import.json.
 * Usage: node dist/scripts/bench-import.js [--skip-paper] [--keep] [--tmp DIR] [--dictionary-vectors N]
 *
 * Cases: the seed goldens' small stage-1 and stage-2 checkpoints, and a generated checkpoint with
 * the paper configuration's shapes (test/fixtures/seed-goldens/paper/keys.json, stage 2: ~890 MB of
 * weights) plus a full AdamW state (exp_avg and exp_avg_sq for every trainable parameter, as the
 * real files hold), ~2.7 GB on disk. Each import runs in its own child process so its peak RSS
 * (getrusage maxrss) is its own; a child that only loads the modules gives the baseline.
 * --skip-paper (or too little free disk) leaves the big case out.
 */
import { spawnSync } from 'node:child_process';
import { promises as fs, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writePickleFile } from '../src/data/pickle/pickle.js';
import { importSeedCheckpoint } from '../src/import/import-checkpoint.js';
import { picklePython, PyFloat, PyTuple, pyNumpyFloat32, pyNumpyFloat64, pyOrderedDict, type PyValue } from '../src/data/pickle/python-pickler.js';
import { TorchCheckpointWriter } from '../src/import/torch-zip-writer.js';
import { sinePositionValues } from '../src/model/sine-position.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';

interface KeyEntry {
  key: string;
  shape: number[];
  dtype: 'float32' | 'int64';
}
interface PaperKeys {
  stage2: { keys: KeyEntry[]; 'optimizer_param_order (index -> name; parameters with requires_grad)': string[] };
}

interface ChildRequest {
  kind: 'import' | 'baseline' | 'run-onnx';
  checkpoint?: string;
  dictionary?: string;
  vocab?: string;
  labels?: string;
  outDir?: string;
}

interface ChildResult {
  seconds?: number;
  maxRssMB: number;
  outputs?: Record<string, unknown>;
}

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
const MB = 1024 * 1024;

/**
 * This process's peak RSS. Linux keeps getrusage's ru_maxrss across execve, so a child spawned by
 * a parent that had grown (generating the 2.7 GB file) would report the parent's peak; VmHWM
 * belongs to the new address space and starts afresh.
 */
async function peakRssMB(): Promise<number> {
  const status = await fs.readFile('/proc/self/status', 'utf8').catch(() => '');
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return hwm ? Number(hwm[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** Child side: do one thing, print a JSON line with its time and the process's peak RSS. */
async function child(req: ChildRequest): Promise<void> {
  const started = performance.now();
  let outputs: Record<string, unknown> | undefined;
  if (req.kind === 'import') {
    await importSeedCheckpoint({ checkpoint: req.checkpoint!, dictionary: req.dictionary, vocab: req.vocab!, labels: req.labels!, outDir: req.outDir! });
  } else if (req.kind === 'run-onnx') {
    outputs = await runPaperOnnx(req.outDir!);
  }
  const result: ChildResult = { seconds: (performance.now() - started) / 1000, maxRssMB: await peakRssMB(), outputs };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** One image and one recipe through the imported paper-size graphs: are they valid, finite, fast enough? */
async function runPaperOnnx(dir: string): Promise<Record<string, unknown>> {
  const ort = await import('onnxruntime-node');
  const t0 = performance.now();
  const image = await ort.InferenceSession.create(path.join(dir, 'image_encoder.onnx'), { executionProviders: ['cpu'] });
  const recipe = await ort.InferenceSession.create(path.join(dir, 'recipe_encoder.onnx'), { executionProviders: ['cpu'] });
  const loadSeconds = (performance.now() - t0) / 1000;
  const crop = Uint8Array.from({ length: 224 * 224 * 3 }, (_, i) => (i * 31) % 256);
  const t1 = performance.now();
  const o = await image.run({ image: new ort.Tensor('uint8', crop, [1, 224, 224, 3]) });
  const imageSeconds = (performance.now() - t1) / 1000;
  const ids = (dims: number[]): InstanceType<typeof ort.Tensor> => new ort.Tensor('int64', BigInt64Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => BigInt(1 + (i % 50))), dims);
  const r = await recipe.run({ title: ids([1, 8]), ingredients: ids([1, 6, 9]), instructions: ids([1, 5, 12]) });
  const finite = (t: { data: unknown }): boolean => (t.data as Float32Array).every(Number.isFinite);
  return {
    sessionLoadSeconds: round(loadSeconds),
    imageBatch1Seconds: round(imageSeconds),
    dims: { embedding: o.embedding.dims, logits: o.ingredient_logits.dims, debiased: o.debiased_embedding.dims, recipe: r.embedding.dims },
    allFinite: finite(o.embedding) && finite(o.ingredient_logits) && finite(o.debiased_embedding) && finite(r.embedding),
  };
}

function runChild(req: ChildRequest): ChildResult {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', JSON.stringify(req)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (res.status !== 0) throw new Error(`child ${req.kind} failed (${res.status}): ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as ChildResult;
}

/** xorshift32 values in [-scale, scale): cheap, deterministic filler (import cost does not depend on values). */
function filler(seed: number, scale: number, offset = 0): (out: Float32Array | BigInt64Array) => void {
  let s = seed >>> 0 || 1;
  return (out) => {
    const f = out as Float32Array;
    for (let i = 0; i < f.length; i++) {
      s ^= s << 13; s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5; s >>>= 0;
      f[i] = offset + (s / 2 ** 32 - 0.5) * 2 * scale;
    }
  };
}

/** A stage-2 checkpoint of the paper's shapes with a full AdamW state, written the way the seed's scripts do. */
function writePaperCheckpoint(file: string, keys: PaperKeys): { bytes: number; modelBytes: number } {
  const w = new TorchCheckpointWriter(file, { folder: 'model_best.pth', location: 'cuda:0' });
  const entries = keys.stage2.keys;
  let modelBytes = 0;
  let seed = 1;
  const items: Array<[PyValue, PyValue]> = entries.map((e) => {
    const n = e.shape.reduce((a, b) => a * b, 1);
    modelBytes += n * (e.dtype === 'int64' ? 8 : 4);
    if (e.dtype === 'int64') return [e.key, w.tensorOf(BigInt64Array.of(4294967303n), e.shape)];
    if (e.key.endsWith('.pe')) {
      // The sine map the importer checks, stored [1, C, 7, 7] as the seed keeps it.
      const c = e.shape[1];
      const ours = sinePositionValues(7, 7, c);
      const nchw = new Float32Array(c * 49);
      for (let p = 0; p < 49; p++) for (let ch = 0; ch < c; ch++) nchw[ch * 49 + p] = ours[p * c + ch];
      return [e.key, w.tensorOf(nchw, e.shape)];
    }
    const positive = e.key.endsWith('running_var');
    const fill = filler(seed++, positive ? 0.1 : 0.02, positive ? 1 : 0);
    return [e.key, w.tensor('float32', e.shape, (out) => fill(out))];
  });
  const byKey = new Map(entries.map((e) => [e.key, e]));
  const order = keys.stage2['optimizer_param_order (index -> name; parameters with requires_grad)'];
  const state = new Map<PyValue, PyValue>(order.map((name, i) => {
    const shape = byKey.get(name)!.shape;
    const moment = (scale: number): PyValue => { const fill = filler(seed++, scale); return w.tensor('float32', shape, (out) => fill(out)); };
    return [i, new Map<PyValue, PyValue>([['step', w.tensorOf(Float32Array.of(5000), [])], ['exp_avg', moment(1e-3)], ['exp_avg_sq', moment(1e-6)]])];
  }));
  const group = new Map<PyValue, PyValue>([
    ['lr', new PyFloat(1e-5)], ['betas', new PyTuple([new PyFloat(0.9), new PyFloat(0.999)])], ['eps', new PyFloat(1e-8)],
    ['weight_decay', new PyFloat(0.01)], ['amsgrad', false], ['foreach', null], ['maximize', false], ['capturable', false],
    ['initial_lr', new PyFloat(1e-4)], ['params', order.map((_, i) => i)],
  ]);
  const root = new Map<PyValue, PyValue>([
    ['epoch', 56], ['arch', 'resnet50'], ['state_dict', pyOrderedDict(items, pyOrderedDict([['', new Map([['version', 1]])]]))],
    ['best_recall1', pyNumpyFloat64(0.6306)], ['optimizer', new Map<PyValue, PyValue>([['state', state], ['param_groups', [group]]])],
  ]);
  return { ...w.finish(root), modelBytes };
}

/**
 * vocab (16303 words), ing2label (500) and a dictionary of `perLabel` vectors of 512 per label for
 * the paper case (the real one holds every training line: millions; 300 per label is ~310 MB,
 * above the size where the importer streams it).
 */
async function writePaperSideFiles(dir: string, perLabel: number): Promise<{ vocab: string; labels: string; dictionary: string }> {
  const vocab = path.join(dir, 'vocab.pkl');
  const words = new Map<number, string>([[0, '<pad>'], [1, '<start>'], [2, '<end>']]);
  for (let i = 3; i < 16302; i++) words.set(i, `word${i}`);
  words.set(16302, '<unk>');
  await writePickleFile(vocab, words);
  const labels = path.join(dir, 'ing2label_topk500.pkl');
  await writePickleFile(labels, new Map(Array.from({ length: 500 }, (_, i) => [`ingredient ${i}`, i])));
  const dictionary = path.join(dir, 'ingredient_dict_textual.pkl');
  const fill = filler(99, 1);
  const vector = (): PyValue => { const v = new Float32Array(512); fill(v); return pyNumpyFloat32(v); };
  await fs.writeFile(dictionary, picklePython(new Map<PyValue, PyValue>(Array.from({ length: 500 }, (_, i) => [(i * 37) % 500, Array.from({ length: perLabel }, vector)]))));
  return { vocab, labels, dictionary };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { child: { type: 'string' }, 'skip-paper': { type: 'boolean' }, keep: { type: 'boolean' }, tmp: { type: 'string' }, 'dictionary-vectors': { type: 'string' } },
  });
  const perLabel = Number(values['dictionary-vectors'] ?? 300);
  if (values.child) return child(JSON.parse(values.child) as ChildRequest);

  const work = await fs.mkdtemp(path.join(values.tmp ?? os.tmpdir(), 'bench-import-'));
  const results: Record<string, unknown> = {};
  try {
    const golden = (...p: string[]): string => fromRoot('test/fixtures/seed-goldens/small', ...p);
    const vocab = path.join(work, 'vocab300.pkl');
    const labels = path.join(work, 'labels20.pkl');
    await writePickleFile(vocab, new Map<number, string>([[0, '<pad>'], [1, '<start>'], [2, '<end>'], ...Array.from({ length: 296 }, (_, i): [number, string] => [i + 3, `w${i + 3}`]), [299, '<unk>']]));
    await writePickleFile(labels, new Map(Array.from({ length: 20 }, (_, i) => [`ingredient ${i}`, i])));

    const baseline = runChild({ kind: 'baseline' });
    results.baseline = { maxRssMB: round(baseline.maxRssMB, 0), note: 'a child that only loads the import modules' };
    console.log(`baseline RSS ${baseline.maxRssMB.toFixed(0)} MB`);
    for (const stage of ['stage1', 'stage2']) {
      const checkpoint = golden(`${stage}.pth.tar`);
      const r = runChild({
        kind: 'import', checkpoint, vocab, labels, outDir: path.join(work, `small-${stage}`),
        ...(stage === 'stage2' ? { dictionary: golden('ingredient_dict_textual.pkl') } : {}),
      });
      results[`golden-${stage}`] = { fileMB: round((await fs.stat(checkpoint)).size / MB), seconds: round(r.seconds!), maxRssMB: round(r.maxRssMB, 0) };
      console.log(`golden ${stage}: ${r.seconds!.toFixed(2)} s, peak RSS ${r.maxRssMB.toFixed(0)} MB`);
    }

    const freeGB = (() => { const s = statfsSync(work); return (s.bavail * s.bsize) / 1e9; })();
    if (values['skip-paper'] || freeGB < 4.5) {
      results.paper = { skipped: values['skip-paper'] ? '--skip-paper' : `only ${freeGB.toFixed(1)} GB free in ${work} (needs ~4.5 GB)` };
    } else {
      const keys = JSON.parse(await fs.readFile(fromRoot('test/fixtures/seed-goldens/paper/keys.json'), 'utf8')) as PaperKeys;
      const checkpoint = path.join(work, 'model_best.pth.tar');
      let t0 = performance.now();
      const written = writePaperCheckpoint(checkpoint, keys);
      const side = await writePaperSideFiles(work, perLabel);
      console.log(`generated ${checkpoint}: ${(written.bytes / 1e9).toFixed(2)} GB (model ${(written.modelBytes / 1e9).toFixed(2)} GB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const outDir = path.join(work, 'paper-model');
      t0 = performance.now();
      const r = runChild({ kind: 'import', checkpoint, ...side, outDir });
      const outputs = Object.fromEntries(await Promise.all(['image_encoder.onnx', 'recipe_encoder.onnx'].map(async (f) => [f, round((await fs.stat(path.join(outDir, f))).size / MB)])));
      console.log(`paper import: ${r.seconds!.toFixed(1)} s, peak RSS ${r.maxRssMB.toFixed(0)} MB`);
      const run = runChild({ kind: 'run-onnx', outDir });
      results.paper = {
        fileMB: round(written.bytes / MB, 0),
        stateDictMB: round(written.modelBytes / MB, 0),
        dictionaryMB: round((await fs.stat(side.dictionary)).size / MB, 0),
        dictionaryVectors: 500 * perLabel,
        optimizerMomentsFor: `${keys.stage2['optimizer_param_order (index -> name; parameters with requires_grad)'].length} parameters`,
        seconds: round(r.seconds!, 1),
        maxRssMB: round(r.maxRssMB, 0),
        rssOverBaselineMB: round(r.maxRssMB - baseline.maxRssMB, 0),
        outputsMB: outputs,
        onnxCheck: { ...run.outputs, childMaxRssMB: round(run.maxRssMB, 0) },
        wallSecondsWithChildStart: round((performance.now() - t0) / 1000, 1),
      };
      console.log(`paper ONNX check: ${JSON.stringify(run.outputs)}`);
    }
    const report = {
      generatedAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, totalMemGB: round(os.totalmem() / 1e9, 1), node: process.version },
      metric: 'seconds of importSeedCheckpoint in a fresh child; maxRssMB = that child\'s peak resident set (VmHWM)',
      results,
    };
    await writeFileAtomic(fromRoot('bench-results', 'import.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${fromRoot('bench-results', 'import.json')}`);
  } finally {
    if (!values.keep) await fs.rm(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
}

await main();
