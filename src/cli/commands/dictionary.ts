import { runDictionaryStage, type DictionaryStageSummary } from '../../train/dictionary-stage.js';
import { activateBackend } from '../backend-setup.js';
import type { Command } from '../command.js';
import { backendOption } from '../common-options.js';
import { readFlags } from '../flags.js';
import { defineOptions } from '../options.js';

const OPTIONS = defineOptions({
  run: { type: 'string', value: 'DIR', description: 'stage-1 run folder', required: 'the stage-1 run folder' },
  'labels-dir': { type: 'string', value: 'DIR', description: 'folder of the label files (default: the one the run was trained with)' },
  batch: { type: 'string', value: 'B', description: 'recipes per forward pass', default: 64, min: 1, max: 100_000 },
  backend: backendOption('auto'),
});

export const dictionaryCommand: Command = {
  name: 'dictionary',
  summary: 'stage 2a: build the ingredient dictionary D from a stage-1 model',
  help: `Usage: recipe-retrieval dictionary --run DIR <dataset-root> [options]

Runs the best weights of the stage-1 run DIR in eval mode over every training recipe (train.pkl
and train_noimages.pkl: id2pos_train covers both) and, for each ingredient line carrying label c
(id2pos_train), takes its line vector (the ingredient-line block's output). D[c] = their mean
([K, recipe width]). D is data, not a parameter: it is written to DIR/dictionary/ (a checkpoint
with group "dictionary", tensor "D", and the label names and counts in its meta).
Lines past the model's 20-line limit have no vector and are skipped. A label with no line keeps a
zero row: its V row is then Wv's bias alone, shared by every row, so D adds nothing for it.`,
  options: OPTIONS,
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const flags = readFlags(args, OPTIONS);
    const run = flags.string('run');
    await activateBackend(flags.string('backend'), ctx.log);
    const summary = await runDictionaryStage({
      run, root: args.positionals[0], labelsDir: flags.string('labels-dir'),
      batchSize: flags.int('batch'), log: ctx.log,
    });
    return { data: summary, text: formatSummary(summary) };
  },
};

function formatSummary(s: DictionaryStageSummary): string {
  const lines = [
    `Wrote D [${s.labels}, ${s.width}] to ${s.file} in ${s.seconds.toFixed(1)} s`,
    `${s.linesUsed} labelled ingredient lines of ${s.recipes} training recipes; line vectors per label: min ${s.countRange.min}, median ${s.countRange.median}, max ${s.countRange.max}`,
  ];
  if (s.linesBeyondLimit) lines.push(`${s.linesBeyondLimit} labelled line(s) past the 20-line limit skipped`);
  if (s.recipesWithoutPositions) lines.push(`${s.recipesWithoutPositions} training recipe(s) have no id2pos entry`);
  lines.push(s.emptyLabels.length
    ? `${s.emptyLabels.length} label(s) got no line vector and keep a zero row: ${s.emptyLabels.join(', ')}`
    : 'every label got at least one line vector');
  return lines.join('\n');
}
