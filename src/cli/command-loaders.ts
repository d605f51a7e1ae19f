import type { Command } from './command.js';

/**
 * Each command's module, loaded only when that command runs. A command module imports its whole
 * stack (the training commands TF.js, ~0.5 s), and `serve` must start without TF.js: the serve
 * images do not ship it. The listing (--help) loads them all through src/cli/registry.ts; a test
 * checks that both name the same commands.
 */
export const COMMAND_LOADERS: Readonly<Record<string, () => Promise<Command>>> = {
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
  'prepare-labels': async () => (await import('./commands/prepare-labels.js')).prepareLabelsCommand,
  features: async () => (await import('./commands/features.js')).featuresCommand,
  train: async () => (await import('./commands/train.js')).trainCommand,
  dictionary: async () => (await import('./commands/dictionary.js')).dictionaryCommand,
  evaluate: async () => (await import('./commands/evaluate.js')).evaluateCommand,
  'export-backbone': async () => (await import('./commands/export-backbone.js')).exportBackboneCommand,
  export: async () => (await import('./commands/export.js')).exportCommand,
  'verify-export': async () => (await import('./commands/verify-export.js')).verifyExportCommand,
  quantize: async () => (await import('./commands/quantize.js')).quantizeCommand,
  'verify-train-step': async () => (await import('./commands/verify-train-step.js')).verifyTrainStepCommand,
  'import-checkpoint': async () => (await import('./commands/import-checkpoint.js')).importCheckpointCommand,
  index: async () => (await import('./commands/index.js')).indexCommand,
  serve: async () => (await import('./commands/serve.js')).serveCommand,
  setup: async () => (await import('./commands/setup.js')).setupCommand,
  start: async () => (await import('./commands/start.js')).startCommand,
};

/** The command of that name, its module loaded; undefined when there is none. */
export function loadCommand(name: string): Promise<Command> | undefined {
  return Object.hasOwn(COMMAND_LOADERS, name) ? COMMAND_LOADERS[name]() : undefined;
}
