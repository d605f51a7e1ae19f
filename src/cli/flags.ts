import { UserError } from '../util/errors.js';
import type { Option, Options } from './options.js';

/** What a command's run() receives: parsed flags and positionals. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export class FlagError extends UserError {}

/** A value that is always there: the option is required or has a default. */
type Present<O> = O extends { required: string } ? true : O extends { default: string | number } ? true : false;
type Maybe<O, T> = Present<O> extends true ? T : T | undefined;
type Choice<O> = O extends { choices: readonly (infer C)[] } ? C : string;

/**
 * Reads a command's flags through its declarations (options.ts): the default, the bounds, the
 * choices, the environment variable and "required" come from there. Each reader refuses a bad value
 * with a one-line message naming the flag.
 */
export class Flags<O extends Options> {
  constructor(private readonly args: ParsedArgs, private readonly options: O) {}

  /** Whether the flag itself was given (environment and defaults aside). */
  given(name: keyof O & string): boolean {
    return this.args.values[name] !== undefined;
  }

  /** The flag's text, else its environment variable's (when set and not empty); undefined otherwise. */
  raw(name: keyof O & string): string | undefined {
    const v = this.args.values[name];
    if (typeof v === 'string') return v;
    const env = this.option(name).env;
    const fromEnv = env === undefined ? undefined : process.env[env];
    return fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
  }

  bool(name: keyof O & string): boolean {
    return this.args.values[name] === true;
  }

  /** The flag's text, or its default; a required one refused when absent. */
  string<K extends keyof O & string>(name: K): Maybe<O[K], string> {
    const raw = this.raw(name);
    const o = this.option(name);
    // An empty value of a required flag (--out '') is as good as none.
    if (raw !== undefined && !(raw === '' && o.required !== undefined)) return raw;
    this.checkRequired(name, o);
    return (o.default === undefined ? undefined : String(o.default)) as Maybe<O[K], string>;
  }

  /** One of the declared choices (message: "one of a, b, c", or "a or b" for two). */
  choice<K extends keyof O & string>(name: K): Maybe<O[K], Choice<O[K]>> {
    const value = this.string(name);
    const choices = this.option(name).choices ?? [];
    if (value !== undefined && !choices.includes(value)) {
      const allowed = choices.length === 2 ? choices.join(' or ') : `one of ${choices.join(', ')}`;
      throw new FlagError(`--${name} must be ${allowed}, got "${value}"`);
    }
    return value as Maybe<O[K], Choice<O[K]>>;
  }

  /** An integer within the declared bounds (environment values: digits only). */
  int<K extends keyof O & string>(name: K): Maybe<O[K], number> {
    const raw = this.raw(name);
    const o = this.option(name);
    if (raw === undefined) {
      this.checkRequired(name, o);
      return o.default as Maybe<O[K], number>;
    }
    const flag = o.env === undefined ? `--${name}` : `--${name} (or ${o.env})`;
    if (!(o.env === undefined ? /^-?\d+$/ : /^\d+$/).test(raw.trim())) throw new FlagError(`${flag} must be an integer, got "${raw}"`);
    const n = Number(raw);
    const min = o.min ?? Number.MIN_SAFE_INTEGER;
    const max = o.max ?? Number.MAX_SAFE_INTEGER;
    if (n < min || n > max) throw new FlagError(`${flag} must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  /** A positive finite number (zero too when the declared minimum is 0). */
  number<K extends keyof O & string>(name: K): Maybe<O[K], number> {
    const raw = this.raw(name);
    const o = this.option(name);
    if (raw === undefined) return o.default as Maybe<O[K], number>;
    const n = Number(raw);
    const allowZero = o.min === 0;
    if (raw.trim() === '' || !Number.isFinite(n) || n < (o.min ?? 0) || (n === 0 && !allowZero)) {
      throw new FlagError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got "${raw}"`);
    }
    return n;
  }

  /** A subset size: a positive integer or "all". */
  subsetSize(name: keyof O & string): number | 'all' | undefined {
    const raw = this.raw(name);
    if (raw === undefined) return undefined;
    if (raw === 'all') return 'all';
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new FlagError(`--${name} must be a positive integer or "all", got "${raw}"`);
    return Number(raw);
  }

  private option(name: string): Option {
    return this.options[name];
  }

  private checkRequired(name: string, o: Option): void {
    if (o.required !== undefined) throw new FlagError(`--${name} is required (${o.required})`);
  }
}

/** The flags of a command's run(), read through its option declarations. */
export function readFlags<O extends Options>(args: ParsedArgs, options: O): Flags<O> {
  return new Flags(args, options);
}
