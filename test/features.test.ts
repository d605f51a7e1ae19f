import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from '../src/backbone/resnet50.js';
import { featuresCommand } from '../src/cli/commands/features.js';
import { loadTestCrop, toCaffeNhwc } from '../src/data/images/index.js';
import { readRecipeFile } from '../src/data/dataset.js';
import { ROW_VALUES, viewDir, type ViewTransform } from '../src/features/cache-format.js';
import { openFeatureCache } from '../src/features/cache-reader.js';
import { FeatureCacheWriter } from '../src/features/cache-writer.js';
import { extractFeatures, type ExtractOptions } from '../src/features/extract.js';
import { decodeFloat16, encodeFloat16, fromFloat16Bits, toFloat16Bits } from '../src/features/float16.js';
import { SeededRandom } from '../src/util/random.js';
import { fromRoot } from '../src/util/paths.js';
import { pythonPickle } from './helpers/python.js';

// ---------- float16 ----------

/** Python's struct 'e' (round half to even; OverflowError means the value rounds past 65504). */
function pythonHalfBits(values: Float32Array): Uint16Array {
  const code = `import struct,sys
data=sys.stdin.buffer.read(); n=len(data)//4; out=bytearray()
for (x,) in struct.iter_unpack('<f', data):
    try: out+=struct.pack('<e', x)
    except OverflowError: out+=struct.pack('<e', float('inf') if x>0 else float('-inf'))
sys.stdout.buffer.write(out)`;
  const out = execFileSync('python3', ['-c', code], { input: new Uint8Array(values.buffer, values.byteOffset, values.byteLength), maxBuffer: 1 << 26 });
  return new Uint16Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength));
}

test('float16: all 65,536 patterns decode as Python does and re-encode to themselves', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const decoded = decodeFloat16(all);
  const code = `import struct,sys
sys.stdout.buffer.write(b''.join(struct.pack('<f', struct.unpack('<e', struct.pack('<H', h))[0]) for h in range(65536)))`;
  const ref = new Float32Array(new Uint8Array(execFileSync('python3', ['-c', code], { maxBuffer: 1 << 20 })).buffer);
  const reencoded = encodeFloat16(decoded);
  for (let h = 0; h < 65536; h++) {
    const exp = (h >> 10) & 0x1f;
    const isNaN16 = exp === 31 && (h & 0x3ff) !== 0;
    if (isNaN16) {
      assert.ok(Number.isNaN(decoded[h]) && Number.isNaN(ref[h]), `NaN pattern ${h}`);
      assert.equal(reencoded[h] & 0x7c00, 0x7c00);
      assert.notEqual(reencoded[h] & 0x3ff, 0, 'NaN stays NaN');
      continue;
    }
    assert.ok(Object.is(decoded[h], ref[h]), `pattern ${h.toString(16)}: ${decoded[h]} vs python ${ref[h]}`);
    assert.equal(reencoded[h], h, `pattern ${h.toString(16)} is representable: exact round trip`);
  }
});

