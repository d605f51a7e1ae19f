import { PRECISIONS, type Precision } from '../runtime/exported-model.js';
import type { ParseArgsConfig } from 'node:util';
import { isSplit, SPLITS, type Split } from '../data/recipe.js';
import type { Device } from '../runtime/session-factory.js';
import { BACKEND_REQUESTS, isBackendRequest, type BackendRequest } from '../tf/backend-names.js';
import { UserError } from '../util/errors.js';
import { readEvaluationFile, type ModelEvaluation } from '../export/model-evaluation.js';
import { portablePath } from '../util/portable-path.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** What a command's run() receives: parsed flags and positionals. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

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
  /** Full help text after the summary: usage line, arguments and options. */
  help: string;
  options: OptionSpec;
  positionals: { min: number; max: number };
  /** Let TF.js print its advice to install tfjs-node (commands whose speed it decides: train, features); others keep TF.js quiet. */
  tfjsAdvice?: boolean;
  run(args: ParsedArgs, ctx: CommandContext): Promise<CommandResult>;
}

/** Read a string flag, or undefined. */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Read an integer flag with bounds; the message names the flag. */
export function intFlag(args: ParsedArgs, name: string, fallback: number, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  const raw = stringFlag(args, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new FlagError(`--${name} must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new FlagError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export class FlagError extends UserError {}

/** --split: one of train, val, test; `fallback` when absent, required when there is none. */
export function splitFlag(args: ParsedArgs, fallback?: Split): Split {
  const split = stringFlag(args, 'split') ?? fallback;
  if (split === undefined) throw new FlagError(`--split is required (${SPLITS.join(', ')})`);
  if (!isSplit(split)) throw new FlagError(`--split must be one of ${SPLITS.join(', ')}, got "${split}"`);
  return split;
}

/** --backend: a TF.js backend request (`fallback` when absent). */
export function backendFlag(args: ParsedArgs, fallback: BackendRequest): BackendRequest {
  const backend = stringFlag(args, 'backend') ?? fallback;
  if (!isBackendRequest(backend)) throw new FlagError(`--backend must be one of ${BACKEND_REQUESTS.join(', ')}, got "${backend}"`);
  return backend;
}

export const DEVICES: readonly Device[] = ['auto', 'cuda', 'cpu'];

/** --precision of the image encoder (flag or environment value; fp32 when absent). */
export function precisionFlag(value: string | undefined): Precision {
  const precision = value ?? 'fp32';
  if (!(PRECISIONS as readonly string[]).includes(precision)) throw new FlagError(`--precision must be one of ${PRECISIONS.join(', ')}, got "${precision}"`);
  return precision as Precision;
}

/** --device for onnxruntime (flag or environment value; auto when absent). */
export function deviceFlag(value: string | undefined): Device {
  const device = value ?? 'auto';
  if (!(DEVICES as readonly string[]).includes(device)) throw new FlagError(`--device must be one of ${DEVICES.join(', ')}, got "${device}"`);
  return device as Device;
}

/** --evaluation FILE: an `evaluate --json` report, as the manifest records it; undefined when absent. */
export async function evaluationFlag(args: ParsedArgs): Promise<ModelEvaluation | undefined> {
  const file = stringFlag(args, 'evaluation');
  return file === undefined ? undefined : readEvaluationFile(file, portablePath(file));
}
