import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fromRoot } from '../../src/util/paths.js';

/**
 * What the serve images leave out, and how to check that the server does not need it: the list is
 * docker/runtime-deps.sh's own (the script that removes those packages from the images).
 */
export function trainingOnlyPackages(): string[] {
  const script = readFileSync(fromRoot('docker', 'runtime-deps.sh'), 'utf8');
  const m = /^TRAINING_ONLY="([^"]+)"$/m.exec(script);
  if (!m) throw new Error('docker/runtime-deps.sh: no TRAINING_ONLY="..." line');
  return m[1].split(/\s+/);
}

/** The package a bare import specifier names ('@scope/name/sub' -> '@scope/name'). */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * The packages that compiled modules reach through static imports, following relative imports and
 * worker files (`new URL('./x.js', import.meta.url)`); dynamic import() is not followed: those are
 * the optional paths (a missing package makes them fall back). Each package maps to the first
 * import chain that reaches it.
 */
export function staticImportClosure(entries: string[]): Map<string, string[]> {
  const reached = new Map<string, string[]>();
  const seen = new Set<string>();
  const queue = entries.map((file) => ({ file: path.resolve(file), chain: [path.relative(fromRoot(), file)] }));
  while (queue.length) {
    const { file, chain } = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...[...source.matchAll(/^\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]),
      ...[...source.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]),
      ...[...source.matchAll(/new URL\(\s*['"](\.[^'"]+)['"],\s*import\.meta\.url\s*\)/g)].map((m) => m[1]),
    ];
    for (const spec of specifiers) {
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec);
        queue.push({ file: target, chain: [...chain, path.relative(fromRoot(), target)] });
      } else if (!spec.startsWith('node:') && !reached.has(packageOf(spec))) {
        reached.set(packageOf(spec), [...chain, spec]);
      }
    }
  }
  return reached;
}

/**
 * NODE_OPTIONS for a child process that cannot resolve the given packages (as in the serve images,
 * where they are not installed): a module resolution hook makes any import of them fail.
 */
export function withoutPackages(packages: string[], env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const register = pathToFileURL(path.join(path.dirname(new URL(import.meta.url).pathname), 'forbid-packages.js')).href;
  return { ...env, FORBIDDEN_PACKAGES: packages.join(' '), NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --import ${register}`.trim() };
}
