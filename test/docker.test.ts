import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { validate } from 'dockerfile-utils';
import { commands } from '../src/cli/registry.js';
import { DEVICES } from '../src/cli/command.js';
import { DEFAULT_INDEX_OUT, DEFAULT_MODEL_OUT, DEMO_DATA_DIR, DEMO_DATASET, DEMO_RUN } from '../src/setup/paths.js';
import { fromRoot } from '../src/util/paths.js';

/**
 * No Docker engine here: the Dockerfile is checked statically (a linter, then its structure), and
 * what the images run at build and start (setup, the entrypoint, serve) runs for real in
 * test/setup.test.ts.
 */

const DOCKERFILE = readFileSync(fromRoot('Dockerfile'), 'utf8');
const SERVE_TARGETS = ['serve-cpu', 'serve-cuda'];
const rel = (p: string) => path.relative(fromRoot(), p);

interface Instruction { keyword: string; args: string; line: number }
interface Stage { name: string; base: string; instructions: Instruction[] }

/** Instructions (continuations joined, comments dropped) grouped by stage; FROM's ${ARG}s resolved. */
function parseDockerfile(text: string): Stage[] {
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

const STAGES = parseDockerfile(DOCKERFILE);
const stage = (name: string): Stage => {
  const s = STAGES.find((x) => x.name === name);
  assert.ok(s, `stage ${name} exists`);
  return s;
};

/** A stage's instructions including those of the stages it is built FROM (USER, ENV... carry over). */
function effective(name: string): Instruction[] {
  const s = stage(name);
  const parent = STAGES.find((x) => x.name === s.base);
  return [...(parent ? effective(parent.name) : []), ...s.instructions];
}

function envOf(name: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const ins of effective(name).filter((i) => i.keyword === 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env.set(m[1], m[2].replace(/^"|"$/g, ''));
  }
  return env;
}

/** COPY instructions that read the build context (not --from another stage). */
function contextCopies(): { sources: string[]; ins: Instruction; stage: string }[] {
  return STAGES.flatMap((s) => s.instructions
    .filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))
    .map((ins) => ({ sources: ins.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1), ins, stage: s.name })));
}

