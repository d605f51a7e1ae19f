import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readIngredientDictionary } from '../src/import/ingredient-dictionary.js';
import { picklePython, PyReduce, PyTuple, pyNumpyFloat32, pyNumpyFloat64, pyOrderedDict } from '../src/data/pickle/python-pickler.js';
import { detectCheckpointFormat, TorchCheckpoint } from '../src/import/torch-checkpoint.js';
import { OrderedDictValue, TensorRef } from '../src/data/pickle/torch-unpickler.js';
import { TorchCheckpointWriter } from '../src/import/torch-zip-writer.js';
import { ZipArchive } from '../src/import/zip-archive.js';
import { DataFileError } from '../src/util/errors.js';
import { fromRoot } from '../src/util/paths.js';

const golden = (...p: string[]): string => fromRoot('test/fixtures/seed-goldens/small', ...p);
const tmp = await mkdtemp(path.join(os.tmpdir(), 'import-reader-test-'));
test.after(() => rm(tmp, { recursive: true, force: true }));

async function float32File(file: string): Promise<Float32Array> {
  const b = await readFile(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

test('the golden stage-1 checkpoint opens lazily with its structure intact', () => {
  const c = TorchCheckpoint.open(golden('stage1.pth.tar'));
  try {
    assert.equal(c.folder, 'stage1.pth');
    const root = c.root as Map<string, unknown>;
    assert.deepEqual([...root.keys()], ['epoch', 'arch', 'state_dict', 'best_recall1', 'optimizer']);
    assert.equal(root.get('epoch'), 100);
    assert.equal(root.get('arch'), 'resnet50');
    // A numpy float64 scalar, decoded from its 8 raw bytes.
    assert.equal(root.get('best_recall1'), 0.6059);
    const sd = root.get('state_dict') as OrderedDictValue;
    assert.ok(sd instanceof OrderedDictValue);
    assert.equal(sd.size, 502);
    assert.ok(sd.metadata instanceof Map && (sd.metadata as Map<string, unknown>).has('module.backbone.0.body'), '_metadata set by BUILD');
    // 508 cuda:0 storages in the state_dict, 3 cpu step counters in the optimizer (manifest of the goldens).
    const locations = [...c.storages.values()].map((s) => s.location);
    assert.equal(locations.filter((l) => l === 'cuda:0').length, 508);
    assert.equal(locations.filter((l) => l === 'cpu').length, 3);
    const optimizer = root.get('optimizer') as Map<string, unknown>;
    assert.deepEqual([...(optimizer.get('state') as Map<number, unknown>).keys()], [165, 291, 294]);

    const counter = sd.get('module.backbone.0.body.bn1.num_batches_tracked') as TensorRef;
    assert.equal(counter.dtype, 'int64');
    assert.deepEqual([...c.read(counter)], [4294967303n], 'int64 storage read exactly (2^32 + 7)');

    const conv = sd.get('module.backbone.0.body.conv1.weight') as TensorRef;
    assert.deepEqual(conv.shape, [4, 3, 7, 7]);
    const values = c.read(conv) as Float32Array;
    assert.equal(values.length, 588);
    assert.ok(values.some((v) => v !== 0) && values.every(Number.isFinite));
  } finally {
    c.close();
  }
});

test('storages are read at their zip data offsets, 64-byte aligned as torch writes them', () => {
  const zip = ZipArchive.open(golden('stage2.pth.tar'));
  try {
    const storages = zip.entries().filter((e) => e.name.startsWith('stage2.pth/data/'));
    assert.equal(storages.length, 513);
    for (const e of storages) {
      assert.equal(e.method, 0);
      assert.equal(zip.dataOffset(e) % 64, 0, e.name);
    }
  } finally {
    zip.close();
  }
});

test('the dictionary pickle gives D bit for bit, rows placed by (scrambled) key', async () => {
  const d = await readIngredientDictionary(golden('ingredient_dict_textual.pkl'), 20, 80);
  const expected = await float32File(golden('dictionary_D.bin'));
  assert.deepEqual(d.matrix.dims, [20, 80]);
  const differing = expected.reduce((n, v, i) => n + (Object.is(v, d.matrix.data[i]) ? 0 : 1), 0);
  assert.equal(differing, 0);
  assert.equal(d.counts.reduce((a, b) => a + b, 0), 45);
  assert.ok(d.counts.every((n) => n >= 1 && n <= 4));
  await assert.rejects(readIngredientDictionary(golden('ingredient_dict_textual.pkl'), 20, 64), /80 values, the model's recipe width is 64/);
  await assert.rejects(readIngredientDictionary(golden('ingredient_dict_textual.pkl'), 19, 80), /key 19 is not a label in 0\.\.18/);
});

test('the streamed dictionary reader (for multi-GB files) gives the same D, protocol 4 and 2', async () => {
  const expected = await float32File(golden('dictionary_D.bin'));
  const streamed = await readIngredientDictionary(golden('ingredient_dict_textual.pkl'), 20, 80, { stream: true });
  assert.equal(streamed.streamed, true);
  assert.ok(streamed.matrix.data.every((v, i) => Object.is(v, expected[i])), 'streamed D differs from dictionary_D.bin');

  // Protocol 2 (GLOBAL, BINUNICODE, bytes as _codecs.encode), many vectors per label, uneven values.
  const file = path.join(tmp, 'dict-p2.pkl');
  const rows = (label: number): Float32Array[] => Array.from({ length: 7 }, (_, i) => Float32Array.from({ length: 5 }, (_, j) => Math.fround(Math.sin(label * 31 + i * 7 + j) * 1e3 + 1 / (j + 3))));
  await writeFile(file, picklePython(new Map([2, 0, 1].map((label) => [label, rows(label).map((v) => pyNumpyFloat32(v))]))));
  const parsed = await readIngredientDictionary(file, 3, 5, { stream: false });
  const viaStream = await readIngredientDictionary(file, 3, 5, { stream: true });
  assert.deepEqual([...viaStream.matrix.data], [...parsed.matrix.data]);
  assert.deepEqual(viaStream.counts, [7, 7, 7]);
  // float32 running sum, then one float32 division (numpy's mean over axis 0), checked by hand for label 1.
  const f = Math.fround;
  const label1 = rows(1);
  const sum0 = label1.reduce((s, v) => f(s + v[0]), 0);
  assert.equal(parsed.matrix.data[5], f(sum0 / 7));
  await assert.rejects(readIngredientDictionary(file, 3, 4, { stream: true }), /5 values, the model's recipe width is 4/);
});

test('numpy 2 pickles (protocol 2 and 5, _frombuffer) give numpy\'s mean bit for bit, both readers', async () => {
  const dir = fromRoot('test/fixtures/seed-goldens/numpy2');
  const expected = await float32File(path.join(dir, 'D.bin'));
  for (const name of ['dict2.pkl', 'dict5.pkl']) {
    for (const stream of [false, true]) {
      const d = await readIngredientDictionary(path.join(dir, name), 5, 16, { stream });
      const differing = expected.reduce((n, v, i) => n + (Object.is(v, d.matrix.data[i]) ? 0 : 1), 0);
      assert.equal(differing, 0, `${name} stream=${stream}`);
      assert.deepEqual(d.counts, [60, 59, 53, 70, 58]);
    }
  }
});

test('a dictionary with a label lacking vectors is refused, naming the label', async () => {
  const file = path.join(tmp, 'dict-missing.pkl');
  const items = new Map([[1, [pyNumpyFloat32(Float32Array.of(1, 2))]], [0, [pyNumpyFloat32(Float32Array.of(3, 4)), pyNumpyFloat32(Float32Array.of(5, 7))]]]);
  await writeFile(file, picklePython(items));
  const d = await readIngredientDictionary(file, 2, 2);
  assert.deepEqual([...d.matrix.data], [4, 5.5, 1, 2]);
  await assert.rejects(readIngredientDictionary(file, 3, 2), /no vectors for label\(s\) 2/);
});

for (const forceZip64 of [false, true]) {
  test(`writer and reader round-trip a checkpoint (zip64 ${forceZip64}), strided views included`, () => {
    const file = path.join(tmp, `roundtrip-${forceZip64}.pth`);
    const w = new TorchCheckpointWriter(file, { folder: 'model_best.pth', forceZip64, location: 'cuda:0' });
    const matrix = Float32Array.from({ length: 12 }, (_, i) => i * 1.5 - 4);
    const base = w.tensorOf(matrix, [3, 4]);
    // A transposed view [4, 3] of the same storage, and a column slice starting at offset 1.
    const storage = base.args[0];
    const rebuild = (offset: number, shape: number[], stride: number[]): PyReduce =>
      new PyReduce(base.callable, [storage, offset, new PyTuple(shape), new PyTuple(stride), false, pyOrderedDict([])]);
    const big = w.tensorOf(BigInt64Array.of(-(2n ** 40n) - 3n, 2n ** 62n), [2]);
    const root = new Map<string, unknown>([
      ['state_dict', pyOrderedDict([['a', base], ['a_t', rebuild(0, [4, 3], [1, 4])], ['col1', rebuild(1, [3], [4])], ['big', big]])],
      ['best_recall1', pyNumpyFloat64(0.625)],
    ]);
    w.finish(root as never);
    const c = TorchCheckpoint.open(file);
    try {
      assert.equal(c.folder, 'model_best.pth');
      const sd = (c.root as Map<string, unknown>).get('state_dict') as Map<string, TensorRef>;
      assert.deepEqual([...c.read(sd.get('a')!)], [...matrix]);
      const transposed = [0, 1, 2, 3].flatMap((j) => [0, 1, 2].map((i) => matrix[i * 4 + j]));
      assert.equal(sd.get('a_t')!.isContiguous(), false);
      assert.deepEqual([...c.read(sd.get('a_t')!)], transposed);
      assert.deepEqual([...c.read(sd.get('col1')!)], [matrix[1], matrix[5], matrix[9]]);
      assert.deepEqual([...c.read(sd.get('big')!)], [-(2n ** 40n) - 3n, 2n ** 62n]);
      assert.equal((c.root as Map<string, unknown>).get('best_recall1'), 0.625);
    } finally {
      c.close();
    }
  });
}

test('a bare legacy header, non-zip, truncated and non-checkpoint files get clear errors', async () => {
  // Legacy torch.save: a pickled magic number first (PROTO 2, LONG1 0x1950a86a20f9469cfc6c).
  const legacy = path.join(tmp, 'legacy.pth');
  await writeFile(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]));
  assert.equal(detectCheckpointFormat(legacy), 'legacy');
  // Only the magic number: the legacy reader (test/import-legacy.test.ts) says where the file ends.
  assert.throws(() => TorchCheckpoint.open(legacy), (err: unknown) => err instanceof DataFileError && /truncated legacy checkpoint: the file ends \(15 bytes\) before its protocol version pickle/.test(err.message) && err.message.includes(legacy));

  const text = path.join(tmp, 'notes.txt');
  await writeFile(text, 'hello, not a checkpoint');
  assert.throws(() => TorchCheckpoint.open(text), /is not a PyTorch checkpoint/);

  const whole = await readFile(golden('stage1.pth.tar'));
  const truncated = path.join(tmp, 'truncated.pth');
  await writeFile(truncated, whole.subarray(0, 1_000_000));
  assert.throws(() => TorchCheckpoint.open(truncated), /no zip end-of-central-directory record/);

  const otherZip = path.join(tmp, 'other.zip');
  const w = new TorchCheckpointWriter(otherZip, { folder: 'x' });
  w.finish(new Map() as never);
  const renamed = (await readFile(otherZip)).toString('latin1').replaceAll('x/data.pkl', 'x/data.pk_');
  await writeFile(otherZip, Buffer.from(renamed, 'latin1'));
  assert.throws(() => TorchCheckpoint.open(otherZip), /without <folder>\/data\.pkl/);
  assert.throws(() => TorchCheckpoint.open(path.join(tmp, 'absent.pth')), /file not found/);
});
