/**
 * What the overload and soak benchmarks share: a served model and index built into a temporary
 * folder, the real `serve` command in a child process (so the load generator does not share its
 * event loop or its memory), and RSS read from /proc while it runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildDatasetIndex } from '../src/index/runners/dataset-index.js';
import { fromRoot } from '../src/util/paths.js';
import { createServedModel } from '../test/helpers/served-model.js';

export const log = (line: string) => process.stderr.write(`${line}\n`);

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The tiny served model of the server tests (a stand-in backbone: decoding dominates) and an index of the demo test split. */
export async function servedModelAndIndex(work: string): Promise<{ modelDir: string; indexDir: string }> {
  const modelDir = await createServedModel(work);
  const indexDir = path.join(work, 'index');
  await buildDatasetIndex({ datasetRoot: fromRoot('index-data', 'demo'), splits: ['test'], modelDir, outDir: indexDir, device: 'cpu', workers: 1 });
  return { modelDir, indexDir };
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Resident set size of the server process now, in bytes. */
  rss(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * `serve` from `bin` (this checkout's by default; another checkout's to measure a before/after),
 * with extra flags; resolves once it logs that it is ready.
 */
export async function startServe(modelDir: string, indexDir: string, extra: string[] = [], bin = fromRoot('bin', 'recipe-retrieval.js'), env: Record<string, string> = {}): Promise<ServeProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Warnings and errors only: per-request info lines would cost the server CPU the load should get.
  const child = spawn(process.execPath, [bin, 'serve', '--model', modelDir, '--index', indexDir, '--device', 'cpu', ...extra], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.once('exit', () => child.kill('SIGKILL')); // never leave a server behind
  let tail = '';
  const keepTail = (d: Buffer) => { tail = (tail + d.toString()).slice(-4000); };
  child.stdout!.on('data', keepTail);
  child.stderr!.on('data', keepTail);
  const deadline = performance.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}: ${tail}`);
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    if (res?.status === 200) break;
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`serve did not become ready within 180 s: ${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child, url,
    rss: async () => {
      const status = await fs.readFile(`/proc/${child.pid}/status`, 'utf8');
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Sample `read` every `everyMs` until stopped; returns [ms since start, value] pairs. */
export function sampler(read: () => Promise<number>, everyMs: number): { stop: () => Promise<[number, number][]> } {
  const samples: [number, number][] = [];
  const t0 = performance.now();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      samples.push([Math.round(performance.now() - t0), await read().catch(() => NaN)]);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return { stop: async () => { stopped = true; await loop; return samples; } };
}
