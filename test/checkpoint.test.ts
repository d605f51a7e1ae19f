import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from '../src/model-format/checkpoint.js';
import { DataFileError } from '../src/util/errors.js';

test('checkpoint round trip keeps every group, name, shape and value; corrupt files are refused', async () => {
  await tf.setBackend('cpu');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rr-ckpt-'));
  const a = tf.tensor([[1.5, -2], [3, 4.25], [0, 1e-30]], [3, 2]);
  const b = tf.tensor([7], [1]);
  const m = tf.tensor([0.5, 0.25], [2]);
  assert.equal(await hasCheckpoint(dir), false);
  const first = await saveCheckpoint(dir, { params: new Map([['x.weight', a], ['x.bias', b]]), 'adam.m': new Map([['x.bias', m]]) }, { epoch: 3 });
  assert.equal(await hasCheckpoint(dir), true);
  const loaded = await loadCheckpoint<{ epoch: number }>(dir);
  assert.equal(loaded.manifest.meta.epoch, 3);
  assert.deepEqual([...loaded.groups.keys()], ['params', 'adam.m']);
  assert.deepEqual(loaded.groups.get('params')!.get('x.weight')!.arraySync(), a.arraySync());
  assert.deepEqual(loaded.groups.get('params')!.get('x.bias')!.shape, [1]);
  assert.deepEqual(loaded.groups.get('adam.m')!.get('x.bias')!.arraySync(), [0.5, 0.25]);
  const onlyParams = await loadCheckpoint(dir, ['params']);
  assert.deepEqual([...onlyParams.groups.keys()], ['params']);

  // Saving again replaces the weights file and removes the old one.
  await saveCheckpoint(dir, { params: new Map([['x.weight', a.mul(2)]]) }, { epoch: 4 });
  const files = (await fs.readdir(dir)).sort();
  assert.equal(files.length, 2, files.join(','));
  assert.ok(!files.includes(first.weights.file));

  const reloaded = await loadCheckpoint(dir);
  const weightsFile = path.join(dir, reloaded.manifest.weights.file);
  const bytes = await fs.readFile(weightsFile);
  bytes[5] ^= 0xff;
  await fs.writeFile(weightsFile, bytes);
  await assert.rejects(loadCheckpoint(dir), (err: unknown) => err instanceof DataFileError && /sha256 does not match/.test(err.message));
  await fs.writeFile(weightsFile, bytes.subarray(0, 8));
  await assert.rejects(loadCheckpoint(dir), /has 8 bytes, checkpoint\.json says 24/);
  await assert.rejects(loadCheckpoint(path.join(dir, 'none')), /checkpoint\.json not found/);
});
