import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromRoot } from '../src/util/paths.js';
import { DataFileError } from '../src/util/errors.js';
import { Vocabulary, buildVocabulary, loadVocabulary, saveVocabulary } from '../src/data/text/vocabulary.js';
import { encodeRecipe, encodeText, TITLE_MAX_IDS } from '../src/data/text/encode.js';
import { batchRecipes } from '../src/data/text/batch.js';

const PUBLISHED = fromRoot('models/recipe1m-vocab/vocab.pkl');
// Ids of a few words in the published vocab, read with Python's own pickle module.
const ID = { two: 8, cups: 54, flour: 251, period: 23, mix: 65, well: 513, bake: 94, salt: 166 };
const UNK = 16302;

const published = await loadVocabulary(PUBLISHED);
const tmp = mkdtempSync(path.join(tmpdir(), 'vocab-test-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function python(script: string, ...args: string[]): string {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
}

/** Write a pickle with Python itself, from a Python expression. */
function pythonPickle(name: string, expr: string): string {
  const file = path.join(tmp, name);
  python(`import pickle,sys; pickle.dump(${expr}, open(sys.argv[1], "wb"), protocol=4)`, file);
  return file;
}

test('published Recipe1M vocab loads with its special tokens in place', () => {
  assert.equal(published.size, 16303);
  assert.deepEqual([0, 1, 2, 16302].map((id) => published.wordOf(id)), ['<pad>', '<start>', '<end>', '<unk>']);
  assert.equal(published.unkId, UNK);
  assert.equal(published.idOf('flour'), ID.flour);
  assert.equal(published.wordOf(3), 'kombu');
  assert.equal(published.idOf('no-such-word-xyz'), UNK);
});

test('malformed vocab pickles are rejected naming the file and the problem', async () => {
  const cases: [string, string, RegExp][] = [
    ['gap.pkl', '{0:"<pad>",1:"<start>",2:"<end>",4:"a",5:"<unk>"}', /id 5 outside 0\.\.4/],
    ['specials.pkl', '{0:"<pad>",1:"<end>",2:"<start>",3:"<unk>"}', /id 1 is "<end>", expected "<start>"/],
    ['nounk.pkl', '{0:"<pad>",1:"<start>",2:"<end>",3:"a"}', /last id 3 is "a"/],
    ['dup.pkl', '{0:"<pad>",1:"<start>",2:"<end>",3:"a",4:"a",5:"<unk>"}', /word "a" has two ids \(3 and 4\)/],
    ['strkeys.pkl', '{"0":"<pad>"}', /not an integer id/],
    ['list.pkl', '["<pad>","<start>","<end>","<unk>"]', /expected a pickled dict/],
  ];
  for (const [name, expr, message] of cases) {
    const file = pythonPickle(name, expr);
    await assert.rejects(loadVocabulary(file), (err: unknown) => {
      assert.ok(err instanceof DataFileError, `${name}: ${String(err)}`);
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, message);
      return true;
    });
  }
});

test('buildVocabulary keeps words seen minCount times, in first-occurrence order, <unk> last', () => {
  const vocab = buildVocabulary(['Mix the flour.', 'mix the sugar', 'the flour, sifted'], 2);
  assert.deepEqual(vocab.words, ['<pad>', '<start>', '<end>', 'mix', 'the', 'flour', '<unk>']);
  const all = buildVocabulary(['Mix the flour.'], 1);
  assert.deepEqual(all.words, ['<pad>', '<start>', '<end>', 'mix', 'the', 'flour', '.', '<unk>']);
  assert.throws(() => buildVocabulary([], 0), /positive integer/);
});

test('saveVocabulary writes a protocol-4 int -> str dict that Python and loadVocabulary read back', async () => {
  const vocab = buildVocabulary(['crème brûlée, 2 cups', "don't stir"], 1);
  const file = path.join(tmp, 'saved-vocab.pkl');
  await saveVocabulary(vocab, file);
  const fromPython = python(
    'import pickle,sys,json; b=open(sys.argv[1],"rb").read(); d=pickle.loads(b); ' +
      'print(json.dumps({"proto": b[1], "keys": list(d), "words": [d[k] for k in sorted(d)]}))',
    file,
  );
  const parsed = JSON.parse(fromPython) as { proto: number; keys: number[]; words: string[] };
  assert.equal(parsed.proto, 4);
  assert.deepEqual(parsed.keys, vocab.words.map((_, i) => i));
  assert.deepEqual(parsed.words, vocab.words);
  assert.deepEqual((await loadVocabulary(file)).words, vocab.words);
});

