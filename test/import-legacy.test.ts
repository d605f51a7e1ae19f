import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writePickleFile } from '../src/data/pickle/pickle.js';
import { findStateDict } from '../src/import/checkpoint-tensors.js';
import { importSeedCheckpoint } from '../src/import/import-checkpoint.js';
import { detectCheckpointFormat, TorchCheckpoint, type TensorValues } from '../src/import/torch-checkpoint.js';
import { openLegacyCheckpoint } from '../src/import/torch-legacy-checkpoint.js';
import type { TensorRef } from '../src/data/pickle/torch-unpickler.js';
import { DataFileError } from '../src/util/errors.js';
import { onnx } from '../src/onnx/proto.js';
import { fromRoot } from '../src/util/paths.js';
import { contiguousStride, torchSave, type SpecStorage, type SpecTensor, type TorchSaveSpec } from './helpers/torch-save.js';

// The legacy (pre-1.6) torch.save format against files written by Python's own pickler in torch's
// layout (test/helpers/torch_save.py): every tensor compared with values computed here from the
// spec, and with the same state dict written in the zip format.

const tmp = await mkdtemp(path.join(os.tmpdir(), 'import-legacy-test-'));
test.after(() => rm(tmp, { recursive: true, force: true }));
const golden = (...p: string[]): string => fromRoot('test/fixtures/seed-goldens/small', ...p);

const f32 = (x: number): number => Math.fround(x);
const STORAGES: Record<string, SpecStorage> = {
  // Exact float32 values, a subnormal and -0 included.
  w: { type: 'FloatStorage', values: [...Array.from({ length: 10 }, (_, i) => f32(Math.sin(i + 1) * 10 ** (i % 5 - 2))), f32(1e-40), '-0.0'], location: 'cuda:0' },
  h: { type: 'HalfStorage', values: [1, -2.5, 65504, 2 ** -24] },
  // num_batches_tracked-like counters beyond 2^32, and a negative.
  n: { type: 'LongStorage', values: ['4294967303', '-1099511627779'] },
};
const TENSORS: SpecTensor[] = [
  { name: 'a', storage: 'w', offset: 0, shape: [3, 4], stride: [4, 1] },
  // The transpose of a: a non-contiguous view of the same storage.
  { name: 'a_t', storage: 'w', offset: 0, shape: [4, 3], stride: [1, 4] },
  // The same storage again at another offset.
  { name: 'tail', storage: 'w', offset: 8, shape: [2, 2], stride: [2, 1] },
  // A pre-0.4 storage view (elements 4..9), the tensor at offset 1 in it with stride 2: w[5], w[7].
  { name: 'in_view', storage: 'w', offset: 1, shape: [2], stride: [2], view: { offset: 4, numel: 6 } },
  { name: 'half', storage: 'h', offset: 0, shape: [4], stride: [1] },
  { name: 'bn.num_batches_tracked', storage: 'n', offset: 0, shape: [], stride: [] },
  { name: 'second', storage: 'n', offset: 1, shape: [1], stride: [1] },
];

/** What each tensor holds, gathered here from the spec (independent of the readers). */
function expected(t: SpecTensor): Array<number | bigint> {
  const s = STORAGES[t.storage];
  const values = s.values!.map((v) => (s.type === 'LongStorage' ? BigInt(v) : Number(v)));
  const base = t.offset + (t.view?.offset ?? 0);
  const count = t.shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, (_, flat) => {
    let at = base;
    let rest = flat;
    for (let d = t.shape.length - 1; d >= 0; d--) {
      at += (rest % t.shape[d]) * t.stride[d];
      rest = Math.floor(rest / t.shape[d]);
    }
    return values[at];
  });
}

function readAll(file: string): { checkpoint: TorchCheckpoint; tensors: Map<string, TensorValues>; refs: Map<string, TensorRef> } {
  const checkpoint = TorchCheckpoint.open(file);
  const { stateDict } = findStateDict(checkpoint.root, file);
  const tensors = new Map([...stateDict].map(([k, t]) => [k, checkpoint.read(t)]));
  return { checkpoint, tensors, refs: stateDict };
}

const VARIANTS: Array<{ name: string; spec: Partial<TorchSaveSpec> }> = [
  { name: 'protocol 2, bare state_dict (torchvision weight files)', spec: {} },
  { name: 'protocol 2, a checkpoint dict (the seed\'s .pth.tar)', spec: { checkpoint: { epoch: 12, arch: 'resnet50', best_recall1: 0.25 } } },
  { name: 'protocol 4 (FRAMEs, another magic-number encoding)', spec: { protocol: 4 } },
  { name: 'torch < 0.4 tensors (_rebuild_tensor)', spec: { rebuild: '_rebuild_tensor' } },
];

