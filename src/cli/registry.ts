import type { Command } from './command.js';
import { dictionaryCommand } from './commands/dictionary.js';
import { evaluateCommand } from './commands/evaluate.js';
import { exportBackboneCommand } from './commands/export-backbone.js';
import { exportCommand } from './commands/export.js';
import { importCheckpointCommand } from './commands/import-checkpoint.js';
import { indexCommand } from './commands/index.js';
import { serveCommand } from './commands/serve.js';
import { setupCommand } from './commands/setup.js';
import { startCommand } from './commands/start.js';
import { featuresCommand } from './commands/features.js';
import { inspectCommand } from './commands/inspect.js';
import { prepareLabelsCommand } from './commands/prepare-labels.js';
import { quantizeCommand } from './commands/quantize.js';
import { trainCommand } from './commands/train.js';
import { verifyExportCommand } from './commands/verify-export.js';
import { verifyTrainStepCommand } from './commands/verify-train-step.js';

/**
 * Every CLI command, in the order --help lists them (the order of the training pipeline), all
 * loaded. The CLI itself loads only the command it runs, through command-loaders.ts (same names,
 * same order: test/cli.test.ts).
 */
export const commands: Command[] = [
  inspectCommand,
  prepareLabelsCommand,
  featuresCommand,
  trainCommand,
  dictionaryCommand,
  evaluateCommand,
  exportBackboneCommand,
  exportCommand,
  verifyExportCommand,
  quantizeCommand,
  verifyTrainStepCommand,
  importCheckpointCommand,
  indexCommand,
  serveCommand,
  setupCommand,
  startCommand,
];
