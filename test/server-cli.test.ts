import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { once } from 'node:events';
import { fromRoot } from '../src/util/paths.js';
import { runCli } from './helpers/cli.js';
import { createServerFixture, type ServerFixture } from './helpers/server-fixture.js';
import { readyUrl, type LogLine } from './helpers/server-ready.js';

let fx: ServerFixture;

before(async () => {
  fx = await createServerFixture('rr-serve-cli-');
});
after(() => fx?.cleanup());

/** Start `serve` in a child process; resolves once it logs that the model and index are loaded. */
async function startServe(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; url: string; logs: LogLine[]; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [fromRoot('bin', 'recipe-retrieval.js'), 'serve', ...args], {
    cwd: fromRoot(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const url = await readyUrl(child.stdout!, exited, (code) => `serve exited with ${code} before it was ready: ${stderr}`, (entry) => logs.push(entry));
  return { child, url, logs, exited };
}

test('serve (child process, PORT/HOST from the environment): logs the provider, serves, and shuts down gracefully on SIGTERM', { timeout: 90_000 }, async () => {
  const { child, url, logs, exited } = await startServe(
    ['--model', fx.modelDir, '--index', fx.indexDir, '--device', 'cpu', '--threads', '1', '--max-wait-ms', '400'],
    { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' },
  );
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(logs.some((l) => /inference pool: 1 worker\(s\) on cpu/.test(l.msg)), 'the provider is logged at start');
    assert.ok(logs.some((l) => /model tiny-served \(debiasing on\).*28 recipes.*inference on cpu/.test(l.msg)));
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    const info = (await (await fetch(`${url}/v1/info`)).json()) as { provider: { image: string } };
    assert.equal(info.provider.image, 'cpu');

    // A search waits 400 ms for batch companions; SIGTERM arrives meanwhile and must not cut it off.
    const photo = await fs.readFile(fx.photos[0]);
    const inFlight = fetch(`${url}/v1/search?k=3`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
    // Signal once the server has the request (its log says so), while the photo waits for companions.
    while (!logs.some((l) => l.msg === 'incoming request' && (l.req as { url?: string } | undefined)?.url === '/v1/search?k=3')) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { recipes: unknown[] }).recipes.length, 3);
    assert.equal(await exited, 0);
    assert.ok(logs.some((l) => l.msg.startsWith('shutting down') && l.signal === 'SIGTERM'));
    assert.ok(logs.some((l) => l.msg === 'server stopped, inference workers closed'));
    await assert.rejects(fetch(`${url}/healthz`), /fetch failed/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('serve refuses a missing index with a one-line reason and exit code 1; --help documents the environment', () => {
  const res = runCli(['serve', '--model', fx.modelDir, '--index', `${fx.dir}/no-such-index`, '--device', 'cpu'], { env: { PORT: '0', LOG_LEVEL: 'silent' } });
  assert.equal(res.status, 1);
  assert.match(res.stderr, /recipe-retrieval serve: .*no-such-index\/manifest\.json: missing/);
  const bad = runCli(['serve', '--model', fx.modelDir, '--index', fx.indexDir], { env: { PORT: 'eighty' } });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--port \(or PORT\) must be an integer, got "eighty"/);
  const help = runCli(['serve', '--help']);
  assert.equal(help.status, 0);
  for (const name of ['PORT', 'HOST', 'DEVICE', 'DATA_DIR', 'MAX_QUEUE', 'LOG_LEVEL']) assert.match(help.stdout, new RegExp(`\\b${name}\\b`));
});
