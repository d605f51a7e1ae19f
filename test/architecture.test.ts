import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { fromRoot } from '../src/util/paths.js';

/**
 * The layers of src/, lowest first (README "Architecture"). A module may import its own folder and
 * the layers below it, never a folder of its own layer or above: data flows up from the data
 * files to the CLI, and a lower layer cannot reach up into one that depends on it. A folder is
 * placed by its longest listed prefix, so `eval/runners` (which drive models over a dataset and so
 * need train/ and runtime/) sits high while the rest of `eval` (the protocol's maths) sits low.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['util'],
  ['data', 'tf', 'backbone'],
  ['model', 'onnx', 'features'],
  ['eval'],
  ['index'],
  ['model-format'],
  ['export', 'quantize'],
  ['import'],
  ['train'],
  ['runtime'],
  ['eval/runners', 'index/runners'],
  ['server', 'setup'],
  ['cli'],
];

interface ImportEdge {
  from: string;
  to: string;
}

const unitNames = LAYERS.flat().sort((a, b) => b.length - a.length);

/** The layer unit of a src-relative path (e.g. `eval/runners/evaluate-model.ts` -> `eval/runners`). */
function unitOf(srcPath: string): string | undefined {
  return unitNames.find((u) => srcPath === u || srcPath.startsWith(`${u}/`));
}

function layerOf(unit: string): number {
  return LAYERS.findIndex((layer) => layer.includes(unit));
}

/** Why an import breaks the layering, or undefined when it is allowed. */
function violation(edge: ImportEdge): string | undefined {
  if (edge.to.startsWith('../')) return `${edge.from} imports ${edge.to}, outside src/ (tests and scripts may import src/, never the reverse)`;
  const from = unitOf(edge.from);
  const to = unitOf(edge.to);
  if (!from) return `${edge.from}: its folder is in no layer (place it in LAYERS)`;
  if (!to) return `${edge.to}: its folder is in no layer (place it in LAYERS)`;
  if (from === to) return undefined;
  if (from === 'runtime' && (to === 'export' || to === 'train')) return `${edge.from} imports ${edge.to}: runtime/ reads models through model-format/, never export/ or train/`;
  if (layerOf(to) >= layerOf(from)) return `${edge.from} (${from}) imports ${edge.to} (${to}), a folder ${layerOf(to) === layerOf(from) ? 'of its own layer' : 'of a higher layer'}`;
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every relative import of src/ (static, re-exports, dynamic import()), as src-relative paths. */
function srcImports(): ImportEdge[] {
  const srcRoot = fromRoot('src');
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(srcRoot)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), ref.fileName.replace(/\.js$/, '.ts'));
      edges.push({ from: path.relative(srcRoot, file).split(path.sep).join('/'), to: path.relative(srcRoot, target).split(path.sep).join('/') });
    }
  }
  return edges;
}

test('layering: no module of src/ imports a folder of its own layer or a higher one', () => {
  const edges = srcImports();
  // The parser sees the imports (a broken walk would pass vacuously).
  assert.ok(edges.length > 500, `only ${edges.length} imports found`);
  assert.ok(edges.some((e) => e.from === 'cli/main.ts'), 'cli/main.ts imports nothing?');
  const problems = edges.map(violation).filter((v): v is string => v !== undefined);
  assert.deepEqual(problems, []);
});

test('layering: every folder of src/ is placed in a layer', () => {
  const srcRoot = fromRoot('src');
  const unplaced = sourceFiles(srcRoot).map((f) => path.relative(srcRoot, f).split(path.sep).join('/')).filter((f) => !unitOf(f));
  assert.deepEqual(unplaced, []);
});

test('layering: the rule refuses arrows that point up, across a layer, out of src/, or from runtime/ to a producer', () => {
  assert.match(violation({ from: 'data/dataset.ts', to: 'model/config.ts' })!, /higher layer/);
  assert.match(violation({ from: 'export/trained-model.ts', to: 'train/checkpoint.ts' })!, /higher layer/);
  assert.match(violation({ from: 'train/cli-flags.ts', to: 'cli/command.ts' })!, /higher layer/);
  assert.match(violation({ from: 'eval/protocol.ts', to: 'eval/runners/evaluate-model.ts' })!, /higher layer/);
  assert.match(violation({ from: 'setup/index-step.ts', to: 'server/app.ts' })!, /its own layer/);
  assert.match(violation({ from: 'runtime/model-pools.ts', to: 'export/manifest-blocks.ts' })!, /never export\/ or train\//);
  assert.match(violation({ from: 'index/store.ts', to: '../test/helpers/synthetic-vectors.ts' })!, /outside src/);
  assert.match(violation({ from: 'newfolder/x.ts', to: 'util/errors.ts' })!, /in no layer/);
  assert.equal(violation({ from: 'eval/runners/evaluate-export.ts', to: 'runtime/model-pools.ts' }), undefined);
  assert.equal(violation({ from: 'server/app.ts', to: 'eval/protocol.ts' }), undefined);
  assert.equal(violation({ from: 'eval/protocol.ts', to: 'eval/metrics.ts' }), undefined);
});
