import * as ort from 'onnxruntime-node';
import { UserError } from '../util/errors.js';

export type Device = 'auto' | 'cuda' | 'cpu';
export type Provider = 'cuda' | 'cpu';

export interface SessionThreads {
  /** Threads one session.run may use; the pool divides the cores among its workers. */
  intraOp: number;
}

export interface CreatedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** Why `auto` ended up on CPU (the CUDA error's first line); absent otherwise. */
  fallbackReason?: string;
}

/**
 * Open a session on the requested device. onnxruntime-node throws when the CUDA libraries are
 * missing instead of falling back, so `auto` catches that and retries on CPU; `cuda` reports it.
 */
export async function createSession(modelPath: string, device: Device, threads: SessionThreads): Promise<CreatedSession> {
  const open = (providers: string[], quiet: boolean) => ort.InferenceSession.create(modelPath, {
    executionProviders: providers,
    intraOpNumThreads: threads.intraOp,
    interOpNumThreads: 1,
    // A failed CUDA attempt would print onnxruntime's own red error line; ours says it once, shorter.
    logSeverityLevel: quiet ? 4 : 3,
  });
  if (device === 'cpu') return { session: await open(['cpu'], false), provider: 'cpu' };
  try {
    return { session: await open(['cuda', 'cpu'], true), provider: 'cuda' };
  } catch (err) {
    const reason = firstLine(err);
    if (device === 'cuda') {
      throw new UserError(`device cuda: onnxruntime-node could not start its CUDA execution provider (${reason}); install the CUDA libraries onnxruntime-node needs, or use --device auto or cpu`);
    }
    return { session: await open(['cpu'], false), provider: 'cpu', fallbackReason: reason };
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}
