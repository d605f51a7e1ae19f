import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/tf/backend.js';
import { exportModel } from '../src/export/export-model.js';
import { buildImageHeadModel } from '../src/export/image-graph.js';
import { checkManifestFiles, readExportManifest } from '../src/model-format/manifest.js';
import { debiasSetup, exportParamsOf, paramStoreOf } from '../src/export/model-weights.js';
import { openSession, runImageHead } from '../src/export/onnx-run.js';
import { randomFeatureMaps } from '../src/export/verify-cases.js';
import { verifyExport, type VerifyReport } from '../src/export/verify.js';
import { disposeTrainedModel, loadTrainedModel } from '../src/export/trained-model.js';
import { PARITY_TOLERANCE } from '../src/export/parity.js';
import { UserError } from '../src/util/errors.js';
import { createTinyRun, TINY_LABELS } from './helpers/export-run.js';
import { runCli } from './helpers/cli.js';

await selectBackend('wasm');
const tmp = await mkdtemp(path.join(os.tmpdir(), 'export-test-'));
test.after(() => rm(tmp, { recursive: true, force: true }));

const sha256 = async (file: string): Promise<string> => createHash('sha256').update(await readFile(file)).digest('hex');

function assertParity(report: VerifyReport): void {
  assert.ok(report.rows.length > 0);
  for (const row of report.rows) {
    assert.ok(row.relError <= PARITY_TOLERANCE, `${row.model} ${row.case} batch ${row.batch} ${row.output}: ${row.relError}`);
    assert.ok(row.maxAbsRef > 0, `${row.model} ${row.case} ${row.output}: the reference is all zeros`);
  }
  for (const e of report.exact) assert.ok(e.passed, `${e.name}: ${e.detail}`);
  assert.equal(report.passed, true);
  // Both batch sizes ran through every graph the folder holds.
  for (const model of new Set(report.rows.map((r) => r.model))) {
    assert.deepEqual([...new Set(report.rows.filter((r) => r.model === model).map((r) => r.batch))].sort((a, b) => a - b), [1, 64], model);
  }
}

test('stage-1 run: head + recipe encoder export, manifest, and parity through verify-export (batch 1 and 64)', async () => {
  const run = path.join(tmp, 'stage1');
  const out = path.join(tmp, 'models', 'stage1');
  await createTinyRun(run);
  const summary = await exportModel({ runDir: run, outDir: out, image: 'head' });
  assert.equal(summary.debiasActive, false);
  assert.deepEqual(Object.keys(summary.files).sort(), ['image_head.onnx', 'labels.json', 'recipe_encoder.onnx', 'vocab.pkl']);

  const manifest = await readExportManifest(out);
  assert.equal(manifest.modelId, 'stage1');
  assert.equal(manifest.onnx.opset, 17);
  assert.equal(manifest.debias.active, false);
  assert.match(manifest.debias.reason, /debiased_embedding = embedding/);
  assert.equal(manifest.models.imageEncoder, undefined);
  assert.equal(manifest.embeddingDim, 24);
  assert.equal(manifest.vocabulary.sha256, await sha256(path.join(run, 'vocab.pkl')));
  assert.deepEqual(JSON.parse(await readFile(path.join(out, 'labels.json'), 'utf8')).labels, TINY_LABELS);
  for (const [name, rec] of Object.entries(manifest.files)) {
    assert.equal(rec.sha256, await sha256(path.join(out, name)), name);
    assert.equal(rec.bytes, (await stat(path.join(out, name))).size, name);
  }
  // The sessions' interface is the one the manifest documents.
  for (const graph of [manifest.models.imageHead!, manifest.models.recipeEncoder]) {
    const session = await openSession(path.join(out, graph.file));
    assert.deepEqual(session.inputNames, graph.inputs.map((i) => i.name));
    assert.deepEqual(session.outputNames, graph.outputs.map((o) => o.name));
    await session.release();
  }
  assert.deepEqual(manifest.models.recipeEncoder.inputs.map((i) => i.dtype), ['int64', 'int64', 'int64']);

  // The checkpoint folder itself names the same model.
  const viaBest = await loadTrainedModel(path.join(run, 'best'));
  assert.equal(viaBest.runDir, run);
  assert.equal(viaBest.checkpointSha256, manifest.source.checkpointSha256);
  disposeTrainedModel(viaBest);

  const report = await verifyExport({ modelDir: out, runDir: run, batchSizes: [1, 64] });
  assertParity(report);
  assert.equal(report.debiasActive, false);
  const cases = new Set(report.rows.map((r) => r.case));
  for (const c of ['real recipes', 'edge: no ingredient lines', 'edge: maximum lengths', 'edge: one-token title', 'edge: empty instruction line', 'random maps']) {
    assert.ok(cases.has(c), `case ${c} ran`);
  }
});

