import { PRECISIONS, type Precision } from '../model-format/exported-model.js';
import { readEvaluationFile, type ModelEvaluation } from '../model-format/model-evaluation.js';
import { portablePath } from '../util/portable-path.js';
import { FlagError, type ParsedArgs } from './flags.js';
import type { Options, OptionSection } from './options.js';

export { FlagError, type ParsedArgs } from './flags.js';

/** A command's outcome: `data` is printed as JSON under --json, `text` otherwise. */
export interface CommandResult {
  data: unknown;
  text: string;
  /** Non-zero: the result is printed (text or JSON) and the process still exits with this code. */
  exitCode?: number;
}

export interface CommandContext {
  json: boolean;
  /** Progress and diagnostics go to stderr so that stdout stays machine-readable. */
  log: (line: string) => void;
}

export interface Command {
  name: string;
  summary: string;
  /** Help after the summary: the usage line and what the command does. The option list follows, made from `options`. */
  help: string;
  /** Every option, declared once: parseArgs, --help and the flag readers all read these. */
  options: Options;
  /** Options explained by a paragraph of their own, listed after the others. */
  optionSections?: readonly OptionSection[];
  /** Help after the option list. */
  helpNotes?: string;
  positionals: { min: number; max: number };
  /** Let TF.js print its advice to install tfjs-node (commands whose speed it decides: train, features); others keep TF.js quiet. */
  tfjsAdvice?: boolean;
  run(args: ParsedArgs, ctx: CommandContext): Promise<CommandResult>;
}

/** --precision of the image encoder (flag or environment value; fp32 when absent). */
export function precisionFlag(value: string | undefined): Precision {
  const precision = value ?? 'fp32';
  if (!(PRECISIONS as readonly string[]).includes(precision)) throw new FlagError(`--precision must be one of ${PRECISIONS.join(', ')}, got "${precision}"`);
  return precision as Precision;
}

/** --evaluation FILE: an `evaluate --json` report, as the manifest records it; undefined when absent. */
export async function evaluationFlag(file: string | undefined): Promise<ModelEvaluation | undefined> {
  return file === undefined ? undefined : readEvaluationFile(file, portablePath(file));
}
