import { execFileSync } from 'node:child_process';

/** Run a python3 snippet (standard library only) and return its stdout; the reference for pickle compatibility. */
export function python(code: string, args: string[] = []): string {
  return execFileSync('python3', ['-c', code, ...args], { encoding: 'utf8' });
}

/** Write `expr` (a Python expression) to `file` with pickle protocol 4. */
export function pythonPickle(file: string, expr: string, protocol = 4): void {
  python(`import pickle,sys,collections\nwith open(sys.argv[1],'wb') as f: pickle.dump(${expr}, f, protocol=${protocol})`, [file]);
}