test('encodeText: lower-case, <start> ids <end>, unknown words -> <unk>, sentence periods split', () => {
  assert.deepEqual(encodeText('2 cups flour', published), [1, ID.two, ID.cups, ID.flour, 2]);
  assert.deepEqual(encodeText('2 Cups FLOUR', published), [1, ID.two, ID.cups, ID.flour, 2]);
  assert.deepEqual(encodeText('2 cups zzqxflour', published), [1, ID.two, ID.cups, UNK, 2]);
  assert.deepEqual(encodeText('mix well. bake.', published), [1, ID.mix, ID.well, ID.period, ID.bake, ID.period, 2]);
  assert.deepEqual(encodeText('', published), [1, 2]);
});

test('truncation keeps the first ids, cutting <end> when the text is too long', () => {
  const words = (n: number) => Array.from({ length: n }, () => 'salt').join(' ');
  const fits = encodeText(words(13), published, TITLE_MAX_IDS);
  assert.equal(fits.length, 15);
  assert.equal(fits.at(-1), 2);
  const long = encodeText(words(20), published, TITLE_MAX_IDS);
  assert.deepEqual(long, [1, ...Array(14).fill(ID.salt)]);
});

test('encodeRecipe applies the paper limits to titles, line counts and line lengths', () => {
  const longLine = Array(30).fill('flour').join(' ');
  const encoded = encodeRecipe(
    {
      title: longLine,
      ingredients: Array.from({ length: 25 }, (_, i) => (i === 0 ? '2 cups flour' : `${i} salt`)),
      instructions: [longLine],
    },
    published,
  );
  assert.equal(encoded.title.length, 15);
  assert.equal(encoded.ingredients.length, 20);
  assert.deepEqual(encoded.ingredients[0], [1, ID.two, ID.cups, ID.flour, 2]);
  assert.equal(encoded.instructions.length, 1);
  assert.equal(encoded.instructions[0].length, 15);
  const custom = encodeRecipe({ title: 'salt', ingredients: ['a', 'b', 'c'], instructions: [] }, published, { maxIngredientLines: 2, titleMaxIds: 2 });
  assert.deepEqual(custom.title, [1, ID.salt]);
  assert.equal(custom.ingredients.length, 2);
});

test('batchRecipes pads to batch maxima with 0, masks real ids and lines, keeps a line slot for empty lists', () => {
  const a = encodeRecipe({ title: '2 cups flour', ingredients: ['salt', '2 cups flour'], instructions: ['mix well.'] }, published);
  const b = encodeRecipe({ title: 'salt', ingredients: ['flour'], instructions: [] }, published);
  const batch = batchRecipes([a, b]);
  assert.equal(batch.size, 2);
  assert.deepEqual(batch.title.shape, [2, 5]);
  assert.deepEqual([...batch.title.ids], [1, ID.two, ID.cups, ID.flour, 2, 1, ID.salt, 2, 0, 0]);
  assert.deepEqual([...batch.title.mask], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);

  assert.deepEqual(batch.ingredients.shape, [2, 2, 5]);
  assert.deepEqual([...batch.ingredients.ids], [
    1, ID.salt, 2, 0, 0, /**/ 1, ID.two, ID.cups, ID.flour, 2,
    1, ID.flour, 2, 0, 0, /**/ 0, 0, 0, 0, 0,
  ]);
  assert.deepEqual([...batch.ingredients.lineMask], [1, 1, 1, 0]);
  assert.deepEqual([...batch.ingredients.wordMask].slice(10), [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);

  // b has no instructions: its single slot is all padding and masked out.
  assert.deepEqual(batch.instructions.shape, [2, 1, 5]);
  assert.deepEqual([...batch.instructions.ids], [1, ID.mix, ID.well, ID.period, 2, 0, 0, 0, 0, 0]);
  assert.deepEqual([...batch.instructions.lineMask], [1, 0]);

  const bothEmpty = batchRecipes([b, b]);
  assert.deepEqual(bothEmpty.instructions.shape, [2, 1, 1]);
  assert.deepEqual([...bothEmpty.instructions.ids], [0, 0]);
  assert.deepEqual([...bothEmpty.instructions.lineMask], [0, 0]);
});

test('Vocabulary constructor refuses a list without the special layout', () => {
  assert.throws(() => new Vocabulary(['<pad>', '<start>', '<end>']), /need at least 4/);
  assert.throws(() => new Vocabulary(['<start>', '<pad>', '<end>', '<unk>']), /id 0 is "<start>"/);
});
