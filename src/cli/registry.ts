import type { Command } from './command.js';
import { inspectCommand } from './commands/inspect.js';
import { prepareLabelsCommand } from './commands/prepare-labels.js';

/** Every CLI command, in the order --help lists them. */
export const commands: Command[] = [inspectCommand, prepareLabelsCommand];