test('float16: encoding rounds to nearest even exactly as Python on edge cases and random float32s', () => {
  const edges = [
    0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e9, -1e9, Infinity, -Infinity, 2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -26,
    2 ** -25 + 2 ** -40, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 2049, 2051, 1e-45, -1e-40, 0.1, 1 / 3, 2 ** -14 - 2 ** -25, 2 ** -14 - 2 ** -26,
  ];
  const rng = new SeededRandom(7);
  const values = new Float32Array(edges.length + 60000);
  values.set(edges);
  const bits = new Uint32Array(values.buffer);
  for (let i = edges.length; i < values.length; i++) {
    // Half of them anywhere in float32; half in and around the float16 range (exponents -30..17).
    bits[i] = i % 2 ? rng.nextUint32() : (rng.nextUint32() & 0x807fffff) | ((127 - 30 + rng.nextInt(48)) << 23);
    if (Number.isNaN(values[i])) values[i] = 0.5;
  }
  const ours = encodeFloat16(values);
  const ref = pythonHalfBits(values);
  let mismatches = 0;
  for (let i = 0; i < values.length; i++) if (ours[i] !== ref[i]) mismatches++;
  assert.equal(mismatches, 0, `first mismatch at ${ours.findIndex((h, i) => h !== ref[i])}`);
  assert.equal(toFloat16Bits(65520), 0x7c00, '65520 rounds up to +Inf');
  assert.equal(toFloat16Bits(65519.99), 0x7bff);
  assert.equal(toFloat16Bits(2 ** -25), 0, 'tie between 0 and the smallest subnormal goes to even (0)');
  assert.equal(toFloat16Bits(3 * 2 ** -25), 2, 'tie between subnormals 1 and 2 goes to 2');
  assert.equal(toFloat16Bits(-0), 0x8000);
  assert.equal(toFloat16Bits(NaN) & 0x7e00, 0x7e00);
  assert.equal(fromFloat16Bits(0x0001), 2 ** -24);
});

test('float16: relative error within half an ulp (2^-11) in the normal range, 2^-25 absolute below it', () => {
  const rng = new SeededRandom(3);
  const values = new Float32Array(20000).map(() => (rng.nextFloat() - 0.5) * 2 ** (rng.nextInt(40) - 24));
  const back = decodeFloat16(encodeFloat16(values));
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    const err = Math.abs(back[i] - x);
    const bound = Math.abs(x) >= 2 ** -14 ? Math.abs(x) * 2 ** -11 : 2 ** -25;
    assert.ok(err <= bound, `${x} -> ${back[i]}`);
  }
});

// ---------- cache writer/reader (synthetic rows, no backbone) ----------

const TEST_TRANSFORM: ViewTransform = { kind: 'test', resize: 256, crop: 224, normalisation: 'caffe' };

function syntheticRow(k: number): Uint16Array {
  const f = new Float32Array(ROW_VALUES).map((_, i) => ((i * 7 + k * 13) % 101) / 8);
  return encodeFloat16(f);
}