for (const [i, variant] of VARIANTS.entries()) {
  test(`legacy and zip files of one state dict read the same tensors: ${variant.name}`, () => {
    const legacy = path.join(tmp, `legacy-${i}.pth`);
    const zip = path.join(tmp, `zip-${i}.pth`);
    torchSave({ storages: STORAGES, tensors: TENSORS, legacy, zip, ...variant.spec }, path.join(tmp, `spec-${i}.json`));
    assert.equal(detectCheckpointFormat(legacy), 'legacy');
    assert.equal(detectCheckpointFormat(zip), 'zip');
    const fromLegacy = readAll(legacy);
    const fromZip = readAll(zip);
    try {
      assert.equal(fromLegacy.checkpoint.format, 'legacy');
      assert.equal(fromLegacy.checkpoint.folder, `legacy-${i}`);
      // Stored storages only (the view points into w); the location survives.
      assert.deepEqual([...fromLegacy.checkpoint.storages.values()].map((s) => [s.dtype, s.numel, s.location]), [['float32', 12, 'cuda:0'], ['float16', 4, 'cpu'], ['int64', 2, 'cpu']]);
      assert.equal(fromLegacy.refs.get('a_t')!.isContiguous(), false);
      for (const t of TENSORS) {
        const want = expected(t);
        const got = [...fromLegacy.tensors.get(t.name)!];
        assert.deepEqual(fromLegacy.refs.get(t.name)!.shape, t.shape, t.name);
        assert.equal(got.length, want.length, t.name);
        got.forEach((v, j) => assert.ok(Object.is(v, want[j]), `${t.name}[${j}]: legacy ${v}, expected ${want[j]}`));
        assert.deepEqual([...fromZip.tensors.get(t.name)!], got, `${t.name}: zip and legacy differ`);
      }
      if (variant.spec.checkpoint) {
        const root = fromLegacy.checkpoint.root as Map<string, unknown>;
        assert.equal(root.get('epoch'), 12);
        assert.equal(root.get('best_recall1'), 0.25);
      }
    } finally {
      fromLegacy.checkpoint.close();
      fromZip.checkpoint.close();
    }
  });
}

test('a legacy copy of the stage-2 seed checkpoint imports to the same ONNX files as the zip original', async () => {
  // The golden's state_dict, rewritten in the legacy format by Python's pickler.
  const source = TorchCheckpoint.open(golden('stage2.pth.tar'));
  const storages: Record<string, SpecStorage> = {};
  const tensors: SpecTensor[] = [];
  const chunks: Buffer[] = [];
  let at = 0;
  try {
    const { stateDict } = findStateDict(source.root, source.file);
    for (const [name, ref] of stateDict) {
      const values = source.read(ref);
      const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
      storages[name] = { type: values instanceof BigInt64Array ? 'LongStorage' : 'FloatStorage', blob: [at, values.length], location: 'cuda:0' };
      tensors.push({ name, storage: name, offset: 0, shape: ref.shape, stride: contiguousStride(ref.shape) });
      chunks.push(bytes);
      at += bytes.length;
    }
  } finally {
    source.close();
  }
  const blob = path.join(tmp, 'stage2.blob');
  await writeFile(blob, Buffer.concat(chunks));
  const legacy = path.join(tmp, 'model_best.pth.tar');
  torchSave({ storages, tensors, blob, legacy, checkpoint: { epoch: 56, arch: 'resnet50', best_recall1: 0.5 } }, path.join(tmp, 'stage2-spec.json'));
  assert.equal(detectCheckpointFormat(legacy), 'legacy');

  const vocab = path.join(tmp, 'vocab.pkl');
  const labels = path.join(tmp, 'ing2label.pkl');
  await writePickleFile(vocab, new Map<number, string>([[0, '<pad>'], [1, '<start>'], [2, '<end>'], ...Array.from({ length: 296 }, (_, i): [number, string] => [i + 3, `w${i + 3}`]), [299, '<unk>']]));
  await writePickleFile(labels, new Map(Array.from({ length: 20 }, (_, i) => [`ingredient ${(i * 7) % 20}`, i])));
  const dictionary = golden('ingredient_dict_textual.pkl');
  const fromZip = path.join(tmp, 'models', 'zip');
  const fromLegacy = path.join(tmp, 'models', 'legacy');
  await importSeedCheckpoint({ checkpoint: golden('stage2.pth.tar'), dictionary, vocab, labels, outDir: fromZip });
  const summary = await importSeedCheckpoint({ checkpoint: legacy, dictionary, vocab, labels, outDir: fromLegacy });
  assert.equal(summary.debiasActive, true);
  // The graphs (weights included) are identical; the metadata differs only in model id and source hash.
  for (const file of ['image_encoder.onnx', 'recipe_encoder.onnx']) {
    const [a, b] = await Promise.all([fromZip, fromLegacy].map(async (dir) => onnx.ModelProto.decode(await readFile(path.join(dir, file)))));
    const graph = (m: typeof a): Buffer => Buffer.from(onnx.GraphProto.encode(m.graph!).finish());
    assert.ok(graph(a).equals(graph(b)), `${file}: the graph differs between the zip and the legacy import`);
    const props = (m: typeof a): Map<string, string> => new Map(m.metadataProps.map((p) => [p.key!, p.value!]));
    const [pa, pb] = [props(a), props(b)];
    assert.deepEqual([...pa.keys()], [...pb.keys()]);
    for (const key of pa.keys()) if (key !== 'model_id' && key !== 'checkpoint_sha256') assert.equal(pb.get(key), pa.get(key), `${file} metadata ${key}`);
  }
  const manifest = JSON.parse(await readFile(path.join(fromLegacy, 'manifest.json'), 'utf8')) as { source: { epoch: number; runName: string } };
  assert.equal(manifest.source.epoch, 56);
  assert.equal(manifest.source.runName, 'model_best.pth');
});