const DOCKERIGNORE = readFileSync(fromRoot('.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

/** Whether .dockerignore excludes a context path (its patterns here: plain paths, `**\/name`, one `*`). */
function ignored(p: string): boolean {
  return DOCKERIGNORE.some((pattern) => {
    const anyDepth = pattern.startsWith('**/');
    const body = (anyDepth ? pattern.slice(3) : pattern).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*');
    return new RegExp(`^${anyDepth ? '(.*/)?' : ''}${body}(/.*)?$`).test(p);
  });
}

test('dockerfile-utils (a linter mirroring the Docker builder) reports nothing for the Dockerfile', () => {
  const problems = validate(DOCKERFILE).map((d) => `line ${d.range.start.line + 1}: ${d.message} (severity ${d.severity})`);
  assert.deepEqual(problems, []);
  // The linter is live: it flags a broken instruction.
  assert.equal(validate('FROM node:20\nHEALTHCHECK --interva=1s CMD true\n').length, 1);
});

test('the serve targets run as a non-root user, expose PORT, check /readyz without curl and are configured by env', () => {
  for (const name of [...SERVE_TARGETS, 'train-gpu']) {
    const users = effective(name).filter((i) => i.keyword === 'USER');
    assert.ok(users.length > 0, `${name} sets a USER`);
    assert.doesNotMatch(users[users.length - 1].args, /^(root|0)(:|$)/, `${name} ends as a non-root user`);
  }
  for (const name of SERVE_TARGETS) {
    const own = stage(name).instructions;
    const env = envOf(name);
    assert.equal(env.get('HOST'), '0.0.0.0', `${name}: reachable from outside the container`);
    assert.ok(own.some((i) => i.keyword === 'EXPOSE' && i.args.split(/\s+/).includes(env.get('PORT')!)), `${name}: EXPOSE ${env.get('PORT')}`);
    const health = own.filter((i) => i.keyword === 'HEALTHCHECK');
    assert.equal(health.length, 1, `${name}: one HEALTHCHECK`);
    assert.match(health[0].args, /CMD \["node", "-e", .*\/readyz.*\]/);
    assert.doesNotMatch(health[0].args, /curl|wget/, 'slim images have neither');
    assert.ok((DEVICES as readonly string[]).includes(env.get('DEVICE')!), `${name}: DEVICE is one serve accepts`);
    for (const key of ['MODEL_DIR', 'INDEX_DIR', 'PORT', 'LOG_LEVEL']) assert.ok(env.has(key), `${name}: ${key}`);
    assert.ok(own.some((i) => i.keyword === 'ENTRYPOINT' && i.args.includes('docker/entrypoint.sh')));
  }
  // The CUDA image must still start on a machine without a GPU: `auto` falls back to CPU, `cuda` refuses.
  assert.equal(envOf('serve-cuda').get('DEVICE'), 'auto');
  assert.equal(envOf('serve-cpu').get('DEVICE'), 'cpu');
});

test('the CUDA bases are the ones onnxruntime-node 1.30 and tfjs-node-gpu 4.22 need, and the installers are asked for them', () => {
  assert.match(stage('serve-cuda').base, /^cuda-node$/);
  // onnxruntime >= 1.19 GPU builds: CUDA 12.x with cuDNN 9 (nvidia/cuda's 12.x "cudnn" tags carry cuDNN 9).
  assert.match(stage('cuda-node').base, /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$/);
  assert.match(stage('train-gpu').base, /^nvidia\/cuda:11\.2\.\d+-cudnn8-runtime-ubuntu\d+\.\d+$/);

  // The installed onnxruntime-node's own metadata: linux/x64 needs its "cuda12" manifest, which holds the provider library.
  const require = createRequire(import.meta.url);
  const ortDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const meta = require(path.join(ortDir, 'script', 'install-metadata.js')) as { requirements: Record<string, string[]>; manifests: Record<string, Record<string, unknown>> };
  assert.deepEqual(meta.requirements['linux/x64'], ['cuda12']);
  assert.ok('./libonnxruntime_providers_cuda.so' in meta.manifests['linux/x64:cuda12']);
  const cudaRun = stage('build-cuda').instructions.find((i) => i.keyword === 'RUN' && i.args.includes('ONNXRUNTIME_NODE_INSTALL=cuda12'));
  assert.ok(cudaRun, 'the CUDA build runs onnxruntime-node\'s installer for cuda12');
  assert.match(cudaRun.args, /node node_modules\/onnxruntime-node\/script\/install\.js/);
  assert.match(cudaRun.args, /test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/);
  assert.ok(existsSync(path.join(ortDir, 'script', 'install.js')));
  assert.ok(existsSync(path.join(ortDir, 'bin', 'napi-v6', 'linux', 'x64')), 'the folder the providers go to');

  const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const tfVersion = pkg.dependencies['@tensorflow/tfjs'];
  assert.ok(stage('train-gpu').instructions.some((i) => i.keyword === 'RUN' && i.args.includes(`@tensorflow/tfjs-node-gpu@${tfVersion}`)), 'tfjs-node-gpu matches @tensorflow/tfjs');
});

test('CPU builds skip onnxruntime-node\'s CUDA download: the variable they set makes its installer do nothing', () => {
  for (const name of ['build', 'serve-cpu', 'train-gpu', 'build-cuda']) assert.equal(envOf(name).get('ONNXRUNTIME_NODE_INSTALL'), 'skip', name);
  const require = createRequire(import.meta.url);
  const install = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'script', 'install.js');
  const res = spawnSync(process.execPath, [install], { env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', https_proxy: 'http://127.0.0.1:9' }, encoding: 'utf8', timeout: 20_000 });
  assert.equal(res.status, 0, res.stderr);
});

test('COPY reads only existing, non-ignored sources: no dependencies, build output, caches, secrets or git data', () => {
  for (const must of ['node_modules', 'dist', 'runs', '**/.cache', '.git', '.env', 'bench-results', 'models/demo', 'index-data/demo-index']) {
    assert.ok(DOCKERIGNORE.includes(must), `.dockerignore lists ${must}`);
  }
  for (const p of ['node_modules/x', 'index-data/demo/.cache/features', 'models/demo/image_encoder.onnx', '.env', 'a/.env.local', '.git/HEAD']) assert.ok(ignored(p), p);
  const copies = contextCopies();
  assert.ok(copies.length > 0);
  for (const { sources, ins, stage: s } of copies) {
    for (const source of sources) {
      const where = `${s} line ${ins.line}: COPY ${source}`;
      assert.ok(!/[*?]/.test(source) && source !== '.', `${where}: explicit paths only`);
      assert.ok(existsSync(fromRoot(source)), `${where}: exists in the repository`);
      assert.ok(!ignored(source), `${where}: not excluded by .dockerignore`);
      assert.doesNotMatch(source, /(^|\/)(node_modules|dist|\.git|\.env[^/]*|\.npmrc|\.cache|runs)(\/|$)/, where);
    }
  }
  const stageNames = new Set(STAGES.map((s) => s.name));
  for (const s of STAGES) {
    for (const ins of s.instructions.filter((i) => i.keyword === 'COPY' && /--from=/.test(i.args))) {
      const from = /--from=(\S+)/.exec(ins.args)![1];
      assert.ok(stageNames.has(from), `${s.name} line ${ins.line}: --from=${from} is a stage of this file`);
    }
  }
});

test('each build stage copies what npm ci\'s compile needs, each image the demo sources setup reads', () => {
  const tsconfig = JSON.parse(readFileSync(fromRoot('tsconfig.json'), 'utf8')) as { include: string[] };
  const roots = [...new Set(tsconfig.include.map((g) => g.split('/')[0]))];
  const copied = (name: string) => new Set(contextCopies().filter((c) => c.stage === name).flatMap((c) => c.sources));
  for (const name of ['build', 'build-cuda', 'train-gpu']) {
    const have = copied(name);
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', ...roots]) assert.ok(have.has(needed), `${name} copies ${needed}`);
    assert.ok(stage(name).instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args)), `${name} runs npm ci (lockfile-exact)`);
  }
  for (const name of SERVE_TARGETS) {
    const have = copied(name);
    for (const needed of [rel(DEMO_RUN), rel(DEMO_DATASET), 'docker/entrypoint.sh']) assert.ok(have.has(needed), `${name} copies ${needed}`);
  }
});

test('every command the images run exists, and the ones they run at build and start are exercised by test/setup.test.ts', () => {
  const runs = STAGES.flatMap((s) => s.instructions.filter((i) => ['RUN', 'CMD', 'ENTRYPOINT'].includes(i.keyword)).map((i) => i.args));
  const entrypoint = readFileSync(fromRoot('docker', 'entrypoint.sh'), 'utf8');
  const cli = [...[...runs, entrypoint].join('\n').matchAll(/bin\/recipe-retrieval\.js"?,?\s+"?([a-z-]+)/g)].map((m) => m[1]);
  const known = new Set(commands.map((c) => c.name));
  for (const name of cli) assert.ok(known.has(name), `recipe-retrieval ${name} is a registered command`);
  // What the serve images run at build (setup) and start (the entrypoint: setup, then exec serve).
  assert.deepEqual([...new Set(cli)].sort(), ['serve', 'setup']);
  assert.match(entrypoint, /bin\/recipe-retrieval\.js setup --model-out "\$\{MODEL_DIR:-models\/demo\}" --index-out "\$\{INDEX_DIR:-index-data\/demo-index\}"/);
  assert.match(entrypoint, /\nexec node bin\/recipe-retrieval\.js serve /, 'the server replaces the shell and gets SIGTERM');
  assert.equal(spawnSync('sh', ['-n', fromRoot('docker', 'entrypoint.sh')]).status, 0, 'the entrypoint parses');
  for (const file of ['docker/entrypoint.sh']) assert.ok(existsSync(fromRoot(file)));
  const setupTest = readFileSync(fromRoot('test', 'setup.test.ts'), 'utf8');
  assert.match(setupTest, /fromRoot\('docker', 'entrypoint\.sh'\)/, 'the setup test starts the server through the entrypoint');
  assert.match(setupTest, /runCli\(\['setup'/, 'the setup test runs the setup command');
});

test('docker-compose.yml serves the CPU target with the model and index as volumes where the image looks for them', () => {
  const compose = readFileSync(fromRoot('docker-compose.yml'), 'utf8');
  const env = envOf('serve-cpu');
  const workdir = stage('serve-cpu').instructions.filter((i) => i.keyword === 'WORKDIR').at(-1)!.args;
  assert.match(compose, /^\s+target: serve-cpu$/m);
  assert.match(compose, /^\s+HOST: 0\.0\.0\.0$/m);
  assert.match(compose, new RegExp(`^\\s+- "${env.get('PORT')}:${env.get('PORT')}"$`, 'm'));
  assert.match(compose, new RegExp(`^\\s+- \\w+:${workdir}/${env.get('MODEL_DIR')}$`, 'm'));
  assert.match(compose, new RegExp(`^\\s+- \\w+:${workdir}/${env.get('INDEX_DIR')}$`, 'm'));
  assert.doesNotMatch(compose, /^\s+- \.\/?:/m, 'the source tree is not mounted over the image');
});

test('npm start prepares and serves the same demo folders as the images; git ignores them', () => {
  const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { scripts: Record<string, string> };
  // One node process (the start command: setup, then serve in-process) that replaces npm's shell (exec), so that
  // the SIGTERM npm forwards to its child reaches the server (setup.test.ts sends it).
  assert.equal(pkg.scripts.start, 'exec node bin/recipe-retrieval.js start');
  assert.equal(envOf('serve-cpu').get('DATA_DIR'), rel(DEMO_DATA_DIR), 'evaluations may name the demo dataset');
  assert.equal(envOf('serve-cpu').get('DATA_DIR'), 'index-data');
  assert.equal(envOf('serve-cpu').get('MODEL_DIR'), rel(DEFAULT_MODEL_OUT));
  assert.equal(envOf('serve-cpu').get('INDEX_DIR'), rel(DEFAULT_INDEX_OUT));
  const gitignore = readFileSync(fromRoot('.gitignore'), 'utf8').split('\n');
  for (const dir of [DEFAULT_MODEL_OUT, DEFAULT_INDEX_OUT]) assert.ok(gitignore.includes(`/${rel(dir)}/`), `.gitignore: /${rel(dir)}/`);
});