const tempDirs: string[] = [];
after(() => Promise.all(tempDirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

async function tempDir(prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

test('cache: commits across shards, survives a crash after the data write, resumes, and reads back by key and recipe', async () => {
  const dir = await tempDir('rr-cache-');
  const open = () => FeatureCacheWriter.open(dir, 'train', 0, { backboneHash: 'h1', transform: TEST_TRANSFORM, shardRows: 2 });
  const w1 = await open();
  for (let k = 0; k < 3; k++) w1.add([`img${k}.jpg`, `r${k}`, 100 + k, 5], syntheticRow(k));
  await w1.commit();
  // Crash simulation: rows appended and a keys file rewritten, but the manifest never committed them.
  const vdir = viewDir(dir, 'train', 0);
  await fs.appendFile(path.join(vdir, 'shard-00001.f16'), Buffer.alloc(1000, 0xff));
  await fs.writeFile(path.join(vdir, 'shard-00001.keys.json'), JSON.stringify({ rows: [['img2.jpg', 'r2', 102, 5], ['ghost.jpg', 'rg', 1, 1]] }));
  const beforeResume = await openFeatureCache(dir, 'train', 0);
  assert.deepEqual(beforeResume.keys, ['img0.jpg', 'img1.jpg', 'img2.jpg'], 'uncommitted keys are not visible');
  beforeResume.close();

  const w2 = await open();
  assert.ok(w2.isCurrent('img1.jpg', 101, 5));
  assert.ok(!w2.isCurrent('img1.jpg', 101, 6), 'a changed mtime is not current');
  assert.ok(!w2.isCurrent('ghost.jpg', 1, 1));
  assert.equal((await fs.stat(path.join(vdir, 'shard-00001.f16'))).size, 200704, 'trailing bytes cut back to the committed row');
  w2.add(['img3.jpg', 'r3', 103, 5], syntheticRow(3));
  w2.add(['img1.jpg', 'r1', 101, 6], syntheticRow(11)); // re-extracted after the file changed: supersedes
  await w2.finish({ finishedAt: 'now', listed: 5, missing: ['gone.jpg'], unreadable: [] });

  const cache = await openFeatureCache(dir, 'train', 0);
  assert.deepEqual(cache.keys, ['img0.jpg', 'img2.jpg', 'img3.jpg', 'img1.jpg']);
  assert.deepEqual(cache.recipeIds, ['r0', 'r2', 'r3', 'r1']);
  assert.deepEqual(cache.missing, ['gone.jpg']);
  assert.equal(cache.backboneHash, 'h1');
  assert.deepEqual(cache.transform, TEST_TRANSFORM);
  for (const [key, k] of [['img0.jpg', 0], ['img2.jpg', 2], ['img3.jpg', 3], ['img1.jpg', 11]] as const) {
    assert.deepEqual(cache.get(key), decodeFloat16(syntheticRow(k)), key);
  }
  assert.deepEqual(cache.getForRecipe('r3'), decodeFloat16(syntheticRow(3)));
  assert.equal(cache.get('ghost.jpg'), undefined);
  const batch = new Float32Array(2 * ROW_VALUES);
  assert.ok(cache.readInto('img3.jpg', batch, ROW_VALUES));
  assert.deepEqual(batch.subarray(ROW_VALUES), decodeFloat16(syntheticRow(3)));
  assert.ok(batch.subarray(0, ROW_VALUES).every((v) => v === 0));
  cache.close();
  const files = (await fs.readdir(vdir)).sort();
  assert.deepEqual(files, ['manifest.json', 'shard-00000.f16', 'shard-00000.keys.json', 'shard-00001.f16', 'shard-00001.keys.json', 'shard-00002.f16', 'shard-00002.keys.json']);
});

test('cache: another backbone hash discards the old rows; a missing cache is a UserError that says how to make it', async () => {
  const dir = await tempDir('rr-cache-');
  const w1 = await FeatureCacheWriter.open(dir, 'val', 0, { backboneHash: 'old', transform: TEST_TRANSFORM });
  w1.add(['a.jpg', 'ra', 1, 1], syntheticRow(1));
  await w1.commit();
  const lines: string[] = [];
  const w2 = await FeatureCacheWriter.open(dir, 'val', 0, { backboneHash: 'new', transform: TEST_TRANSFORM, log: (l) => lines.push(l) });
  assert.equal(w2.committed.size, 0);
  assert.match(lines.join('\n'), /other backbone weights; discarding/);
  await assert.rejects(openFeatureCache(dir, 'test', 0), /no feature cache for split test view 0 \(run: recipe-retrieval features/);
  await fs.writeFile(path.join(viewDir(dir, 'val', 0), 'manifest.json'), '{"format":"something-else"}');
  await assert.rejects(openFeatureCache(dir, 'val', 0), /manifest\.json: not a feature cache manifest/);
});

// ---------- extraction with the real backbone (wasm) ----------

/** A 6-recipe dataset: 3 real demo photos, 1 missing file, 1 undecodable file, 1 recipe without images. */
async function makeDataset(): Promise<{ root: string; names: string[] }> {
  const root = await tempDir('rr-features-');
  const demo = fromRoot('index-data', 'demo');
  const recipes = (await readRecipeFile(path.join(demo, 'test.pkl'))).slice(0, 3);
  const names = recipes.map((r) => r.images[0]);
  const place = async (name: string, bytes: Uint8Array) => {
    const dst = path.join(root, 'images', 'test', name[0], name[1], name[2], name[3], name);
    await fs.mkdir(path.dirname(dst), { recursive: true });
    await fs.writeFile(dst, bytes);
  };
  for (const name of names) await place(name, await fs.readFile(path.join(demo, 'images', 'test', name[0], name[1], name[2], name[3], name)));
  await place('badc0ffee0.jpg', Buffer.from('this is not a jpeg'));
  const entries = [
    ...recipes.map((r, i) => [`r${i}`, r.images[0]]),
    ['rmissing', 'feedface00.jpg'],
    ['rbroken', 'badc0ffee0.jpg'],
  ].map(([id, img]) => `'${id}': {'title': 't', 'ingredients': ['x'], 'instructions': ['y'], 'images': ['${img}']}`);
  entries.push(`'rnoimage': {'title': 't', 'ingredients': ['x'], 'instructions': ['y'], 'images': []}`);
  pythonPickle(path.join(root, 'test.pkl'), `{${entries.join(', ')}}`);
  return { root, names };
}

async function rows(cacheDir: string, view: number): Promise<Map<string, Float32Array>> {
  const cache = await openFeatureCache(cacheDir, 'test', view);
  const out = new Map(cache.keys.map((k) => [k, cache.get(k)!]));
  cache.close();
  return out;
}

test('extraction: full run, no-op re-run, and an interrupted run that resumes to the same content', async () => {
  const { root, names } = await makeDataset();
  const base: ExtractOptions = { root, split: 'test', cacheDir: '', views: 1, backend: 'wasm', batchSize: 2, seed: 5 };

  const cacheA = path.join(root, 'cacheA');
  const a = await extractFeatures({ ...base, cacheDir: cacheA });
  assert.equal(a.backend, 'wasm');
  assert.deepEqual(a.recipesWithoutImage, ['rnoimage']);
  assert.equal(a.stoppedEarly, undefined);
  for (const v of a.views) {
    assert.equal(v.extracted, 3);
    assert.deepEqual(v.missing, ['feedface00.jpg']);
    assert.deepEqual(v.unreadable.map((u) => u.name), ['badc0ffee0.jpg']);
    assert.match(v.unreadable[0].reason, /badc0ffee0\.jpg: .*not an image/);
    assert.equal(v.rowsInCache, 3);
  }

  // Re-run: nothing to do, files untouched.
  const shardA = path.join(viewDir(cacheA, 'test', 0), 'shard-00000.f16');
  const mtimeBefore = (await fs.stat(shardA)).mtimeMs;
  const again = await extractFeatures({ ...base, cacheDir: cacheA });
  assert.deepEqual(again.views.map((v) => [v.extracted, v.alreadyCached]), [[0, 3], [0, 3]]);
  assert.equal((await fs.stat(shardA)).mtimeMs, mtimeBefore);

  // Interrupted twice (by --limit, then by an abort signal), then finished.
  const cacheB = path.join(root, 'cacheB');
  const b1 = await extractFeatures({ ...base, cacheDir: cacheB, limit: 1, batchSize: 1, commitRows: 1 });
  assert.equal(b1.stoppedEarly, 'limit');
  assert.deepEqual(b1.views.map((v) => v.extracted), [1]);
  const abort = new AbortController();
  const b2 = await extractFeatures({
    ...base, cacheDir: cacheB, batchSize: 1, commitRows: 1, signal: abort.signal, progressIntervalMs: 0,
    log: (line) => /view 0: \d+\/\d+/.test(line) && abort.abort(),
  });
  assert.equal(b2.stoppedEarly, 'aborted');
  assert.ok(b2.views[0].extracted >= 1 && b2.views[0].extracted < 3, `aborted run extracted ${b2.views[0].extracted}`);
  const b3 = await extractFeatures({ ...base, cacheDir: cacheB });
  assert.equal(b3.stoppedEarly, undefined);
  assert.equal(b1.views[0].extracted + b2.views[0].extracted + b3.views[0].extracted, 3);
  assert.equal(b3.views[1].extracted, 3);

  for (const view of [0, 1]) {
    const ra = await rows(cacheA, view);
    const rb = await rows(cacheB, view);
    assert.deepEqual([...ra.keys()].sort(), [...names].sort());
    assert.deepEqual([...rb.keys()].sort(), [...names].sort());
    for (const name of names) {
      // Batches were composed differently (sizes 2 vs 1); allow a float16 ulp of kernel-order noise.
      const x = ra.get(name)!;
      const y = rb.get(name)!;
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (Math.abs(x[i]) + 1e-2));
      assert.ok(worst <= 2 ** -9, `view ${view} ${name}: relative difference ${worst}`);
    }
  }
  // The augmented view differs from the centre crop.
  const v0 = (await rows(cacheA, 0)).get(names[0])!;
  const v1 = (await rows(cacheA, 1)).get(names[0])!;
  assert.ok(v0.some((x, i) => Math.abs(x - v1[i]) > 0.1));
});

test('extraction: cached rows equal the backbone run directly on the test crop (HWC order, float16 precision)', async () => {
  const { root, names } = await makeDataset();
  const cacheDir = path.join(root, 'cache');
  await extractFeatures({ root, split: 'test', cacheDir, backend: 'wasm', limit: 1 });
  const cache = await openFeatureCache(cacheDir, 'test', 0);
  assert.deepEqual(cache.keys, [names[0]]);
  assert.equal(cache.keyForRecipe('r0'), names[0]);
  const backbone = await loadBackbone();
  const crop = await loadTestCrop(path.join(root, 'images', 'test', names[0][0], names[0][1], names[0][2], names[0][3], names[0]));
  const direct = tf.tidy(() => backbone.featureMaps(tf.tensor4d(toCaffeNhwc(crop), [1, 224, 224, 3])));
  const expected = await direct.data();
  direct.dispose();
  const got = cache.get(names[0])!;
  cache.close();
  for (let i = 0; i < expected.length; i++) {
    const bound = Math.abs(expected[i]) * 2 ** -11 + 2 ** -24;
    assert.ok(Math.abs(got[i] - expected[i]) <= bound, `value ${i}: ${got[i]} vs ${expected[i]}`);
  }
});

test('extraction: a photo replaced after extraction is re-extracted and its new row wins', async () => {
  const { root, names } = await makeDataset();
  const cacheDir = path.join(root, 'cache');
  await extractFeatures({ root, split: 'test', cacheDir, backend: 'wasm', limit: 1 });
  const file = path.join(root, 'images', 'test', names[0][0], names[0][1], names[0][2], names[0][3], names[0]);
  // Replace the photo with another one (as a user fixing a wrong image would).
  const other = path.join(root, 'images', 'test', names[1][0], names[1][1], names[1][2], names[1][3], names[1]);
  const before = (await rows(cacheDir, 0)).get(names[0])!;
  await fs.copyFile(other, file);
  const run = await extractFeatures({ root, split: 'test', cacheDir, backend: 'wasm', limit: 1 });
  assert.equal(run.views[0].extracted, 1);
  const cache = await openFeatureCache(cacheDir, 'test', 0);
  assert.deepEqual(cache.keys, [names[0]]);
  assert.ok(cache.get(names[0])!.some((x, i) => Math.abs(x - before[i]) > 0.1), 'the row changed');
  cache.close();
});

test('features command: text summary lists missing and unreadable images; --split is required', async () => {
  const { root } = await makeDataset();
  const cacheDir = path.join(root, 'cache');
  const ctx = { json: false, log: () => {} };
  await assert.rejects(featuresCommand.run({ values: {}, positionals: [root] }, ctx), /--split is required/);
  await assert.rejects(featuresCommand.run({ values: { split: 'dev' }, positionals: [root] }, ctx), /--split must be one of train, val, test/);
  const result = await featuresCommand.run({ values: { split: 'test', cache: cacheDir, limit: '0', backend: 'wasm' }, positionals: [root] }, ctx);
  assert.match(result.text, /view 0 \(test\): 0 extracted, 0 already cached, 1 missing, 0 unreadable/);
  assert.match(result.text, /missing: feedface00\.jpg/);
  assert.match(result.text, /stopped early \(--limit reached\)/);
});
