import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { validate } from 'dockerfile-utils';
import { commands } from '../src/cli/registry.js';
import { DEVICES } from '../src/runtime/device.js';
import { DEFAULT_INDEX_OUT, DEFAULT_MODEL_OUT, DEMO_DATA_DIR, DEMO_DATASET, DEMO_RUN } from '../src/setup/paths.js';
import { fromRoot } from '../src/util/paths.js';
import { DOCKERFILE, STAGES, effective, envOf, stage, type Instruction } from './helpers/dockerfile.js';
import { staticImportClosure, trainingOnlyPackages } from './helpers/serve-packages.js';

/**
 * The Dockerfile checked statically (a linter, then its structure). What the images run at build
 * and start (setup, the entrypoint, serve without TF.js) runs for real in test/setup.test.ts; the
 * images themselves are built and run by scripts/container-smoke.sh (npm run test:container, in CI
 * where a container engine can be installed).
 */

const SERVE_TARGETS = ['serve-cpu', 'serve-cuda'];
const rel = (p: string) => path.relative(fromRoot(), p);

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

test('the serve targets run as a numeric non-root user, expose PORT, check /readyz without curl and are configured by env', () => {
  for (const name of [...SERVE_TARGETS, 'train-gpu']) {
    const users = effective(name).filter((i) => i.keyword === 'USER');
    assert.ok(users.length > 0, `${name} sets a USER`);
    // Numeric: Kubernetes' runAsNonRoot can only verify a numeric user.
    assert.match(users[users.length - 1].args, /^[1-9]\d*:\d+$/, `${name} ends as a numeric non-root user`);
  }
  for (const name of SERVE_TARGETS) {
    const own = stage(name).instructions;
    const env = envOf(name);
    assert.equal(env.get('HOST'), '0.0.0.0', `${name}: reachable from outside the container`);
    assert.ok(own.some((i) => i.keyword === 'EXPOSE' && i.args.split(/\s+/).includes(env.get('PORT')!)), `${name}: EXPOSE ${env.get('PORT')}`);
    const health = own.filter((i) => i.keyword === 'HEALTHCHECK');
    assert.equal(health.length, 1, `${name}: one HEALTHCHECK`);
    assert.match(health[0].args, /CMD \["node", "docker\/healthcheck\.js"\]$/);
    assert.ok((DEVICES as readonly string[]).includes(env.get('DEVICE')!), `${name}: DEVICE is one serve accepts`);
    for (const key of ['MODEL_DIR', 'INDEX_DIR', 'PORT', 'LOG_LEVEL']) assert.ok(env.has(key), `${name}: ${key}`);
    assert.ok(own.some((i) => i.keyword === 'ENTRYPOINT' && i.args === '["sh", "docker/entrypoint.sh"]'));
  }
  const healthcheck = readFileSync(fromRoot('docker', 'healthcheck.js'), 'utf8').replace(/^\s*\/\/.*$/gm, '');
  assert.doesNotMatch(healthcheck, /curl|wget/, 'slim images have neither');
  // The CUDA image must still start on a machine without a GPU: `auto` falls back to CPU, `cuda` refuses.
  assert.equal(envOf('serve-cuda').get('DEVICE'), 'auto');
  assert.equal(envOf('serve-cpu').get('DEVICE'), 'cpu');
});

test('docker/healthcheck.js passes only while PORT\'s /readyz answers 200', async () => {
  let ready = false;
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/readyz' && ready ? 200 : 503;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const check = async (env: NodeJS.ProcessEnv) => {
    const child = spawn(process.execPath, [fromRoot('docker', 'healthcheck.js')], { env: { ...process.env, ...env }, stdio: 'ignore' });
    return (await once(child, 'exit'))[0] as number;
  };
  try {
    assert.equal(await check({ PORT: String(port) }), 1, 'not ready: 503');
    ready = true;
    assert.equal(await check({ PORT: String(port) }), 0, 'ready');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  assert.equal(await check({ PORT: String(port) }), 1, 'nothing listening');
});

