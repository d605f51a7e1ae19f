import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFlags, FlagError } from '../src/cli/flags.js';
import { commandHelp } from '../src/cli/main.js';
import { defineOptions, optionsHelp, parseArgsOptions } from '../src/cli/options.js';
import { commands } from '../src/cli/registry.js';

const OPTIONS = defineOptions({
  out: { type: 'string', value: 'DIR', description: 'output folder', required: 'e.g. --out x' },
  batch: { type: 'string', value: 'B', description: 'items per step (one step with all)', default: 8, min: 1, max: 64 },
  mode: { type: 'string', value: 'M', description: 'how', choices: ['fast', 'slow'], default: 'fast' },
  split: { type: 'string', value: 'S', description: '', choices: ['train', 'val', 'test'] },
  rate: { type: 'string', value: 'X', description: 'a rate' },
  decay: { type: 'string', value: 'X', description: 'a decay', min: 0 },
  port: { type: 'string', value: 'N', env: 'TEST_CLI_PORT', description: 'the port\n(0 = any free one)', default: 80, min: 0, max: 65535 },
  force: { type: 'boolean', description: 'overwrite' },
});

const flags = (values: Record<string, string | boolean>) => readFlags({ values, positionals: [] }, OPTIONS);

test('flag readers take defaults, bounds, choices and "required" from the declaration', () => {
  const none = flags({ out: 'o' });
  assert.equal(none.string('out'), 'o');
  assert.equal(none.int('batch'), 8);
  assert.equal(none.choice('mode'), 'fast');
  assert.equal(none.choice('split'), undefined);
  assert.equal(none.number('rate'), undefined);
  assert.equal(none.bool('force'), false);
  assert.equal(none.given('batch'), false);
  const given = flags({ out: 'o', batch: '64', mode: 'slow', split: 'val', rate: '0.5', decay: '0', force: true });
  assert.deepEqual(
    [given.int('batch'), given.choice('mode'), given.choice('split'), given.number('rate'), given.number('decay'), given.bool('force')],
    [64, 'slow', 'val', 0.5, 0, true],
  );
  const refused: [() => unknown, string][] = [
    [() => flags({}).string('out'), '--out is required (e.g. --out x)'],
    [() => flags({ out: '' }).string('out'), '--out is required (e.g. --out x)'],
    [() => flags({ batch: '65' }).int('batch'), '--batch must be between 1 and 64, got 65'],
    [() => flags({ batch: '2.5' }).int('batch'), '--batch must be an integer, got "2.5"'],
    [() => flags({ mode: 'medium' }).choice('mode'), '--mode must be fast or slow, got "medium"'],
    [() => flags({ split: 'dev' }).choice('split'), '--split must be one of train, val, test, got "dev"'],
    [() => flags({ rate: '0' }).number('rate'), '--rate must be a positive number, got "0"'],
    [() => flags({ decay: '-1' }).number('decay'), '--decay must be a non-negative number, got "-1"'],
  ];
  for (const [read, message] of refused) {
    assert.throws(read, (err: Error) => err instanceof FlagError && err.message === message, message);
  }
});

test('an option with an environment variable: the flag wins, then a non-empty variable, then the default', () => {
  const saved = process.env.TEST_CLI_PORT;
  try {
    delete process.env.TEST_CLI_PORT;
    assert.equal(flags({}).int('port'), 80);
    process.env.TEST_CLI_PORT = '';
    assert.equal(flags({}).int('port'), 80);
    process.env.TEST_CLI_PORT = '8081';
    assert.equal(flags({}).int('port'), 8081);
    assert.equal(flags({ port: '9' }).int('port'), 9);
    assert.equal(flags({}).given('port'), false);
    process.env.TEST_CLI_PORT = 'eighty';
    assert.throws(() => flags({}).int('port'), (err: Error) => err.message === '--port (or TEST_CLI_PORT) must be an integer, got "eighty"');
  } finally {
    if (saved === undefined) delete process.env.TEST_CLI_PORT;
    else process.env.TEST_CLI_PORT = saved;
  }
});

test('--help lines are made from the declarations: choices, environment variable, default, required', () => {
  assert.equal(optionsHelp(OPTIONS, [{ text: 'Forcing:', options: ['force'] }]), [
    '  --out DIR  output folder (required)',
    '  --batch B  items per step (default 8; one step with all)',
    '  --mode M   fast | slow: how (default fast)',
    '  --split S  train | val | test',
    '  --rate X   a rate',
    '  --decay X  a decay',
    '  --port N   the port [TEST_CLI_PORT]',
    '             (default 80; 0 = any free one)',
    '',
    'Forcing:',
    '  --force    overwrite',
  ].join('\n'));
  assert.deepEqual(parseArgsOptions(OPTIONS).force, { type: 'boolean' });
  assert.deepEqual(parseArgsOptions(OPTIONS).port, { type: 'string' });
});

test('every command lists each of its options once in --help, and its sections name only its options', () => {
  for (const cmd of commands) {
    const help = commandHelp(cmd);
    for (const name of [...Object.keys(cmd.options), 'json', 'help']) {
      assert.equal(help.split('\n').filter((line) => new RegExp(`^  --${name}( |$)`).test(line)).length, 1, `${cmd.name} --${name}`);
    }
    for (const section of cmd.optionSections ?? []) {
      for (const name of section.options) assert.ok(Object.hasOwn(cmd.options, name), `${cmd.name}: section names --${name}`);
    }
  }
});
