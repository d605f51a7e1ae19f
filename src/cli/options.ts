import type { ParseArgsConfig } from 'node:util';

/**
 * One command-line option, declared once: the CLI builds node:util parseArgs' options and the
 * command's --help from it, and the flag readers (flags.ts) take its default, bounds, choices and
 * environment variable from it, so no flag is written twice.
 */
export interface Option {
  /** A switch (boolean) or a flag with a value (string; the readers parse numbers). */
  type: 'string' | 'boolean';
  /** The value's placeholder in --help: DIR, FILE, N. */
  value?: string;
  /** What it does, for --help; a '\n' continues it on the next help line. */
  description: string;
  /** The value used when the flag is absent; --help shows "(default X)". */
  default?: string | number;
  /** The values it accepts: listed in --help, any other refused. */
  choices?: readonly string[];
  /** Bounds of an integer or number value (inclusive). */
  min?: number;
  max?: number;
  /** An environment variable that gives the value when the flag is absent (serve); --help shows [NAME]. */
  env?: string;
  /** Required: what the error message for its absence says it is. --help shows "(required)". */
  required?: string;
  /** Its one-letter alias. */
  short?: string;
  /** train --resume takes it from run.json: giving it with --resume is refused. */
  fixedOnResume?: boolean;
}

export type Options = Readonly<Record<string, Option>>;

/** Keeps the declarations' literal types (choices, defaults) so the readers can type what they return. */
export function defineOptions<const O extends Options>(options: O): O {
  return options;
}

/** The options every command takes; main() handles them. */
export const COMMON_OPTIONS = defineOptions({
  json: { type: 'boolean', description: 'print the result as JSON on stdout' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
});

/** parseArgs' view of the declarations. */
export function parseArgsOptions(options: Options): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(options).map(([name, o]) => [name, o.short === undefined ? { type: o.type } : { type: o.type, short: o.short }]),
  );
}

/** An option's label in --help: `--name VALUE`. */
function label(name: string, o: Option): string {
  return o.value === undefined ? `--${name}` : `--${name} ${o.value}`;
}

/**
 * An option's help text: its choices, then its description with the environment variable at the end
 * of its first line, the default in the closing parenthesis of its last line (one is added when it
 * has none), then "(required)".
 */
function describe(o: Option): string {
  const choices = o.choices?.length ? `${o.choices.join(' | ')}${o.description ? ': ' : ''}` : '';
  const lines = `${choices}${o.description}`.split('\n');
  if (o.env !== undefined) lines[0] = beforeClosingParenthesis(lines[0], ` [${o.env}]`);
  const last = lines.length - 1;
  if (o.default !== undefined) {
    const open = closingParenthesisStart(lines[last]);
    lines[last] = open === undefined
      ? `${lines[last]}${lines[last] ? ' ' : ''}(default ${o.default})`
      : `${lines[last].slice(0, open + 1)}default ${o.default}; ${lines[last].slice(open + 1)}`;
  }
  if (o.required !== undefined) lines[last] = `${lines[last]}${lines[last] ? ' ' : ''}(required)`;
  return lines.join('\n');
}

/** Where the parenthesis that closes `line` opens; undefined when the line does not end with one. */
function closingParenthesisStart(line: string): number | undefined {
  if (!line.endsWith(')')) return undefined;
  let depth = 0;
  for (let i = line.length - 1; i >= 0; i--) {
    if (line[i] === ')') depth++;
    else if (line[i] === '(' && --depth === 0) return i;
  }
  return undefined;
}

function beforeClosingParenthesis(line: string, text: string): string {
  const open = closingParenthesisStart(line);
  return open === undefined ? `${line}${text}` : `${line.slice(0, open).trimEnd()}${text} ${line.slice(open)}`;
}

/** Labels up to this long set the description column; a longer one is followed by two spaces. */
const MAX_ALIGNED_LABEL = 21;

/**
 * The option lines of --help: `  --name VALUE   description`, descriptions aligned in one column
 * (continuation lines indented to it) after the longest label that is not too long. `sections` lists options under a paragraph of their own, after the others.
 */
export function optionsHelp(options: Options, sections: readonly OptionSection[] = []): string {
  const inSection = new Set(sections.flatMap((s) => s.options));
  const lengths = Object.entries(options).map(([name, o]) => label(name, o).length);
  const width = Math.max(...lengths.filter((n) => n <= MAX_ALIGNED_LABEL)) + 2;
  const line = (name: string) => {
    const o = options[name];
    const head = label(name, o);
    const [first, ...rest] = describe(o).split('\n');
    const lead = head.length + 2 <= width ? head.padEnd(width) : `${head}  `;
    return [`  ${lead}${first}`, ...rest.map((r) => `  ${''.padEnd(width)}${r}`)].join('\n');
  };
  const blocks = [Object.keys(options).filter((n) => !inSection.has(n)).map(line).join('\n')];
  for (const s of sections) blocks.push(`${s.text.trim()}\n${s.options.map(line).join('\n')}`);
  return blocks.join('\n\n');
}

/** A paragraph of help about some options, printed with their lines after the other options. */
export interface OptionSection {
  text: string;
  options: readonly string[];
}
