import type { ParseArgsConfig } from 'node:util';

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

import { UserError } from '../util/errors.js';
export class FlagError extends UserError {}
