import { parseArgs } from 'node:util';
import { quietTfjs } from '../tf/quiet.js';
import { UserError } from '../util/errors.js';
import type { Command } from './command.js';
import { COMMAND_LOADERS, loadCommand } from './command-loaders.js';
import { COMMON_OPTIONS, optionsHelp, parseArgsOptions } from './options.js';

const firstLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/**
 * The listing needs every command's summary, so it loads them all (dispatch loads only one). A
 * command whose packages are not installed (the serve images ship no TF.js) is listed as such.
 */
async function globalHelp(): Promise<string> {
  const loaded = await Promise.allSettled(Object.values(COMMAND_LOADERS).map((load) => load()));
  const names = Object.keys(COMMAND_LOADERS);
  const nameWidth = Math.max(...names.map((n) => n.length)) + 2;
  const lines = loaded.map((r, i) => `  ${names[i].padEnd(nameWidth)}${r.status === 'fulfilled' ? r.value.summary : `(unavailable here: ${firstLine(r.reason)})`}`);
  return `recipe-retrieval: food image-to-recipe retrieval (HT + ingredient debiasing)

Usage: recipe-retrieval <command> [options]

Commands:
${lines.join('\n')}

Every command accepts --help and --json (machine-readable output on stdout).`;
}

/** A command's --help: its summary and prose, then its options (and the common ones) listed from their declarations. */
export function commandHelp(cmd: Command): string {
  const options = optionsHelp({ ...cmd.options, ...COMMON_OPTIONS }, cmd.optionSections);
  const notes = cmd.helpNotes === undefined ? '' : `\n\n${cmd.helpNotes.trim()}`;
  return `recipe-retrieval ${cmd.name}: ${cmd.summary}\n\n${cmd.help.trim()}\n\n${options}${notes}`;
}

/** Run the CLI; returns the process exit code. Never throws for user errors. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${await globalHelp()}\n`);
    return name ? 0 : 1;
  }
  let cmd: Command | undefined;
  try {
    cmd = await loadCommand(name);
  } catch (err) {
    // A package the command needs is not installed: the serve images hold only the server's.
    process.stderr.write(`recipe-retrieval ${name}: not available in this installation: ${firstLine(err)}\n`);
    return 1;
  }
  if (!cmd) {
    process.stderr.write(`recipe-retrieval: unknown command "${name}" (see recipe-retrieval --help)\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: parseArgsOptions({ ...cmd.options, ...COMMON_OPTIONS }),
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`recipe-retrieval ${name}: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${commandHelp(cmd)}\n`);
    return 0;
  }
  const { min, max } = cmd.positionals;
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    process.stderr.write(`recipe-retrieval ${name}: expected ${want} argument(s), got ${parsed.positionals.length} (see --help)\n`);
    return 2;
  }
  const json = parsed.values.json === true;
  if (cmd.tfjsAdvice !== true) await quietTfjs();
  try {
    const result = await cmd.run(
      { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals },
      { json, log: (line) => process.stderr.write(`${line}\n`) },
    );
    process.stdout.write(json ? `${JSON.stringify(result.data, null, 2)}\n` : `${result.text.replace(/\n?$/, '\n')}`);
    return result.exitCode ?? 0;
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`recipe-retrieval ${name}: ${err.message.split('\n')[0]}\n`);
      return err.exitCode;
    }
    process.stderr.write(`recipe-retrieval ${name}: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 70;
  }
}
