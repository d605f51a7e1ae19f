import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RecipeDataset, recipe1mImagePath } from '../src/data/dataset.js';
import { findIng2LabelFile, readId2Labels, readId2Pos, readIng2Label } from '../src/data/label-files.js';
import { DataFileError, UserError } from '../src/util/errors.js';
import { fromRoot } from '../src/util/paths.js';
import { pythonPickle } from './helpers/python.js';

const demoRoot = fromRoot('index-data', 'demo');

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'rr-dataset-'));
}

test('demo dataset: split sizes, fields and image tree', async () => {
  const ds = await RecipeDataset.open(demoRoot);
  assert.equal(ds.imageRoot, path.join(demoRoot, 'images'));
  const counts = [];
  for (const split of ['train', 'val', 'test'] as const) {
    counts.push([(await ds.readPaired(split)).length, (await ds.readTextOnly(split)).length]);
  }
  assert.deepEqual(counts, [[89, 176], [21, 36], [28, 57]]);
  const test0 = (await ds.readPaired('test'))[0];
  assert.match(test0.id, /^[0-9a-f]{10}$/);
  assert.ok(test0.ingredients.length > 0 && test0.instructions.length > 0 && test0.images.length > 0);
  const first = ds.firstImagePath('test', test0);
  const name = test0.images[0];
  assert.equal(first, path.join(demoRoot, 'images', 'test', name[0], name[1], name[2], name[3], name));
  await fs.access(first);
});

test('image check counts every listed image of the demo: 160 found, 0 missing', async () => {
  const ds = await RecipeDataset.open(demoRoot);
  let found = 0;
  let missing = 0;
  for (const split of ['train', 'val', 'test'] as const) {
    const check = await ds.checkImages(split, await ds.readPaired(split));
    found += check.found;
    missing += check.missing.length;
  }
  assert.equal(found, 160);
  assert.equal(missing, 0);
});

test('a missing image is counted and named, not thrown', async () => {
  const dir = await tempDir();
  await fs.mkdir(path.join(dir, 'images', 'test', 'a', 'b', 'c', 'd'), { recursive: true });
  await fs.writeFile(path.join(dir, 'images', 'test', 'a', 'b', 'c', 'd', 'abcdef0001.jpg'), 'x');
  pythonPickle(
    path.join(dir, 'test.pkl'),
    `{'r1': {'title':'t','ingredients':['a'],'instructions':['b'],'images':['abcdef0001.jpg','abcdef0002.jpg']},
      'r2': {'title':'u','ingredients':[],'instructions':[],'images':['ffff000000.jpg']}}`,
  );
  const ds = await RecipeDataset.open(dir);
  const recipes = await ds.readPaired('test');
  assert.deepEqual(await ds.checkImages('test', recipes), { listed: 3, found: 1, missing: ['abcdef0002.jpg', 'ffff000000.jpg'] });
  assert.deepEqual(await ds.checkImages('test', recipes, 'first'), { listed: 2, found: 1, missing: ['ffff000000.jpg'] });
  assert.deepEqual(await ds.readTextOnly('test'), [], 'absent _noimages file means no text-only recipes');
});

test('malformed split files give errors naming the file, recipe and field', async () => {
  const dir = await tempDir();
  const file = path.join(dir, 'val.pkl');
  const cases: [string, RegExp][] = [
    [`['not', 'a', 'dict']`, /val\.pkl: expected a dict of recipe id -> recipe, got a list/],
    [`{'r1': {'title': 3, 'ingredients': [], 'instructions': []}}`, /val\.pkl: recipe r1: "title" must be a string, got a number/],
    [`{'r1': {'title': 't', 'instructions': []}}`, /recipe r1: "ingredients" must be a list of strings, got nothing \(field missing\)/],
    [`{'r1': {'title': 't', 'ingredients': ['a', 5], 'instructions': []}}`, /recipe r1: "ingredients" holds a number, expected strings/],
    [`{7: {'title': 't', 'ingredients': [], 'instructions': []}}`, /recipe key 7 is not a non-empty string id/],
  ];
  const ds = await RecipeDataset.open(dir);
  for (const [expr, message] of cases) {
    pythonPickle(file, expr);
    await assert.rejects(ds.readPaired('val'), (err: unknown) => err instanceof DataFileError && message.test(err.message));
  }
  await assert.rejects(ds.readPaired('train'), (err: unknown) => err instanceof DataFileError && /train\.pkl: file not found/.test(err.message));
  await assert.rejects(RecipeDataset.open(path.join(dir, 'nope')), UserError);
});

test('image names cannot escape the image tree', () => {
  assert.equal(recipe1mImagePath('/data', 'train', '3e233001e2.jpg'), path.join('/data', 'train', '3', 'e', '2', '3', '3e233001e2.jpg'));
  for (const bad of ['../../etc/passwd', 'ab/cdef.jpg', '.hidden.jpg', 'a..b.jpg', 'abc', '']) {
    assert.throws(() => recipe1mImagePath('/data', 'train', bad), UserError, bad);
  }
});

test('label files: seed formats are read and validated', async () => {
  const dir = await tempDir();
  pythonPickle(path.join(dir, 'ing2label_topk3.pkl'), `{'salt': 0, 'flour': 1, 'egg': 2}`);
  pythonPickle(path.join(dir, 'ing2label_topk2.pkl'), `{'salt': 0, 'flour': 1}`);
  pythonPickle(path.join(dir, 'id2labels_train.pkl'), `{'r1': [0, 2], 'r2': []}`);
  pythonPickle(path.join(dir, 'id2pos_train.pkl'), `{'r1': {0: 2, 3: 0}, 'r2': [{1: 1}, {4: 2}], 'r3': [(0, 1)]}`);
  const ing = await findIng2LabelFile(dir);
  assert.equal(ing, path.join(dir, 'ing2label_topk3.pkl'), 'largest K wins');
  const names = await readIng2Label(ing!);
  assert.deepEqual(names, ['salt', 'flour', 'egg']);
  assert.deepEqual([...(await readId2Labels(path.join(dir, 'id2labels_train.pkl'), 3))], [['r1', [0, 2]], ['r2', []]]);
  const pos = await readId2Pos(path.join(dir, 'id2pos_train.pkl'), 3);
  assert.deepEqual([...pos.get('r1')!], [[0, 2], [3, 0]]);
  assert.deepEqual([...pos.get('r2')!], [[1, 1], [4, 2]]);
  assert.deepEqual([...pos.get('r3')!], [[0, 1]]);

  pythonPickle(path.join(dir, 'bad.pkl'), `{'salt': 0, 'flour': 0}`);
  await assert.rejects(readIng2Label(path.join(dir, 'bad.pkl')), /label 0 is given to both "salt" and "flour"/);
  pythonPickle(path.join(dir, 'bad.pkl'), `{'r1': [0, 9]}`);
  await assert.rejects(readId2Labels(path.join(dir, 'bad.pkl'), 3), /bad\.pkl: recipe r1: label 9 is outside 0\.\.2/);
});
