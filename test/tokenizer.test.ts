import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fromRoot } from '../src/util/paths.js';
import { splitSentences, tokenizeForVocab, treebankWordTokenize } from '../src/data/text/tokenize.js';

interface Golden {
  text: string;
  line: string[];
  sentences: string[];
}

const goldens: Golden[] = readFileSync(fromRoot('test/fixtures/tokenizer/nltk-3.8.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Golden);

function rate(field: 'line' | 'sentences', tokenize: (t: string) => string[]): { rate: number; misses: string[] } {
  const misses: string[] = [];
  for (const g of goldens) {
    const got = tokenize(g.text);
    if (JSON.stringify(got) !== JSON.stringify(g[field])) {
      misses.push(`${JSON.stringify(g.text)}\n    want ${JSON.stringify(g[field])}\n    got  ${JSON.stringify(got)}`);
    }
  }
  return { rate: 1 - misses.length / goldens.length, misses };
}

test('goldens file is complete', () => {
  assert.equal(goldens.length, 6738);
});

test('treebank word tokenizer reproduces NLTK line tokens for every golden', () => {
  const { rate: r, misses } = rate('line', treebankWordTokenize);
  console.log(`line: ${(r * 100).toFixed(2)}% of ${goldens.length} (${misses.length} mismatches)`);
  for (const m of misses.slice(0, 5)) console.log(`  ${m}`);
  assert.equal(misses.length, 0);
});

test('punkt + treebank reproduces NLTK sentence tokens for >= 99.5% of goldens', () => {
  const { rate: r, misses } = rate('sentences', tokenizeForVocab);
  console.log(`sentences: ${(r * 100).toFixed(2)}% of ${goldens.length} (${misses.length} mismatches)`);
  for (const m of misses.slice(0, 5)) console.log(`  ${m}`);
  assert.ok(r >= 0.995, `sentence rate ${r}`);
});

test('NLTK documentation examples', () => {
  // word_tokenize's docstring example (untrained punkt splits it the same way as the trained model).
  assert.deepEqual(tokenizeForVocab('Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\n\nThanks.'), [
    'Good', 'muffins', 'cost', '$', '3.88', 'in', 'New', 'York', '.', 'Please', 'buy', 'me', 'two', 'of', 'them', '.', 'Thanks', '.',
  ]);
  assert.deepEqual(treebankWordTokenize("They'll save and invest more."), ['They', "'ll", 'save', 'and', 'invest', 'more', '.']);
  assert.deepEqual(treebankWordTokenize("hi, my name can't hello,"), ['hi', ',', 'my', 'name', 'ca', "n't", 'hello', ',']);
});

test('Python Unicode semantics: \\b, \\s and str.split() are not JavaScript\'s', () => {
  // "cannot" splits only at a word boundary; é is a word character in Python, so "écannot" stays whole.
  assert.deepEqual(treebankWordTokenize('cannot écannot'), ['can', 'not', 'écannot']);
  // Python's str.split() splits on \x1c and NBSP but not on U+FEFF (JS's \s does the opposite for U+FEFF).
  assert.deepEqual(treebankWordTokenize('a\x1cb\u00a0c\ufeffd'), ['a', 'b', 'c\ufeffd']);
});

test('untrained punkt: numbers and initials before lower-case words, initials before capitals, do not end sentences', () => {
  assert.deepEqual(splitSentences('bake at 350. then serve.'), ['bake at 350. then serve.']);
  assert.deepEqual(splitSentences('bake at 350. Then serve.'), ['bake at 350.', 'Then serve.']);
  assert.deepEqual(splitSentences('heat to 400 f. grease pan. serve'), ['heat to 400 f. grease pan.', 'serve']);
  assert.deepEqual(splitSentences('by J. Bach. enjoy'), ['by J. Bach.', 'enjoy']);
  assert.deepEqual(splitSentences('wait... then stir! done?'), ['wait... then stir!', 'done?']);
  assert.deepEqual(splitSentences('  '), []);
});
