import { FlagError, stringFlag, type ParsedArgs } from '../cli/command.js';

/** A positive finite number flag (learning rates, weight decay). */
export function numberFlag(args: ParsedArgs, name: string, opts: { min?: number; allowZero?: boolean } = {}): number | undefined {
  const raw = stringFlag(args, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const min = opts.min ?? 0;
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || (n === 0 && !opts.allowZero)) {
    throw new FlagError(`--${name} must be a ${opts.allowZero ? 'non-negative' : 'positive'} number, got "${raw}"`);
  }
  return n;
}

/** A subset size: a positive integer or "all". */
export function subsetSizeFlag(args: ParsedArgs, name: string): number | 'all' | undefined {
  const raw = stringFlag(args, name);
  if (raw === undefined) return undefined;
  if (raw === 'all') return 'all';
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new FlagError(`--${name} must be a positive integer or "all", got "${raw}"`);
  return Number(raw);
}
