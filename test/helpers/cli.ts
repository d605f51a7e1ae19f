import { spawnSync } from 'node:child_process';
import { fromRoot } from '../../src/util/paths.js';

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real CLI launcher (bin/recipe-retrieval.js) in a child process. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliRun {
  const res = spawnSync(process.execPath, [fromRoot('bin', 'recipe-retrieval.js'), ...args], {
    cwd: opts.cwd ?? fromRoot(),
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}
