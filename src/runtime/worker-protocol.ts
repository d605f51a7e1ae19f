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
  | { kind: 'result'; id: number; outputs: TensorMap; inferenceMs: number; clock: WorkerClock }
  | { kind: 'run-error'; id: number; message: string }
  | { kind: 'closed' };

/** When the worker received a batch, ran it and sent its outputs, on the shared clock (stage-trace.ts). */
export interface WorkerClock {
  receivedAt: number;
  runStartAt: number;
  runEndAt: number;
  sentAt: number;
}