test('the two serve targets share one server: the same files, settings, user, health check and start', () => {
  const config = (name: string) => stage(name).instructions
    .filter((i) => ['WORKDIR', 'USER', 'EXPOSE', 'HEALTHCHECK', 'ENTRYPOINT'].includes(i.keyword) || (i.keyword === 'COPY' && i.args.includes('--from=serve-app')))
    .map((i) => `${i.keyword} ${i.args.replace(/--start-period=\d+s/, '--start-period=*')}`);
  assert.deepEqual(config('serve-cuda'), config('serve-cpu'));
  assert.ok(config('serve-cpu').includes('COPY --from=serve-app /app /app'));
  const env = (name: string) => [...envOf(name)].filter(([key]) => key !== 'DEVICE');
  assert.deepEqual(env('serve-cuda'), env('serve-cpu'));
  // Only node_modules differ (native addons built on each image's own OS), each made by the same script.
  for (const [serve, deps] of [['serve-cpu', 'runtime-deps'], ['serve-cuda', 'runtime-deps-cuda']]) {
    const copies = stage(serve).instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    assert.deepEqual(copies, ['--from=serve-app /app /app', `--from=${deps} /app/node_modules /app/node_modules`]);
    assert.ok(effective(deps).some((i) => i.keyword === 'RUN' && /\bsh docker\/runtime-deps\.sh\b/.test(i.args)), `${deps} runs docker/runtime-deps.sh`);
  }
  assert.equal(stage('serve-app').base, 'scratch');
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
  const cudaRun = stage('runtime-deps-cuda').instructions.find((i) => i.keyword === 'RUN' && i.args.includes('ONNXRUNTIME_NODE_INSTALL=cuda12'));
  assert.ok(cudaRun, 'the CUDA build runs onnxruntime-node\'s installer for cuda12');
  assert.match(cudaRun.args, /node node_modules\/onnxruntime-node\/script\/install\.js/);
  assert.match(cudaRun.args, /test -f node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime_providers_cuda\.so/);
  // ... before runtime-deps.sh keeps only this platform's folder (where the providers went).
  assert.ok(cudaRun.args.indexOf('install.js') < cudaRun.args.indexOf('runtime-deps.sh'));
  assert.ok(existsSync(path.join(ortDir, 'script', 'install.js')));
  assert.ok(existsSync(path.join(ortDir, 'bin', 'napi-v6', 'linux', 'x64')), 'the folder the providers go to');

  const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const tfVersion = pkg.dependencies['@tensorflow/tfjs'];
  const gpuRun = stage('train-gpu').instructions.find((i) => i.keyword === 'RUN' && i.args.includes(`@tensorflow/tfjs-node-gpu@${tfVersion}`));
  assert.ok(gpuRun, 'tfjs-node-gpu matches @tensorflow/tfjs');
  // Its install script (libtensorflow + the N-API binding downloads) must have run: the build checks both files.
  assert.match(gpuRun.args, /npm install --no-save [^&]*@tensorflow\/tfjs-node-gpu@/);
  assert.doesNotMatch(gpuRun.args.slice(gpuRun.args.indexOf('npm install')), /--ignore-scripts/);
  assert.match(gpuRun.args, /test -f node_modules\/@tensorflow\/tfjs-node-gpu\/deps\/lib\/libtensorflow\.so\.2/);
  assert.match(gpuRun.args, /tfjs-node-gpu\/lib\/napi-v\*\/tfjs_binding\.node/);
  // The CLI's `--backend auto` tries tfjs-node-gpu first, and the package it imports is that one.
  const backend = readFileSync(fromRoot('src', 'tf', 'backend.ts'), 'utf8');
  assert.match(backend, /AUTO_ORDER: readonly BackendName\[\] = \['tfjs-node-gpu'/);
  assert.match(backend, /'tfjs-node-gpu': '@tensorflow\/tfjs-node-gpu'/);
  assert.equal(envOf('train-gpu').get('NODE_ENV'), undefined, 'npm would skip the dev dependencies');
});

test('CPU builds skip onnxruntime-node\'s CUDA download: the variable they set makes its installer do nothing', () => {
  for (const name of ['deps', 'build', 'demo', 'runtime-deps', 'runtime-deps-cuda', 'train-gpu']) assert.equal(envOf(name).get('ONNXRUNTIME_NODE_INSTALL'), 'skip', name);
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

test('each stage copies what it runs on: the lockfile for the install, sources for tsc, the demo for setup, every server asset', () => {
  const copied = (name: string) => new Set(contextCopies().filter((c) => c.stage === name).flatMap((c) => c.sources));
  const install = readFileSync(fromRoot('docker', 'install-deps.sh'), 'utf8');
  assert.match(install, /^npm ci --ignore-scripts/m, 'lockfile-exact, without the prepare script (no sources yet)');
  assert.match(install, /^npm rebuild hnswlib-node$/m, 'the one addon compiled from source');
  for (const name of ['deps', 'runtime-deps-cuda', 'train-gpu']) {
    const have = copied(name);
    for (const needed of ['package.json', 'package-lock.json', 'docker/install-deps.sh']) assert.ok(have.has(needed), `${name} copies ${needed}`);
    assert.ok(stage(name).instructions.some((i) => i.keyword === 'RUN' && /^sh docker\/install-deps\.sh\b/.test(i.args)), `${name} runs install-deps.sh`);
  }
  // tsc compiles src/ (and bin/ imports dist/src): the sources are copied after the install, for its cache.
  for (const needed of ['tsconfig.json', 'bin', 'src']) assert.ok(copied('build').has(needed), `build copies ${needed}`);
  assert.ok(stage('build').instructions.some((i) => i.keyword === 'RUN' && /^npx tsc -p tsconfig\.json\b/.test(i.args)));
  for (const needed of [rel(DEMO_RUN), rel(DEMO_DATASET)]) assert.ok(copied('demo').has(needed), `demo copies ${needed}`);
  assert.ok(stage('demo').instructions.some((i) => i.keyword === 'RUN' && i.args === 'node bin/recipe-retrieval.js setup'));

  // The server reads files besides the compiled code (the web page's): every non-TypeScript file
  // under src/ must reach the serve images (their absence once made the server die at start).
  const served = stage('serve-app').instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--')));
  const inImage = (file: string) => served.some((words) => words.slice(0, -1).some((src) => `/app/${file}`.startsWith(`${src.replace(/\/$/, '')}/`) || `/app/${file}` === src));
  const assets = spawnSync('git', ['ls-files', 'src'], { cwd: fromRoot(), encoding: 'utf8' }).stdout.split('\n').filter((f) => f && !f.endsWith('.ts'));
  assert.ok(assets.length > 0, 'the web page\'s files');
  for (const file of assets) assert.ok(inImage(file), `${file} is in the serve images`);
  const destinations = served.map((words) => words.at(-1));
  for (const needed of ['/app/models/demo', '/app/index-data/demo-index', '/app/index-data/demo', '/app/dist/src', '/app/bin']) assert.ok(destinations.includes(needed), `serve-app has ${needed}`);
  assert.ok(inImage('package.json'), 'package.json ("type": "module"; the package root the server finds its files from)');
  assert.ok(copied('serve-app').has('docker/entrypoint.sh') && copied('serve-app').has('docker/healthcheck.js'));
});

test('the serve images leave out the training stack, and the server never imports it', () => {
  const pkg = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const trainingOnly = trainingOnlyPackages();
  for (const name of trainingOnly) assert.ok(name in pkg.dependencies, `${name} is a dependency (runtime-deps.sh uninstalls it)`);
  // serve's static import graph, the inference worker included: exactly the packages the images keep.
  const reached = staticImportClosure([fromRoot('dist', 'src', 'cli', 'commands', 'serve.js'), fromRoot('bin', 'recipe-retrieval.js')]);
  for (const [name, chain] of reached) assert.ok(!trainingOnly.includes(name), `serve imports ${name}: ${chain.join(' -> ')}`);
  const kept = Object.keys(pkg.dependencies).filter((name) => !trainingOnly.includes(name)).sort();
  assert.deepEqual([...reached.keys()].sort(), kept, 'the images keep the packages serve imports, and only those');
  assert.ok(reached.has('onnxruntime-node'), 'the worker file is followed');
  // The checker is live: the training command's graph reaches TF.js.
  assert.ok(staticImportClosure([fromRoot('dist', 'src', 'cli', 'commands', 'train.js')]).has('@tensorflow/tfjs'));
});

test('every command the images run exists, and the ones they run at build and start are exercised by test/setup.test.ts', () => {
  const runs = STAGES.flatMap((s) => s.instructions.filter((i) => ['RUN', 'CMD', 'ENTRYPOINT'].includes(i.keyword)).map((i) => i.args));
  const entrypoint = readFileSync(fromRoot('docker', 'entrypoint.sh'), 'utf8');
  const cli = [...[...runs, entrypoint].join('\n').matchAll(/bin\/recipe-retrieval\.js"?,?\s+"?([a-z-]+)/g)].map((m) => m[1]);
  const known = new Set(commands.map((c) => c.name));
  for (const name of cli) assert.ok(known.has(name), `recipe-retrieval ${name} is a registered command`);
  // What the images run at build (setup, in the demo stage) and start (the entrypoint: exec serve).
  assert.deepEqual([...new Set(cli)].sort(), ['serve', 'setup']);
  assert.match(entrypoint, /\nexec node bin\/recipe-retrieval\.js serve --model "\$\{MODEL_DIR:-models\/demo\}" --index "\$\{INDEX_DIR:-index-data\/demo-index\}" "\$@"\n/, 'the server replaces the shell and gets SIGTERM');
  assert.doesNotMatch(entrypoint, /recipe-retrieval\.js setup/, 'the serve images have no TF.js to run setup with');
  assert.equal(spawnSync('sh', ['-n', fromRoot('docker', 'entrypoint.sh')]).status, 0, 'the entrypoint parses');
  for (const script of ['install-deps.sh', 'runtime-deps.sh']) assert.equal(spawnSync('sh', ['-n', fromRoot('docker', script)]).status, 0, `${script} parses`);
  const setupTest = readFileSync(fromRoot('test', 'setup.test.ts'), 'utf8');
  assert.match(setupTest, /fromRoot\('docker', 'entrypoint\.sh'\)/, 'the setup test starts the server through the entrypoint');
  assert.match(setupTest, /runCli\(\['setup'/, 'the setup test runs the setup command');
});

test('docker-compose.yml serves the CPU target on its port, and mounts nothing over the image\'s demo', () => {
  const compose = readFileSync(fromRoot('docker-compose.yml'), 'utf8');
  const env = envOf('serve-cpu');
  assert.match(compose, /^\s+target: serve-cpu$/m);
  assert.match(compose, /^\s+HOST: 0\.0\.0\.0$/m);
  assert.match(compose, new RegExp(`^\\s+- "${env.get('PORT')}:${env.get('PORT')}"$`, 'm'));
  // The demo model and index are part of the image (read-only): a volume over them would keep an
  // old image's files after an upgrade.
  assert.doesNotMatch(compose, /^\s+- [^#\n]*:\/app\//m, 'no volume over /app');
  assert.doesNotMatch(compose, /^volumes:/m);
  // Longer than the server's own 30 s limit for finishing requests in flight.
  const grace = /^\s+stop_grace_period: (\d+)s$/m.exec(compose);
  assert.ok(grace && Number(grace[1]) > 30, 'stop_grace_period > 30 s');
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
