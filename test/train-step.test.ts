import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fromRoot } from '../src/util/paths.js';
import { runCli } from './helpers/cli.js';

// The seed's own training step (../shared/fixtures/seed-goldens/train-step, copied into the
// fixtures): two iterations of stage 1 and stage 2, every number compared by verify-train-step on
// the cpu backend, the backend CI has.
const goldens = fromRoot('test/fixtures/seed-goldens/train-step');
const tmp = await mkdtemp(path.join(os.tmpdir(), 'train-step-test-'));
test.after(() => rm(tmp, { recursive: true, force: true }));

interface Group { group: string; checks: number; worstItem: string; worstError: number; tolerance: number; pass: boolean }
interface Report { pass: boolean; groups: Group[]; failures: Array<{ group: string; item: string }>; kinks: Array<{ gate: string }> }

test('verify-train-step: both stages of the shipped goldens match the seed step for step (cpu backend)', () => {
  const run = runCli(['verify-train-step', '--backend', 'cpu', '--json'], { timeoutMs: 1_200_000 });
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  const report = JSON.parse(run.stdout) as Report;
  assert.equal(report.pass, true);
  const byName = new Map(report.groups.map((g) => [g.group, g]));
  for (const stage of ['stage1', 'stage2']) {
    for (const k of [1, 2]) {
      for (const group of ['losses', 'forward outputs', 'gradients backbone (rel L2)', 'gradients heads (rel L2)', 'updates per element (abs)',
        'update sums (abs)', 'update norms (abs)', 'BatchNorm running stats', 'num_batches_tracked (exact)']) {
        assert.ok(byName.has(`${stage} iter${k} ${group}`), `missing group ${stage} iter${k} ${group}`);
      }
    }
    assert.ok(byName.has(`${stage} iter2 AdamW state`));
    // Every BatchNorm layer (53) and every loss term (18) is compared.
    assert.equal(byName.get(`${stage} iter1 num_batches_tracked (exact)`)!.checks, 53);
    assert.equal(byName.get(`${stage} iter1 losses`)!.checks, 18);
  }
  // Stage 1's classifier trains only through weight decay: its 41 gradients must be exactly zero.
  assert.equal(byName.get('stage1 iter1 gradients (exact zeros)')!.checks, 41);
  const gradients = ['backbone', 'heads'].reduce((n, g) => n + byName.get(`stage2 iter1 gradients ${g} (rel L2)`)!.checks, 0);
  assert.equal(gradients, 311);
  for (const g of report.groups) {
    process.stderr.write(`${g.group}: worst ${g.worstError.toExponential(2)} / ${g.tolerance.toExponential(2)} (${g.worstItem})\n`);
  }
});

test('verify-train-step: a golden set with changed numbers fails, naming what differs', async () => {
  // One stage, one iteration, three numbers changed: a loss term, one gradient tensor, one batch counter.
  const set = path.join(tmp, 'altered');
  const stageDir = path.join(set, 'stage1');
  await cp(path.join(goldens, 'stage1'), stageDir, { recursive: true, filter: (src) => !src.includes(`${path.sep}iter2`) });
  const manifest = JSON.parse(await readFile(path.join(goldens, 'manifest.json'), 'utf8')) as { stages: Record<string, { checkpoint: string }> };
  delete manifest.stages.stage2;
  manifest.stages.stage1.checkpoint = path.resolve(goldens, manifest.stages.stage1.checkpoint);
  await writeFile(path.join(set, 'manifest.json'), JSON.stringify(manifest));

  const lossesFile = path.join(stageDir, 'iter1', 'losses.json');
  const losses = JSON.parse(await readFile(lossesFile, 'utf8')) as { terms: Array<{ name: string; value: number }> };
  losses.terms.find((t) => t.name === 'triplet_image_recipe')!.value *= 1.001;
  await writeFile(lossesFile, JSON.stringify(losses));

  const index = JSON.parse(await readFile(path.join(stageDir, 'param_index.json'), 'utf8')) as { params: Array<{ name: string; full_offset: number; numel: number }> };
  const target = index.params.find((p) => p.name === 'img_fc.weight')!;
  const gradsFile = path.join(stageDir, 'iter1', 'grads_full.f32.bin');
  const grads = await readFile(gradsFile);
  const view = new Float32Array(grads.buffer, grads.byteOffset, grads.byteLength / 4);
  for (let i = 0; i < target.numel; i += 7) view[target.full_offset + i] *= 1.05;
  await writeFile(gradsFile, grads);

  const trackedFile = path.join(stageDir, 'iter1', 'bn_num_batches_tracked.i64.bin');
  const tracked = await readFile(trackedFile);
  tracked.writeBigInt64LE(tracked.readBigInt64LE(8 * 20) + 1n, 8 * 20);
  await writeFile(trackedFile, tracked);

  const run = runCli(['verify-train-step', set, '--backend', 'cpu', '--json'], { timeoutMs: 600_000 });
  assert.equal(run.status, 1, run.stderr.slice(-2000));
  const report = JSON.parse(run.stdout) as Report;
  assert.equal(report.pass, false);
  const failed = report.failures.map((f) => `${f.group}: ${f.item}`).sort();
  assert.deepEqual(failed, [
    'stage1 iter1 gradients heads (rel L2): img_fc.weight',
    'stage1 iter1 losses: triplet_image_recipe',
    'stage1 iter1 num_batches_tracked (exact): backbone.0.body.layer2.2.bn3',
  ].sort());
});
