import type { Device, Provider } from './session-factory.js';
import type { TensorMap } from './tensor-value.js';

/** What a worker is started with (workerData). */
export interface WorkerInit {
  modelPath: string;
  device: Device;
  intraOpThreads: number;
}

/** Main thread -> worker. */
export type ToWorker =
  | { kind: 'run'; id: number; feeds: TensorMap }
  | { kind: 'close' };

/** Worker -> main thread. */
export type FromWorker =
  | { kind: 'ready'; provider: Provider; fallbackReason?: string; inputNames: string[]; outputNames: string[] }
  | { kind: 'init-error'; message: string; userError: boolean }
  | { kind: 'result'; id: number; outputs: TensorMap; inferenceMs: number }
  | { kind: 'run-error'; id: number; message: string }
  | { kind: 'closed' };
