import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writePickleFile } from '../src/data/pickle/pickle.js';
import { presetConfig } from '../src/model/config.js';
import { importSeedCheckpoint } from '../src/import/import-checkpoint.js';
import { planSeedImport, type TensorInfo } from '../src/import/seed-state-dict.js';
import { pyOrderedDict, type PyValue } from '../src/data/pickle/python-pickler.js';
import { TorchCheckpoint } from '../src/import/torch-checkpoint.js';
import type { TensorRef } from '../src/data/pickle/torch-unpickler.js';
import { TorchCheckpointWriter } from '../src/import/torch-zip-writer.js';
import { UserError } from '../src/util/errors.js';
import { fromRoot } from '../src/util/paths.js';

interface KeyEntry {
  key: string;
  shape: number[];
  dtype: string;
}
const paperKeys = JSON.parse(await readFile(fromRoot('test/fixtures/seed-goldens/paper/keys.json'), 'utf8')) as Record<'stage1' | 'stage2', { keys: KeyEntry[] }>;
const tmp = await mkdtemp(path.join(os.tmpdir(), 'import-mapping-test-'));
test.after(() => rm(tmp, { recursive: true, force: true }));

const shapesOf = (entries: readonly KeyEntry[]): Map<string, TensorInfo> => new Map(entries.map((e) => [e.key, { shape: e.shape, dtype: e.dtype }]));
const plan = (entries: Map<string, TensorInfo>, heads: Partial<{ recipeHeads: number; classifierHeads: number }> = {}) =>
  planSeedImport(entries, { source: 'paper.pth', ...heads });

for (const stage of ['stage1', 'stage2'] as const) {
  test(`every key of the paper's ${stage} state_dict is mapped, by shape alone`, () => {
    const entries = paperKeys[stage].keys;
    assert.equal(entries.length, stage === 'stage1' ? 502 : 504);
    const p = plan(shapesOf(entries));
    assert.equal(p.prefix, 'module.');
    assert.equal(p.debias, stage === 'stage2');
    assert.equal(p.stemWidth, 64);
    // The derived config is the paper preset (heads from the default option, 4).
    assert.deepEqual(p.config, presetConfig('paper', { vocabSize: 16303, labels: 500 }));
    // Exactly the checkpoint's keys, same order, same shapes.
    assert.deepEqual(p.specs.map((s) => `module.${s.name}`).sort(), entries.map((e) => e.key).sort());
    const byKey = new Map(entries.map((e) => [e.key, e]));
    for (const s of p.specs) assert.deepEqual(s.shape, byKey.get(`module.${s.name}`)!.shape, s.name);
    const floatBytes = p.specs.filter((s) => s.dtype === 'float32').reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(floatBytes, stage === 'stage1' ? 888143568 : 890244816);
  });
}

test('keys without the DDP prefix map too; heads come from the options', () => {
  const bare = new Map([...shapesOf(paperKeys.stage2.keys)].map(([k, v]) => [k.slice('module.'.length), v]));
  const p = plan(bare, { recipeHeads: 8, classifierHeads: 16 });
  assert.equal(p.prefix, '');
  assert.equal(p.config.recipe.heads, 8);
  assert.equal(p.config.classifier.heads, 16);
  assert.throws(() => plan(bare, { recipeHeads: 3 }), /recipe\.width 512 is not divisible by recipe\.heads 3/);
});

