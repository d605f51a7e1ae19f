import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commands } from '../src/cli/registry.js';
import { runCli } from './helpers/cli.js';

test('inspect --json reports the demo dataset: 89/21/28 paired, 176/36/57 text-only, 160 images, 0 missing', () => {
  const run = runCli(['inspect', 'index-data/demo', '--json']);
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.deepEqual(
    report.splits.map((s: { split: string; pairedRecipes: number; textOnlyRecipes: number }) => [s.split, s.pairedRecipes, s.textOnlyRecipes]),
    [['train', 89, 176], ['val', 21, 36], ['test', 28, 57]],
  );
  assert.equal(report.totals.imagesFound, 160);
  assert.equal(report.totals.imagesMissing, 0);
  for (const s of report.splits) {
    assert.ok(s.vocabCoverage.share > 0.95 && s.vocabCoverage.share < 1, `vocab coverage ${s.vocabCoverage.share}`);
  }
});

test('every command has --help that exits 0 and names its usage', () => {
  for (const cmd of commands) {
    const run = runCli([cmd.name, '--help']);
    assert.equal(run.status, 0, `${cmd.name}: ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`Usage: recipe-retrieval ${cmd.name}`));
    assert.match(run.stdout, /--json/);
  }
  const top = runCli(['--help']);
  assert.equal(top.status, 0);
  for (const cmd of commands) assert.match(top.stdout, new RegExp(`\\n  ${cmd.name}\\s`));
});

test('failures exit non-zero with a one-line reason on stderr', () => {
  const cases: [string[], number, RegExp][] = [
    [['inspect', 'no/such/folder'], 1, /^recipe-retrieval inspect: no\/such\/folder: dataset folder not found\n$/],
    [['inspect', 'index-data/demo', '--bogus'], 2, /^recipe-retrieval inspect: Unknown option '--bogus'.*\n$/],
    [['inspect'], 2, /^recipe-retrieval inspect: expected 1 argument\(s\), got 0 \(see --help\)\n$/],
    [['frobnicate'], 2, /^recipe-retrieval: unknown command "frobnicate"/],
    [['inspect', 'index-data/demo', '--vocab', 'index-data/demo/SOURCE.md'], 1, /^recipe-retrieval inspect: .*SOURCE\.md: .*\n$/],
  ];
  for (const [args, status, stderr] of cases) {
    const run = runCli(args);
    assert.equal(run.status, status, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, stderr);
    assert.equal(run.stdout, '');
  }
});
