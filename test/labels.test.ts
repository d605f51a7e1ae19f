import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { prepareLabelsCommand } from '../src/cli/commands/prepare-labels.js';
import { buildLabelTables, rankNames } from '../src/data/labels/build-labels.js';
import { parseIngredientLine } from '../src/data/labels/ingredient-parser.js';
import { prepareLabels } from '../src/data/labels/prepare-labels.js';
import { singularise } from '../src/data/labels/singularise.js';
import { readId2Labels, readId2Pos, readIng2Label } from '../src/data/label-files.js';
import { writePickleFile } from '../src/data/pickle/pickle.js';
import { UserError } from '../src/util/errors.js';
import { fromRoot } from '../src/util/paths.js';
import { python } from './helpers/python.js';

/** Hand-written expectations: demo-data lines and the brief's examples. null = no ingredient name. */
const PARSES: [string, string | null][] = [
  ['2 cups all-purpose flour', 'flour'],
  ['1 (14.5 ounce) can diced tomatoes, drained', 'tomato'],
  ['salt and pepper to taste', 'salt and pepper'],
  ['salt & pepper (to taste)', 'salt and pepper'],
  ['salt and freshly ground black pepper', 'salt and pepper'],
  ['~150g (1/3 lb) bacon cubes', 'bacon'],
  ['2 tbsp. olive oil', 'olive oil'],
  ['1/2 tsp baking soda', 'baking soda'],
  ['3 large eggs, beaten', 'egg'],
  ['400g (15 oz) potatoes (firm/waxy)', 'potato'],
  ['a pinch of nutmeg', 'nutmeg'],
  ['½ cup sugar', 'sugar'],
  ['1-2 cloves garlic, minced', 'garlic'],
  ['4 garlic cloves', 'garlic'],
  ['1 tsp cloves', 'clove'],
  ['1 stick (½ cup / 113g) unsalted butter', 'butter'],
  ['1 cup/240 milliliters crème fraîche or heavy cream', 'creme fraiche'],
  ['32 oz / 950ml chicken stock or broth', 'chicken broth'],
  ['1 can chickpeas / garbanzo beans, drained', 'chickpea'],
  ['1 can of black or pinto beans', 'black bean'],
  ['100g butter or margarine', 'butter'],
  ['brown sugar: 1tbsp', 'brown sugar'],
  ['bay leaves: 2', 'bay leaf'],
  ['2 bayleaves', 'bay leaf'],
  ['olive oil, 1 teaspoon', 'olive oil'],
  ['lemon juice 1 tbsp', 'lemon juice'],
  ['juice of 2-3 limes', 'lime juice'],
  ['lemon juice from half a lemon', 'lemon juice'],
  ['50 ml of extra virgin olive oil', 'olive oil'],
  ['5g of table salt', 'salt'],
  ['1 1/2 tsp kosher salt', 'salt'],
  ['2 and 1/4 teaspoons active dry yeast', 'yeast'],
  ['½ cup + 2 tablespoons (150ml) cold whole milk', 'milk'],
  ['1 15oz can diced tomatoes (or 1 large diced tomato with skin removed)', 'tomato'],
  ['5 green onions, chopped', 'green onion'],
  ['1 bunch scallions', 'green onion'],
  ['1 spring onion', 'green onion'],
  ['1 bunch of cilantro, chopped', 'cilantro'],
  ['250g coriander leaves', 'cilantro'],
  ['1/4 cup powdered sugar', 'powdered sugar'],
  ["1 cup confectioners' sugar", 'powdered sugar'],
  ['(optional) icing sugar', 'powdered sugar'],
  ['1 courgette', 'zucchini'],
  ['1 cup fresh blueberries', 'blueberry'],
  ['2 tbsp molasses', 'molasses'],
  ['1 cup couscous', 'couscous'],
  ['1/2 cup hummus', 'hummus'],
  ['1 bunch asparagus, trimmed', 'asparagus'],
  ['4 slices swiss cheese', 'swiss cheese'],
  ['1 pound ground beef (preferably 90/10 or 93/7)', 'ground beef'],
  ['1 lb. ground beef', 'ground beef'],
  ['1 tsp ground cumin', 'cumin'],
  ['2 tbsp red pepper flakes', 'red pepper flake'],
  ['1 jalapeño pepper', 'jalapeno pepper'],
  ['¾t cayenne pepper', 'cayenne pepper'],
  ['2 (32 oz) chicken broth', 'chicken broth'],
  ['1 12 oz. bottle of beer', 'beer'],
  ['1 kg / 2 lbs potatoes', 'potato'],
  ['6 rashers of bacon (optional)', 'bacon'],
  ['a tea-spoonful of rose-water.', 'rose water'],
  ['1 can (10-3/4 ounces) condensed cream of chicken soup, undiluted', 'cream of chicken soup'],
  ['1 can of condensed milk (370g)', 'condensed milk'],
  ['sesame seeds as a garnish (optional)', 'sesame seed'],
  ['water to thin peanut sauce', 'water'],
  ['8 cups chicken broth + 2 cups water', 'chicken broth'],
  ['3/4 cup low fat plain yogurt', 'yogurt'],
  ['1 cup un-cooked grits', 'grits'],
  ['dried thyme and rosemary', 'thyme'],
  ['4 kaffir lime leaves', 'kaffir lime leaf'],
  ['10-12 radishes', 'radish'],
  ['2 peaches', 'peach'],
  ['1 red chilli, deseeded and diced', 'chili'],
  ['up to 1/3 cup water, chilled', 'water'],
  ['seafood, choose from:', null],
  ['for the bechamel', null],
  ['(spices)', null],
  ['2 cups', null],
  ['1 recipe of your favorite tuna salad', null],
];