test('a missing, unexpected, mis-shaped or mistyped key is refused by name', () => {
  const base = (): Map<string, TensorInfo> => shapesOf(paperKeys.stage2.keys);
  const missing = base();
  missing.delete('module.transformer.decoder.layers.1.norm3.bias');
  assert.throws(() => plan(missing), (err: unknown) => err instanceof UserError && /missing 1 key\(s\): module\.transformer\.decoder\.layers\.1\.norm3\.bias/.test(err.message));

  const extra = base();
  extra.set('module.text_encoder.extra.weight', { shape: [4], dtype: 'float32' });
  assert.throws(() => plan(extra), /unexpected 1 key\(s\): module\.text_encoder\.extra\.weight/);

  const misshaped = base();
  misshaped.set('module.backbone.0.body.layer3.2.conv2.weight', { shape: [256, 256, 1, 1], dtype: 'float32' });
  misshaped.set('module.Wv.weight', { shape: [512, 1024], dtype: 'float32' });
  assert.throws(() => plan(misshaped), (err: unknown) => err instanceof UserError &&
    err.message.includes('module.backbone.0.body.layer3.2.conv2.weight is [256,256,1,1], expected [256,256,3,3]') &&
    err.message.includes('module.Wv.weight is [512,1024], expected [1024,512]'));

  const mistyped = base();
  mistyped.set('module.backbone.0.body.bn1.num_batches_tracked', { shape: [], dtype: 'float32' });
  assert.throws(() => plan(mistyped), /num_batches_tracked is float32, expected int64/);

  const mixed = base();
  mixed.set('fc.b', { shape: [1, 500], dtype: 'float32' });
  assert.throws(() => plan(mixed), /mixes keys with and without the "module\." prefix \(fc\.b\)/);

  const notSeed = new Map([['module.linear.weight', { shape: [2, 2], dtype: 'float32' }]]);
  assert.throws(() => plan(notSeed), /not a checkpoint of the seed's model: missing or mis-shaped key\(s\) module\.backbone\.0\.body\.conv1\.weight/);
});

test('import-checkpoint refuses a real file with a missing or mis-shaped key and writes nothing', async () => {
  const vocab = path.join(tmp, 'vocab.pkl');
  const labels = path.join(tmp, 'ing2label.pkl');
  await writePickleFile(vocab, new Map<number, string>([[0, '<pad>'], [1, '<start>'], [2, '<end>'], ...Array.from({ length: 296 }, (_, i): [number, string] => [i + 3, `w${i + 3}`]), [299, '<unk>']]));
  await writePickleFile(labels, new Map(Array.from({ length: 20 }, (_, i) => [`ingredient ${i}`, i])));
  const source = TorchCheckpoint.open(fromRoot('test/fixtures/seed-goldens/small/stage1.pth.tar'));
  const sd = (source.root as Map<string, unknown>).get('state_dict') as Map<string, TensorRef>;
  const rewrite = (file: string, edit: (items: Array<[string, TensorRef]>) => Array<[string, TensorRef, number[]?]>): void => {
    const w = new TorchCheckpointWriter(file, { folder: 'model_best.pth' });
    const items = edit([...sd]).map(([k, t, shape]): [PyValue, PyValue] => [k, w.tensorOf(source.read(t), shape ?? t.shape)]);
    w.finish(new Map<PyValue, PyValue>([['epoch', 1], ['state_dict', pyOrderedDict(items)]]));
  };
  try {
    const dropped = path.join(tmp, 'dropped.pth');
    rewrite(dropped, (items) => items.filter(([k]) => k !== 'module.img_fc.bias'));
    const out = path.join(tmp, 'models', 'dropped');
    await assert.rejects(importSeedCheckpoint({ checkpoint: dropped, vocab, labels, outDir: out }), /missing 1 key\(s\): module\.img_fc\.bias/);
    await assert.rejects(readdir(out), /ENOENT/);

    // Same element count, other shape: only the shape check can catch it.
    const reshaped = path.join(tmp, 'reshaped.pth');
    rewrite(reshaped, (items) => items.map(([k, t]) => (k === 'module.merger_recipe.weight' ? [k, t, [240, 96]] : [k, t])));
    await assert.rejects(importSeedCheckpoint({ checkpoint: reshaped, vocab, labels, outDir: out }), /module\.merger_recipe\.weight is \[240,96\], expected \[96,240\]/);

    // The side files must fit the checkpoint too.
    await writePickleFile(labels, new Map(Array.from({ length: 21 }, (_, i) => [`ingredient ${i}`, i])));
    await assert.rejects(importSeedCheckpoint({ checkpoint: fromRoot('test/fixtures/seed-goldens/small/stage1.pth.tar'), vocab, labels, outDir: out }), /21 ingredient labels, but the checkpoint's classifier has 20/);
    await assert.rejects(readdir(out), /ENOENT/);
  } finally {
    source.close();
  }
});
