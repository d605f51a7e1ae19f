/**
 * Time readPickleFile on a Recipe1M-sized split and write bench-results/pickle.json.
 * python3 generates the file (protocol 4, like the real Recipe1M pickles) from the demo recipes'
 * text so string lengths are realistic: 51,304 recipes (the Recipe1M test split) by default.
 * Usage: node dist/scripts/bench-pickle.js [--recipes N] [--repeats N]
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Parser, BufferReader } from 'pickleparser';
import { readPickleFile, type PickleValue } from '../src/data/pickle/pickle.js';
import { scanPickle } from '../src/data/pickle/scan.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import { fromRoot } from '../src/util/paths.js';

/**
 * Recipes drawn from the demo splits: every string is a fresh object (pickle memoizes by identity,
 * and real Recipe1M strings are all distinct), ids and image names are random hex like Recipe1M's,
 * instructions are split into sentences (Recipe1M's instruction items are mostly single sentences).
 * Prints a JSON summary the benchmark checks the parsed result against.
 */
const GENERATOR = String.raw`
import json, os, pickle, random, re, sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
titles, ings, sents = [], [], []
splits = [src + '/' + s + suffix + '.pkl' for s in ('train', 'val', 'test') for suffix in ('', '_noimages')]
for f in [f for f in splits if os.path.exists(f)]:
    for r in pickle.load(open(f, 'rb')).values():
        titles.append(r['title']); ings.extend(r['ingredients'])
        for line in r['instructions']:
            sents.extend(s for s in re.split(r'(?<=\.)\s+', line) if s)
rng = random.Random(1234)
fresh = lambda s: s.encode().decode()
def count(mean, lo, hi):
    return max(lo, min(hi, int(rng.expovariate(1 / (mean - lo + 0.5))) + lo))
hexid = lambda: '%010x' % rng.getrandbits(40)
data = {}
while len(data) < n:
    data[hexid()] = {
        'ingredients': [fresh(rng.choice(ings)) for _ in range(count(9, 1, 20))],
        'title': fresh(rng.choice(titles)),
        'instructions': [fresh(rng.choice(sents)) for _ in range(count(10, 1, 20))],
        'images': [hexid() + '.jpg' for _ in range(rng.randint(1, 4))],
    }
with open(out, 'wb') as fh:
    pickle.dump(data, fh, protocol=4)
last = list(data)[-1]
print(json.dumps({'recipes': len(data), 'lines': sum(len(r['ingredients']) + len(r['instructions']) for r in data.values()),
                  'last_id': last, 'last': data[last]}))
`;

interface GeneratorSummary {
  recipes: number;
  lines: number;
  last_id: string;
  last: Record<string, string | string[]>;
}

function checkParsed(value: PickleValue, expected: GeneratorSummary): void {
  if (!(value instanceof Map) || value.size !== expected.recipes) throw new Error('parsed pickle has the wrong number of recipes');
  let lines = 0;
  for (const recipe of value.values()) {
    const r = recipe as Map<string, PickleValue>;
    lines += (r.get('ingredients') as string[]).length + (r.get('instructions') as string[]).length;
  }
  if (lines !== expected.lines) throw new Error(`parsed ${lines} text lines, python wrote ${expected.lines}`);
  const last = value.get(expected.last_id) as Map<string, PickleValue>;
  if (JSON.stringify(Object.fromEntries(last)) !== JSON.stringify(expected.last)) throw new Error('last recipe differs from what python wrote');
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function time<T>(run: () => T): [T, number] {
  const start = performance.now();
  const value = run();
  return [value, performance.now() - start];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { recipes: { type: 'string', default: '51304' }, repeats: { type: 'string', default: '3' } } });
  const recipes = Number(values.recipes);
  const repeats = Math.max(1, Number(values.repeats));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-pickle-'));
  try {
    const generator = path.join(dir, 'generate.py');
    const file = path.join(dir, 'test.pkl');
    await fs.writeFile(generator, GENERATOR);
    const [stdout, generateMs] = time(() =>
      execFileSync('python3', [generator, fromRoot('index-data', 'demo'), file, String(recipes)], { encoding: 'utf8', maxBuffer: 1 << 24 }),
    );
    const expected = JSON.parse(stdout) as GeneratorSummary;
    const bytes = (await fs.stat(file)).size;
    const mb = bytes / 1e6;
    console.log(`generated ${expected.recipes} recipes, ${round(mb)} MB, in ${round(generateMs / 1000)} s`);

    // The first read is what a CLI run pays (cold JIT); peak RSS is taken right after it.
    const readMs: number[] = [];
    let start = performance.now();
    const first = await readPickleFile(file);
    readMs.push(performance.now() - start);
    const peakRssMB = process.resourceUsage().maxRSS / 1024;
    checkParsed(first, expected);
    for (let i = 1; i < repeats; i++) {
      start = performance.now();
      await readPickleFile(file);
      readMs.push(performance.now() - start);
    }

    // Where the time goes: our validating scan alone, and bare pickleparser on the same bytes.
    const buffer = await fs.readFile(file);
    const [, scanMs] = time(() => scanPickle(buffer, file));
    const [, pickleparserMs] = time(() => new Parser({ unpicklingTypeOfDictionary: 'Map' }).read(new BufferReader(buffer)));

    const result = {
      recipes: expected.recipes,
      pickleBytes: bytes,
      protocol: 4,
      readMs: { first: round(readMs[0]), median: round(median(readMs)), all: readMs.map((ms) => round(ms)) },
      mbPerSecond: round(mb / (median(readMs) / 1000)),
      recipesPerSecond: Math.round(expected.recipes / (median(readMs) / 1000)),
      peakRssMB: round(peakRssMB),
      scanOnlyMs: round(scanMs),
      barePickleparserMs: round(pickleparserMs),
      machine: { cpus: os.cpus().length, loadavg1: round(os.loadavg()[0], 2), node: process.version },
      measuredAt: new Date().toISOString(),
    };
    console.log(
      `read: first ${result.readMs.first} ms, median ${result.readMs.median} ms of ${repeats} (${result.mbPerSecond} MB/s, ` +
        `${result.recipesPerSecond} recipes/s); peak RSS ${result.peakRssMB} MB; scan alone ${result.scanOnlyMs} ms; ` +
        `bare pickleparser ${result.barePickleparserMs} ms`,
    );
    const out = fromRoot('bench-results', 'pickle.json');
    await writeFileAtomic(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), out)}`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
