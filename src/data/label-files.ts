import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DataFileError } from '../util/errors.js';
import { describe } from './dataset.js';
import { readPickleFile, type PickleValue } from './pickle/pickle.js';
import type { Split } from './recipe.js';

/** Find `ing2label_topk{K}.pkl` in a folder; with several, the one with the largest K. */
export async function findIng2LabelFile(dir: string): Promise<string | undefined> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const matches = names
    .map((n) => /^ing2label_topk(\d+)\.pkl$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  return matches.length ? path.join(dir, matches[0][0]) : undefined;
}

/** ing2label: dict name -> label; labels must be exactly 0..K-1, each used once. Returns names by label. */
export async function readIng2Label(file: string): Promise<string[]> {
  const value = await readPickleFile(file);
  if (!(value instanceof Map)) throw new DataFileError(file, `expected a dict ingredient name -> label, got ${describe(value)}`);
  const names: string[] = new Array(value.size);
  for (const [name, label] of value) {
    if (typeof name !== 'string') throw new DataFileError(file, `key ${JSON.stringify(name)} is not an ingredient name (str)`);
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= value.size) {
      throw new DataFileError(file, `"${name}" has label ${String(label)}, expected an int in 0..${value.size - 1}`);
    }
    if (names[label] !== undefined) throw new DataFileError(file, `label ${label} is given to both "${names[label]}" and "${name}"`);
    names[label] = name;
  }
  return names;
}

/** id2labels_{split}: dict recipe id -> list of labels present. */
export async function readId2Labels(file: string, numLabels: number): Promise<Map<string, number[]>> {
  const value = await readPickleFile(file);
  if (!(value instanceof Map)) throw new DataFileError(file, `expected a dict recipe id -> list of labels, got ${describe(value)}`);
  const out = new Map<string, number[]>();
  for (const [id, labels] of value) {
    if (typeof id !== 'string') throw new DataFileError(file, `key ${JSON.stringify(id)} is not a recipe id (str)`);
    if (!Array.isArray(labels)) throw new DataFileError(file, `recipe ${id}: expected a list of labels, got ${describe(labels)}`);
    out.set(id, labels.map((l) => checkLabel(l, numLabels, file, id)));
  }
  return out;
}

/**
 * id2pos_train: dict recipe id -> which ingredient line carries which label. Our writer stores a dict
 * {line index -> label}; a list of such one-entry dicts or of [index, label] pairs is accepted too.
 */
export async function readId2Pos(file: string, numLabels: number): Promise<Map<string, Map<number, number>>> {
  const value = await readPickleFile(file);
  if (!(value instanceof Map)) throw new DataFileError(file, `expected a dict recipe id -> line positions, got ${describe(value)}`);
  const out = new Map<string, Map<number, number>>();
  for (const [id, positions] of value) {
    if (typeof id !== 'string') throw new DataFileError(file, `key ${JSON.stringify(id)} is not a recipe id (str)`);
    const lines = new Map<number, number>();
    const add = (line: PickleValue, label: PickleValue) => {
      if (typeof line !== 'number' || !Number.isInteger(line) || line < 0) throw new DataFileError(file, `recipe ${id}: line index ${String(line)} is not a non-negative int`);
      lines.set(line, checkLabel(label, numLabels, file, id));
    };
    const entries = Array.isArray(positions) ? positions : [positions];
    for (const entry of entries) {
      if (entry instanceof Map) for (const [line, label] of entry) add(line, label);
      else if (Array.isArray(entry) && entry.length === 2) add(entry[0], entry[1]);
      else throw new DataFileError(file, `recipe ${id}: expected {line index: label}, got ${describe(entry)}`);
    }
    out.set(id, lines);
  }
  return out;
}

function checkLabel(label: PickleValue, numLabels: number, file: string, id: string): number {
  if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= numLabels) {
    throw new DataFileError(file, `recipe ${id}: label ${String(label)} is outside 0..${numLabels - 1}`);
  }
  return label;
}

export function id2LabelsFile(dir: string, split: Split): string {
  return path.join(dir, `id2labels_${split}.pkl`);
}

export function id2PosFile(dir: string): string {
  return path.join(dir, 'id2pos_train.pkl');
}
