import { BACKEND_REQUESTS } from '../../tf/backend.js';
import { activateBackend } from '../../train/backend-setup.js';
import { runDictionaryStage, type DictionaryStageSummary } from '../../train/dictionary-stage.js';
import { FlagError, intFlag, stringFlag, type Command } from '../command.js';

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
zero row: its V row is then Wv's bias alone, shared by every row, so D adds nothing for it.

  --run DIR          stage-1 run folder (required)
  --labels-dir DIR   folder of the label files (default: the one the run was trained with)
  --batch B          recipes per forward pass (default 64)
  --backend B        ${BACKEND_REQUESTS.join(' | ')} (default auto)`,
  options: { run: { type: 'string' }, 'labels-dir': { type: 'string' }, batch: { type: 'string' }, backend: { type: 'string' } },
  positionals: { min: 1, max: 1 },
  async run(args, ctx) {
    const run = stringFlag(args, 'run');
    if (run === undefined) throw new FlagError('--run is required (the stage-1 run folder)');
    await activateBackend(stringFlag(args, 'backend') ?? 'auto', ctx.log);
    const summary = await runDictionaryStage({
      run, root: args.positionals[0], labelsDir: stringFlag(args, 'labels-dir'),
      batchSize: intFlag(args, 'batch', 64, 1, 100_000), log: ctx.log,
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
