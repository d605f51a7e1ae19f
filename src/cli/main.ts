import { parseArgs } from 'node:util';
import { quietTfjs } from '../tf/quiet.js';
import { UserError } from '../util/errors.js';
import type { Command } from './command.js';
import { loadCommand } from './command-loaders.js';

/** The listing needs every command's summary, so it loads them all (dispatch loads only one). */
async function globalHelp(): Promise<string> {
  const { commands } = await import('./registry.js');
  const nameWidth = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `recipe-retrieval: food image-to-recipe retrieval (HT + ingredient debiasing)

Usage: recipe-retrieval <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(nameWidth)}${c.summary}`).join('\n')}

Every command accepts --help and --json (machine-readable output on stdout).`;
}

function commandHelp(cmd: Command): string {
  return `recipe-retrieval ${cmd.name}: ${cmd.summary}\n\n${cmd.help.trim()}\n\n  --json           print the result as JSON on stdout\n  --help           show this help`;
}

/** Run the CLI; returns the process exit code. Never throws for user errors. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${await globalHelp()}\n`);
    return name ? 0 : 1;
  }
  const cmd = await loadCommand(name);
  if (!cmd) {
    process.stderr.write(`recipe-retrieval: unknown command "${name}" (see recipe-retrieval --help)\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...cmd.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
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
  if (cmd.tfjsAdvice !== true) quietTfjs();
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