test('stage-2 run: debiased output is e_I + pi V, unchanged when no label is kept, parity in both regimes', async () => {
  const run = path.join(tmp, 'stage2');
  const out = path.join(tmp, 'models', 'stage2');
  await createTinyRun(run, { debias: true });
  const summary = await exportModel({ runDir: run, outDir: out, image: 'head' });
  assert.equal(summary.debiasActive, true);
  const manifest = await readExportManifest(out);
  assert.equal(manifest.debias.active, true);
  assert.equal(manifest.debias.keepThreshold, 0.5);

  const report = await verifyExport({ modelDir: out, runDir: run, batchSizes: [1, 64] });
  assertParity(report);
  const names = report.exact.map((e) => e.name).join('\n');
  assert.match(names, /no label kept.*debiased = embedding on every row/);
  assert.match(names, /labels 0\.\.2 kept.*shifted/);

  // Independent of TF.js: ẽ_I - e_I equals pi V from the ONNX logits and the run's Wv and D.
  const model = await loadTrainedModel(run);
  const store = paramStoreOf(model);
  const v = debiasSetup(model, store).projectedDictionary!;
  store.dispose();
  disposeTrainedModel(model);
  const session = await openSession(path.join(out, 'image_head.onnx'));
  const n = 8;
  const res = await runImageHead(session, randomFeatureMaps(n, 20, 5), n, 20);
  await session.release();
  const [k, e] = v.dims;
  let shifted = 0;
  for (let r = 0; r < n; r++) {
    const p = Array.from(res.logits.subarray(r * k, (r + 1) * k), (x) => 1 / (1 + Math.exp(-x)));
    const kept = p.map((x) => (x >= 0.5 ? x : 0));
    const total = kept.reduce((a, b) => a + b, 0);
    for (let j = 0; j < e; j++) {
      let z = 0;
      for (let c = 0; c < k; c++) z += total > 0 ? (kept[c] / total) * v.data[c * e + j] : 0;
      const got = res.debiased[r * e + j] - res.embedding[r * e + j];
      assert.ok(Math.abs(got - z) < 1e-5, `row ${r} col ${j}: ${got} vs ${z}`);
      if (z !== 0) shifted++;
    }
  }
  assert.ok(shifted > 0, 'some rows keep labels');
});

test('a stage-1 run carrying a dictionary but no Wv exports with debiasing off', async () => {
  const run = path.join(tmp, 'stage1-dict');
  await createTinyRun(run, { dictionary: true });
  const out = path.join(tmp, 'models', 'stage1-dict');
  const summary = await exportModel({ runDir: run, outDir: out, image: 'head' });
  assert.equal(summary.debiasActive, false);
  assert.match((await readExportManifest(out)).debias.reason, /no Wv projection/);
  const report = await verifyExport({ modelDir: out, runDir: run, batchSizes: [1, 64] });
  assertParity(report);
});