test('parseIngredientLine: the table of tricky lines', () => {
  assert.ok(PARSES.length >= 40);
  const wrong = PARSES.map(([line, want]) => ({ line, want, got: parseIngredientLine(line) })).filter((r) => r.got !== r.want);
  assert.deepEqual(wrong, []);
});

test('singularise: suffix rules and the words that only look plural', () => {
  const cases: [string, string][] = [
    ['tomatoes', 'tomato'], ['potatoes', 'potato'], ['berries', 'berry'], ['leaves', 'leaf'], ['olives', 'olive'],
    ['radishes', 'radish'], ['glasses', 'glass'], ['cheeses', 'cheese'], ['chilies', 'chili'], ['cookies', 'cookie'],
    ['molasses', 'molasses'], ['couscous', 'couscous'], ['hummus', 'hummus'], ['asparagus', 'asparagus'],
    ['swiss', 'swiss'], ['grass', 'grass'], ['egg', 'egg'],
  ];
  for (const [plural, singular] of cases) assert.equal(singularise(plural), singular, plural);
});

test('sample-parses.tsv still matches the parser (rerun scripts/sample-label-parses.ts after changing the rules)', async () => {
  const rows = (await readFile(fromRoot('test', 'fixtures', 'labels', 'sample-parses.tsv'), 'utf8')).trimEnd().split('\n').slice(1);
  assert.equal(rows.length, 30);
  for (const row of rows) {
    const [line, name] = row.split('\t');
    assert.equal(parseIngredientLine(line) ?? '-', name, `line "${line}"`);
  }
});

/** A Recipe1M split pickle's value: id -> {title, ingredients, instructions, images}. */
function splitValue(recipes: Record<string, string[]>): Map<string, Map<string, unknown>> {
  return new Map(
    Object.entries(recipes).map(([id, ingredients]) => [
      id,
      new Map<string, unknown>([['title', `recipe ${id}`], ['ingredients', ingredients], ['instructions', ['mix.']], ['images', []]]),
    ]),
  );
}

/**
 * Hand-counted: training recipes listing each name are egg 3, flour 2, milk 2, salt 2 (r1 lists salt
 * twice: counts once), basil 1, butter 1, sugar 1; onion is only in val. K = 5 keeps
 * egg 0, flour 1, milk 2, salt 3 (ties by name), basil 4.
 */
const SYNTHETIC = {
  train: {
    r000000001: ['2 cups flour', '1 tsp salt', 'salt to taste', '3 eggs'],
    r000000002: ['1 cup sugar', '2 eggs, beaten', 'a pinch of salt'],
    r000000003: ['1 cup milk', '2 tbsp butter'],
  },
  train_noimages: {
    t000000001: ['3 cups flour', '1 cup milk', 'for the topping:'],
    t000000002: ['basil', '1 egg'],
  },
  val: {
    v000000001: ['1 cup sugar', '1 onion'],
    v000000002: ['2 eggs'],
  },
};

async function syntheticDataset(extra: Record<string, Record<string, string[]>> = {}): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'labels-test-'));
  for (const [name, recipes] of Object.entries({ ...SYNTHETIC, ...extra })) {
    await writePickleFile(path.join(root, `${name}.pkl`), splitValue(recipes), { protocol: 4 });
  }
  return root;
}

test('rankNames counts recipes, not lines, and breaks ties by name', () => {
  const ranked = rankNames([['b', 'a', 'a', null], ['c', 'b'], ['a', 'c']]);
  assert.deepEqual(ranked, [
    { name: 'a', count: 2 },
    { name: 'b', count: 2 },
    { name: 'c', count: 2 },
  ]);
});

