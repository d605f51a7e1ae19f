import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { UserError } from '../util/errors.js';
import type { Device, Provider } from './device.js';

export type { Device, Provider } from './device.js';

export interface SessionThreads {
  /** Threads one session.run may use; the pool divides the cores among its workers. */
  intraOp: number;
  /**
   * Let onnxruntime's intra-op threads busy-wait for work between and after runs (its default).
   * Off unless asked: a spinning thread holds a core that decoding, the event loop and other
   * processes need; on the 2-core machine, loaded, a batch-1 run took 121 ms without spinning
   * against 284 ms with it (bench-results/server.json).
   */
  spinWait?: boolean;
}

export interface CreatedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** Why `auto` ended up on CPU (the CUDA error's first line); absent otherwise. */
  fallbackReason?: string;
}

/** The libraries onnxruntime-node's install script puts next to its binding when asked for CUDA (Linux x64 only). */
const CUDA_PROVIDER_LIBRARIES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/**
 * Why onnxruntime-node cannot use CUDA here, found without asking it (which would print its own red
 * "Failed to load library" error on every CPU machine): its CUDA provider libraries are absent from
 * the folder of its native binding, as in a plain `npm ci`. Undefined when they are present (then
 * CUDA may still fail, for a missing driver or CUDA runtime, and onnxruntime says why).
 */
export function cudaUnavailableReason(bindingDir = onnxruntimeBindingDir()): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `onnxruntime-node has no CUDA provider for ${process.platform}-${process.arch}`;
  const missing = CUDA_PROVIDER_LIBRARIES.filter((name) => !existsSync(path.join(bindingDir, name)));
  if (missing.length === 0) return undefined;
  return `onnxruntime-node's CUDA provider libraries are not installed: no ${missing.join(' or ')} beside its binding`;
}

/** The folder of onnxruntime-node's native binding for this platform (where its provider libraries go). */
function onnxruntimeBindingDir(): string {
  const packageDir = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
  return path.join(packageDir, '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Open a session on the requested device. Without CUDA provider libraries `auto` goes straight to
 * CPU and `cuda` is refused; with them, onnxruntime-node throws when CUDA cannot start (no driver,
 * no CUDA runtime) instead of falling back, so `auto` catches that and retries on CPU.
 */
export async function createSession(modelPath: string, device: Device, threads: SessionThreads): Promise<CreatedSession> {
  const open = (providers: string[], quiet: boolean) => ort.InferenceSession.create(modelPath, {
    ...threadOptions(threads),
    executionProviders: providers,
    // A failed CUDA attempt would print onnxruntime's own red error line; ours says it once, shorter.
    logSeverityLevel: quiet ? 4 : 3,
  });
  if (device === 'cpu') return { session: await open(['cpu'], false), provider: 'cpu' };
  const unavailable = cudaUnavailableReason();
  if (unavailable !== undefined) {
    if (device === 'cuda') throw cudaRefused(unavailable);
    return { session: await open(['cpu'], false), provider: 'cpu', fallbackReason: unavailable };
  }
  try {
    return { session: await open(['cuda', 'cpu'], true), provider: 'cuda' };
  } catch (err) {
    const reason = firstLine(err);
    if (device === 'cuda') throw cudaRefused(reason);
    return { session: await open(['cpu'], false), provider: 'cpu', fallbackReason: reason };
  }
}

/** The thread options every session here gets (benchmarks that open sessions from bytes use them too). */
export function threadOptions(threads: SessionThreads): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads.intraOp,
    interOpNumThreads: 1,
    ...(threads.spinWait ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
  };
}

function cudaRefused(reason: string): UserError {
  return new UserError(`device cuda: onnxruntime-node could not start its CUDA execution provider (${reason}); install the CUDA libraries onnxruntime-node needs, or use --device auto or cpu`);
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}