test('verify-export fails on a graph that differs from the run, and on files that differ from the manifest', async () => {
  const run = path.join(tmp, 'stage2');
  const out = path.join(tmp, 'models', 'tampered');
  await exportModel({ runDir: run, outDir: out, image: 'head' });
  // A head whose img_fc bias is off by 1e-3: a plausible exporter bug, far below anything visible by eye.
  const model = await loadTrainedModel(run);
  const bias = model.params.get('img_fc.bias')!.dataSync() as Float32Array;
  const wrong = new Map([['img_fc.bias', { data: bias.map((x) => x + 1e-3), dims: [bias.length] }]]);
  const store = paramStoreOf(model);
  const bytes = buildImageHeadModel(exportParamsOf(model, wrong), model.config, { projectedDictionary: debiasSetup(model, store).projectedDictionary });
  store.dispose();
  disposeTrainedModel(model);
  const headFile = path.join(out, 'image_head.onnx');
  await writeFile(headFile, bytes);
  await assert.rejects(verifyExport({ modelDir: out, runDir: run, batchSizes: [1] }), /image_head\.onnx: size or sha256 differs/);
  await assert.rejects(checkManifestFiles(out, await readExportManifest(out)), /image_head\.onnx/);

  const manifestFile = path.join(out, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
  manifest.files['image_head.onnx'] = { sha256: await sha256(headFile), bytes: bytes.byteLength };
  await writeFile(manifestFile, JSON.stringify(manifest));
  const report = await verifyExport({ modelDir: out, runDir: run, batchSizes: [1, 64] });
  assert.equal(report.passed, false);
  assert.ok(report.worst['image_head.onnx embedding'] > PARITY_TOLERANCE);
  assert.ok(report.worst['recipe_encoder.onnx embedding'] <= PARITY_TOLERANCE);

  const cli = runCli(['verify-export', out, '--run', run, '--batches', '1']);
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /image_head\.onnx embedding .* FAIL/);
  assert.match(cli.stderr, /check\(s\) failed/);
  // Against another run's weights: refused before comparing anything.
  await assert.rejects(verifyExport({ modelDir: out, runDir: path.join(tmp, 'stage1'), batchSizes: [1] }), /exported from checkpoint/);
});

test('the exporter refuses, by name, what it cannot translate, and leaves the output folder alone', async () => {
  const cases: Array<[string, Parameters<typeof createTinyRun>[1], RegExp, 'head' | 'both']> = [
    ['extra-param', { extraParams: { 'label_gate.weight': tf.zeros([6, 12]) } }, /does not know how to translate parameter\(s\) label_gate\.weight/, 'head'],
    ['extra-setting', { rawConfigExtra: { attention: 'linear' } }, /does not know how to translate model setting\(s\) attention/, 'head'],
    ['wv-no-dict', { debias: true }, /has the debiasing projection Wv but no ingredient dictionary/, 'head'],
    ['small-backbone', {}, /backboneChannels is 20, not the ResNet-50's 2048.*--image head/, 'both'],
  ];
  for (const [name, opts, message, image] of cases) {
    const run = path.join(tmp, `refuse-${name}`);
    await createTinyRun(run, opts);
    if (name === 'wv-no-dict') await rm(path.join(run, 'dictionary'), { recursive: true });
    const out = path.join(tmp, 'models', `refuse-${name}`);
    await assert.rejects(exportModel({ runDir: run, outDir: out, image }), (err: unknown) => err instanceof UserError && message.test((err as Error).message), name);
    await assert.rejects(stat(out), /ENOENT/, `${name}: nothing written`);
  }
  const cli = runCli(['export', path.join(tmp, 'refuse-extra-param'), '--out', path.join(tmp, 'models', 'cli-refused'), '--image', 'head']);
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /label_gate\.weight/);
});

test('CLI export and verify-export on a tiny run', () => {
  const out = path.join(tmp, 'models', 'cli');
  const exp = runCli(['export', path.join(tmp, 'stage2'), '--out', out, '--image', 'head', '--json']);
  assert.equal(exp.status, 0, exp.stderr);
  assert.equal(JSON.parse(exp.stdout).modelId, 'cli');
  const ver = runCli(['verify-export', out, '--run', path.join(tmp, 'stage2'), '--batches', '1,64']);
  assert.equal(ver.status, 0, ver.stderr);
  assert.match(ver.stdout, /recipe_encoder\.onnx embedding\s+\d\.\d\de-\d+ {2}\(\d+ checks\)/);
  assert.match(ver.stdout, /^PASS: tolerance/m);
});