test('prepareLabels on a synthetic dataset: hand-counted labels, positions and coverage', async () => {
  const root = await syntheticDataset();
  try {
    const { tables, files } = await prepareLabels(root, { topK: 5 });
    assert.deepEqual(files.map((f) => path.basename(f)), ['id2labels_train.pkl', 'id2labels_val.pkl', 'id2pos_train.pkl', 'ing2label_topk5.pkl']);
    assert.deepEqual(await readIng2Label(path.join(root, 'ing2label_topk5.pkl')), ['egg', 'flour', 'milk', 'salt', 'basil']);
    const train = await readId2Labels(path.join(root, 'id2labels_train.pkl'), 5);
    assert.deepEqual(Object.fromEntries(train), {
      r000000001: [0, 1, 3],
      r000000002: [0, 3],
      r000000003: [2],
      t000000001: [1, 2],
      t000000002: [0, 4],
    });
    const val = await readId2Labels(path.join(root, 'id2labels_val.pkl'), 5);
    assert.deepEqual(Object.fromEntries(val), { v000000001: [], v000000002: [0] });
    const pos = await readId2Pos(path.join(root, 'id2pos_train.pkl'), 5);
    assert.deepEqual(
      Object.fromEntries([...pos].map(([id, lines]) => [id, Object.fromEntries(lines)])),
      {
        r000000001: { 0: 1, 1: 3, 2: 3, 3: 0 },
        r000000002: { 1: 0, 2: 3 },
        r000000003: { 0: 2 },
        t000000001: { 0: 1, 1: 2 },
        t000000002: { 0: 4, 1: 0 },
      },
    );
    const { coverage } = tables;
    assert.equal(coverage.distinctNames, 7);
    assert.equal(coverage.numLabels, 5);
    assert.equal(coverage.kthCount, 1);
    assert.deepEqual(coverage.splits.map((s) => [s.split, s.recipes, s.recipesWithLabel, s.lines, s.parsedLines, s.labelledLines]), [
      ['train', 5, 5, 14, 13, 11],
      ['val', 2, 1, 3, 3, 1],
    ]);
    assert.equal(coverage.splits[0].lineShare, 11 / 14);

    // A second build must not silently replace the files; --force does.
    await assert.rejects(prepareLabels(root, { topK: 5 }), (err: Error) => err instanceof UserError && /already exist.*--force/.test(err.message));
    await prepareLabels(root, { topK: 5, force: true });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('buildLabelTables with K above the number of names keeps them all', async () => {
  const tables = buildLabelTables([{ split: 'train', recipes: [{ id: 'x', ingredients: ['1 egg', 'salt', 'salt'] }] }], 10);
  assert.deepEqual([...tables.ing2label], [['egg', 0], ['salt', 1]]);
  assert.equal(tables.coverage.numLabels, 2);
  assert.deepEqual([...tables.id2pos.get('x')!], [[0, 0], [1, 1], [2, 1]]);
});

test('prepareLabels refuses a dataset without train and a recipe id in both train files', async () => {
  const noTrain = await mkdtemp(path.join(tmpdir(), 'labels-test-'));
  const clash = await syntheticDataset({ train_noimages: { r000000001: ['1 egg'] } });
  try {
    await writePickleFile(path.join(noTrain, 'val.pkl'), splitValue(SYNTHETIC.val), { protocol: 4 });
    await assert.rejects(prepareLabels(noTrain, { topK: 5 }), (err: Error) => err instanceof UserError && /no train\.pkl/.test(err.message));
    await assert.rejects(
      prepareLabels(clash, { topK: 5 }),
      (err: Error) => err instanceof UserError && err.message.includes('train_noimages.pkl') && err.message.includes('r000000001'),
    );
  } finally {
    await rm(noTrain, { recursive: true, force: true });
    await rm(clash, { recursive: true, force: true });
  }
});

test('prepare-labels command: --out, summary text, --top-k required', async () => {
  const root = await syntheticDataset();
  const out = path.join(root, 'labels');
  try {
    const ctx = { json: false, log: () => {} };
    await assert.rejects(prepareLabelsCommand.run({ values: {}, positionals: [root] }, ctx), /--top-k is required/);
    const result = await prepareLabelsCommand.run({ values: { 'top-k': '3', out }, positionals: [root] }, ctx);
    assert.ok(await stat(path.join(out, 'ing2label_topk3.pkl')));
    await assert.rejects(stat(path.join(root, 'ing2label_topk3.pkl')));
    assert.match(result.text, /7 distinct ingredient names in train; kept 3/);
    assert.match(result.text, /\n\s+0 {2}egg\s+3\n\s+1 {2}flour\s+2\n\s+2 {2}milk\s+2$/);
    assert.deepEqual((result.data as { topNames: unknown }).topNames, [
      { name: 'egg', count: 3 },
      { name: 'flour', count: 2 },
      { name: 'milk', count: 2 },
    ]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

/** Read the label files back with Python's own pickle: types, id sets against the split pickles, and the content. */
const PYTHON_CHECK = `
import json, pickle, sys, os
data, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
load = lambda d, n: pickle.load(open(os.path.join(d, n), 'rb'))
ing = load(out, 'ing2label_topk%d.pkl' % k)
res = {'ing2label': {'type': type(ing).__name__, 'strKeys': all(type(x) is str for x in ing),
       'labels': sorted(set(ing.values())) == list(range(len(ing))) and all(type(v) is int for v in ing.values()), 'content': ing}}
for s in ['train', 'val', 'test']:
    labels = load(out, 'id2labels_%s.pkl' % s)
    paired, text = load(data, s + '.pkl'), load(data, s + '_noimages.pkl')
    res[s] = {'paired': len(paired), 'textOnly': len(text), 'sameIds': set(labels) == set(paired) | set(text),
              'lists': all(type(v) is list and v == sorted(set(v)) and all(type(x) is int and 0 <= x < k for x in v) for v in labels.values()),
              'content': labels}
pos = load(out, 'id2pos_train.pkl')
train = load(out, 'id2labels_train.pkl')
lines = {**{i: r['ingredients'] for i, r in load(data, 'train.pkl').items()}, **{i: r['ingredients'] for i, r in load(data, 'train_noimages.pkl').items()}}
res['id2pos'] = {'indicesInRange': all(0 <= a < len(lines[i]) for i, v in pos.items() for a in v),'dicts': all(type(v) is dict and all(type(a) is int and type(b) is int for a, b in v.items()) for v in pos.values()),
                 'matchesLabels': all(sorted(set(pos[i].values())) == train[i] for i in train) and set(pos) == set(train),
                 'lines': sum(len(v) for v in pos.values())}
print(json.dumps(res))
`;

test('demo dataset, K=100: files read back alike by our reader and by python3', async () => {
  const demo = fromRoot('index-data', 'demo');
  const out = await mkdtemp(path.join(tmpdir(), 'labels-demo-'));
  try {
    const { tables } = await prepareLabels(demo, { topK: 100, outDir: out });
    const py = JSON.parse(python(PYTHON_CHECK, [demo, out, '100']));
    assert.deepEqual(py.ing2label.type, 'dict');
    assert.ok(py.ing2label.strKeys && py.ing2label.labels);
    assert.deepEqual([py.train.paired, py.train.textOnly, py.val.paired, py.val.textOnly, py.test.paired, py.test.textOnly], [89, 176, 21, 36, 28, 57]);
    for (const s of ['train', 'val', 'test']) assert.ok(py[s].sameIds && py[s].lists, s);
    assert.ok(py.id2pos.dicts && py.id2pos.matchesLabels && py.id2pos.indicesInRange);

    const names = await readIng2Label(path.join(out, 'ing2label_topk100.pkl'));
    assert.equal(names.length, 100);
    assert.deepEqual(Object.fromEntries(names.map((n, label) => [n, label])), py.ing2label.content);
    for (const s of ['train', 'val', 'test'] as const) {
      const ours = await readId2Labels(path.join(out, `id2labels_${s}.pkl`), 100);
      assert.equal(ours.size, py[s].paired + py[s].textOnly);
      assert.deepEqual(Object.fromEntries(ours), py[s].content, s);
    }
    const pos = await readId2Pos(path.join(out, 'id2pos_train.pkl'), 100);
    assert.equal(pos.size, 265);

    // The reported coverage is what the files hold, and the parser finds names in nearly every line.
    const train = tables.coverage.splits.find((s) => s.split === 'train')!;
    assert.equal(train.labelledLines, py.id2pos.lines);
    assert.equal(train.recipesWithLabel, Object.values(py.train.content as Record<string, number[]>).filter((l) => l.length > 0).length);
    for (const s of tables.coverage.splits) {
      assert.ok(s.parsedLines / s.lines > 0.95, `${s.split}: parsed ${s.parsedLines}/${s.lines}`);
      assert.ok(s.lineShare > 0.5 && s.recipeShare > 0.9, `${s.split}: line share ${s.lineShare}, recipe share ${s.recipeShare}`);
    }
    assert.deepEqual(names.slice(0, 5).sort(), ['butter', 'egg', 'flour', 'garlic', 'onion']);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
