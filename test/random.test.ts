import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { SeededRandom } from '../src/util/random.js';

// mulberry32 written independently in Python (unsigned 32-bit arithmetic) as the reference.
const PYTHON_MULBERRY32 = `
import json, sys
M = 0xFFFFFFFF
def imul(a, b): return (a * b) & M
out = {}
for seed in json.load(sys.stdin):
    s = seed & M
    values = []
    for _ in range(6):
        s = (s + 0x6D2B79F5) & M
        t = imul(s ^ (s >> 15), s | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & M)) & M
        values.append((t ^ (t >> 14)) & M)
    out[str(seed)] = values
print(json.dumps(out))`;

test('nextUint32 matches an independent mulberry32 for several seeds, including negative and large ones', () => {
  const seeds = [0, 1, 42, 2 ** 31, 4294967295, -1];
  const expected = JSON.parse(execFileSync('python3', ['-c', PYTHON_MULBERRY32], { input: JSON.stringify(seeds) }).toString()) as Record<string, number[]>;
  for (const seed of seeds) {
    const rng = new SeededRandom(seed);
    assert.deepEqual(Array.from({ length: 6 }, () => rng.nextUint32()), expected[String(seed)], `seed ${seed}`);
  }
  assert.notDeepEqual(expected['0'], expected['1']);
});

test('nextFloat is in [0, 1); nextInt is in range and roughly uniform; bad n throws', () => {
  const rng = new SeededRandom(123);
  const counts = new Array<number>(6).fill(0);
  for (let i = 0; i < 60000; i++) {
    const f = rng.nextFloat();
    assert.ok(f >= 0 && f < 1);
    counts[rng.nextInt(6)]++;
  }
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 500, `bucket count ${c}`);
  assert.equal(new SeededRandom(5).nextInt(1), 0);
  assert.throws(() => rng.nextInt(0), RangeError);
  assert.throws(() => rng.nextInt(2.5), RangeError);
  assert.throws(() => new SeededRandom(Number.NaN), RangeError);
});

test('shuffle is a reproducible permutation', () => {
  const a = new SeededRandom(9).shuffle(Array.from({ length: 50 }, (_, i) => i));
  const b = new SeededRandom(9).shuffle(Array.from({ length: 50 }, (_, i) => i));
  const c = new SeededRandom(10).shuffle(Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
});
