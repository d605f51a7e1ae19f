import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { UserError } from '../util/errors.js';
import { createSession } from './session-factory.js';
import { sharedNow } from './stage-trace.js';
import type { TensorData, TensorMap, TensorType } from './tensor-value.js';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.js';

/**
 * One onnxruntime session in a worker thread: session.run() blocks its thread for the whole
 * inference, so it must not be the server's event loop. Runs one batch at a time, in order.
 */
const port = parentPort;
if (!port) throw new Error('inference-worker must run in a worker thread');
const init = workerData as WorkerInit;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

let session: ort.InferenceSession | undefined;
try {
  const created = await createSession(init.modelPath, init.device, { intraOp: init.intraOpThreads });
  session = created.session;
  send({ kind: 'ready', provider: created.provider, fallbackReason: created.fallbackReason, inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
} catch (err) {
  send({ kind: 'init-error', message: err instanceof Error ? err.message : String(err), userError: err instanceof UserError });
}

port.on('message', (message: ToWorker) => {
  if (message.kind === 'run') void runBatch(message.id, message.feeds, sharedNow());
  else void shutdown();
});

// Messages arrive while a run is awaited; chaining keeps runs strictly one after another.
let queue: Promise<void> = Promise.resolve();

function runBatch(id: number, feeds: TensorMap, receivedAt: number): Promise<void> {
  queue = queue.then(async () => {
    if (!session) {
      send({ kind: 'run-error', id, message: 'the session failed to start' });
      return;
    }
    try {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const runStartAt = sharedNow();
      const started = performance.now();
      const results = await session.run(ortFeeds);
      const inferenceMs = performance.now() - started;
      const runEndAt = sharedNow();
      const outputs: TensorMap = {};
      const transfer: ArrayBuffer[] = [];
      for (const [name, t] of Object.entries(results)) {
        // A private copy: the result's memory may be onnxruntime's, which must not be transferred.
        const data = (t.data as TensorData).slice();
        outputs[name] = { type: t.type as TensorType, dims: [...t.dims], data };
        transfer.push(data.buffer as ArrayBuffer);
        t.dispose();
      }
      send({ kind: 'result', id, outputs, inferenceMs, clock: { receivedAt, runStartAt, runEndAt, sentAt: sharedNow() } }, transfer);
    } catch (err) {
      send({ kind: 'run-error', id, message: err instanceof Error ? err.message : String(err) });
    }
  });
  return queue;
}

async function shutdown(): Promise<void> {
  await queue;
  await session?.release();
  session = undefined;
  send({ kind: 'closed' });
  port!.close();
}
