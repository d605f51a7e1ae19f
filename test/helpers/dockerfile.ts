import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { fromRoot } from '../../src/util/paths.js';

/** The repository's Dockerfile, parsed: stages, their instructions, what they inherit (docker.test.ts, kubernetes.test.ts). */

export const DOCKERFILE = readFileSync(fromRoot('Dockerfile'), 'utf8');

export interface Instruction { keyword: string; args: string; line: number }
export interface Stage { name: string; base: string; instructions: Instruction[] }

/** Instructions (continuations joined, comments dropped) grouped by stage; FROM's ${ARG}s resolved. */
export function parseDockerfile(text: string): Stage[] {
  const logical: Instruction[] = [];
  let pending: Instruction | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line.startsWith('#') || (!pending && line === '')) return;
    const continues = line.endsWith('\\');
    const body = continues ? line.slice(0, -1).trim() : line;
    if (pending) pending.args = `${pending.args} ${body}`.trim();
    else {
      const [keyword, ...rest] = body.split(/\s+/);
      pending = { keyword: keyword.toUpperCase(), args: rest.join(' '), line: i + 1 };
    }
    if (!continues) {
      logical.push(pending);
      pending = undefined;
    }
  });
  const globals = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of logical) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = ins.args.split('=');
      globals.set(name, value);
    } else if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const base = words[0].replace(/\$\{(\w+)\}/g, (_m, name: string) => globals.get(name) ?? '');
      stages.push({ name: words[2] ?? String(stages.length), base, instructions: [] });
    } else if (stages.length) {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return stages;
}

export const STAGES = parseDockerfile(DOCKERFILE);
export const stage = (name: string): Stage => {
  const s = STAGES.find((x) => x.name === name);
  assert.ok(s, `stage ${name} exists`);
  return s;
};

/** A stage's instructions including those of the stages it is built FROM (USER, ENV... carry over). */
export function effective(name: string): Instruction[] {
  const s = stage(name);
  const parent = STAGES.find((x) => x.name === s.base);
  return [...(parent ? effective(parent.name) : []), ...s.instructions];
}

export function envOf(name: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const ins of effective(name).filter((i) => i.keyword === 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env.set(m[1], m[2].replace(/^"|"$/g, ''));
  }
  return env;
}