/** A small legacy file and its storage region (the records follow the key-list pickle). */
async function smallLegacy(name: string, overrides: Partial<TorchSaveSpec> = {}): Promise<{ file: string; bytes: Buffer; dataStart: number }> {
  const file = path.join(tmp, name);
  torchSave({ storages: STORAGES, tensors: TENSORS, legacy: file, ...overrides }, path.join(tmp, `${name}.json`));
  const bytes = await readFile(file);
  const dataBytes = 8 * 3 + 12 * 4 + 4 * 2 + 2 * 8;
  return { file, bytes, dataStart: bytes.length - dataBytes };
}

function assertOneLine(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataFileError, `not a DataFileError: ${String(err)}`);
    assert.ok(err.message.includes(file), `does not name the file: ${err.message}`);
    assert.ok(!err.message.includes('\n'), `not one line: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('truncated, foreign and big-endian legacy files are refused with one line naming the file', async () => {
  const { file, bytes, dataStart } = await smallLegacy('good.pth');
  // Sanity: the data region is where the layout puts it (first record: 12 float32 elements).
  assert.equal(bytes.readBigInt64LE(dataStart), 12n);
  TorchCheckpoint.open(file).close();

  const cut = async (name: string, length: number): Promise<string> => {
    const f = path.join(tmp, name);
    await writeFile(f, bytes.subarray(0, length));
    return f;
  };
  const inData = await cut('cut-in-data.pth', bytes.length - 3);
  assertOneLine(() => TorchCheckpoint.open(inData), inData, /truncated legacy checkpoint: storage record 3 of 3 .* needs bytes \d+\.\.\d+, the file ends at \d+/);
  const inHeader = await cut('cut-in-header.pth', dataStart + 4);
  assertOneLine(() => TorchCheckpoint.open(inHeader), inHeader, /truncated legacy checkpoint: the file ends \(\d+ bytes\) before storage record 1 of 3/);
  const inObject = await cut('cut-in-object.pth', 200);
  assertOneLine(() => TorchCheckpoint.open(inObject), inObject, /object pickle from byte \d+\): truncated pickle/);
  const afterMagic = await cut('cut-after-magic.pth', 15);
  assertOneLine(() => TorchCheckpoint.open(afterMagic), afterMagic, /the file ends \(15 bytes\) before its protocol version pickle/);

  const counted = Buffer.from(bytes);
  counted.writeBigInt64LE(11n, dataStart);
  const miscounted = path.join(tmp, 'miscounted.pth');
  await writeFile(miscounted, counted);
  assertOneLine(() => TorchCheckpoint.open(miscounted), miscounted, /storage record 1 of 3 .* holds 11 elements; the pickled object says 12/);

  const bigEndian = (await smallLegacy('big-endian.pth', { little_endian: false })).file;
  assertOneLine(() => TorchCheckpoint.open(bigEndian), bigEndian, /big-endian/);
  const version = (await smallLegacy('version.pth', { protocol_version: 1000 })).file;
  assertOneLine(() => TorchCheckpoint.open(version), version, /legacy torch\.save protocol version 1000; only 1001 exists/);
  // Another magic number: not recognised as a checkpoint at all; the legacy reader itself says why.
  const magic = (await smallLegacy('magic.pth', { magic: 12345 })).file;
  assert.equal(detectCheckpointFormat(magic), 'unknown');
  assertOneLine(() => TorchCheckpoint.open(magic), magic, /is not a PyTorch checkpoint/);
  assertOneLine(() => openLegacyCheckpoint(magic), magic, /its first pickle holds 12345, not torch's magic number/);
});
