import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMAND_LOADERS } from '../src/cli/command-loaders.js';
import { commands } from '../src/cli/registry.js';
import { runCli } from './helpers/cli.js';
import { trainingOnlyPackages, withoutPackages } from './helpers/serve-packages.js';

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

test('the CLI loads only the command it runs: its loaders name the registry\'s commands, in order', async () => {
  assert.deepEqual(Object.keys(COMMAND_LOADERS), commands.map((c) => c.name));
  for (const cmd of commands) assert.equal(await COMMAND_LOADERS[cmd.name](), cmd, cmd.name);
  // Where TF.js is not installed (the serve images), serve still runs and the training commands say why they cannot.
  const env = withoutPackages(trainingOnlyPackages());
  assert.equal(runCli(['serve', '--help'], { env }).status, 0);
  const train = runCli(['train', '--help'], { env });
  assert.equal(train.status, 1);
  assert.match(train.stderr, /^recipe-retrieval train: not available in this installation: Cannot find package '@tensorflow\/tfjs'.*\n$/);
  const top = runCli(['--help'], { env });
  assert.equal(top.status, 0, top.stderr);
  assert.match(top.stdout, /\n {2}serve {2,}run the HTTP retrieval server/);
  assert.match(top.stdout, /\n {2}train {2,}\(unavailable here: Cannot find package '@tensorflow\/tfjs'/);
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
