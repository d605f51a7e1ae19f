import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DataFileError } from '../src/util/errors.js';
import { parseJsonText, readJsonFile } from '../src/util/json-file.js';

test('readJsonFile: parsed value, "not found" when absent, "not valid JSON (reason)" when malformed or unreadable', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'json-file-'));
  try {
    const good = path.join(dir, 'good.json');
    await writeFile(good, '{"a": [1, 2]}');
    assert.deepEqual(await readJsonFile(good), { a: [1, 2] });

    const absent = path.join(dir, 'absent.json');
    await assert.rejects(readJsonFile(absent), (err: unknown) => err instanceof DataFileError && err.message === `${absent}: not found`);

    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{"a": ');
    await assert.rejects(readJsonFile(bad), (err: unknown) => err instanceof DataFileError && /^.*bad\.json: not valid JSON \(.+\)$/.test(err.message));
    // A folder in the file's place: the read error's reason, in the same wording.
    await assert.rejects(readJsonFile(dir), (err: unknown) => err instanceof DataFileError && err.message.startsWith(`${dir}: not valid JSON (EISDIR`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('parseJsonText: the file named, the parser\'s reason kept', () => {
  assert.deepEqual(parseJsonText('x.json', '[true]'), [true]);
  let reason = '';
  try {
    JSON.parse('nope');
  } catch (err) {
    reason = (err as Error).message;
  }
  assert.throws(() => parseJsonText('x.json', 'nope'), (err: unknown) => err instanceof DataFileError && err.message === `x.json: not valid JSON (${reason})`);
});
