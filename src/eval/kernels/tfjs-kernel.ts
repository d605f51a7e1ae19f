import type * as tfTypes from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { KernelName, PreparedCandidates, SimilarityKernel } from './similarity-kernel.js';

type Tf = typeof tfTypes;
type TfBackend = 'wasm' | 'cpu';
type DataId = object;

export interface TfjsKernelOptions {
  /**
   * Upload candidates transposed (dim x rows) and multiply without transposeB. Measured here with
   * wasm (XNNPACK, 256 x 4096 x 1024): ~44 GFLOP/s this way, ~3.6 GFLOP/s with transposeB.
   * false exists only to benchmark the slow path.
   */
  pretranspose?: boolean;
}

/**
 * Dot products through a TF.js backend's BatchMatMul kernel, called directly on the backend
 * instance: the global active backend (tf.getBackend()) is never switched, so code elsewhere that
 * uses tf sees no change. Data goes in with backend.write and is freed with backend.disposeData;
 * no tf.Tensor is created, so nothing is tracked by (or leaks into) the tf engine.
 *
 * Multi-threading: tfjs-backend-wasm 4.22 hard-wires WASM_HAS_MULTITHREAD_SUPPORT to false in
 * Node, and forcing the flag fails (its pthread workers are created from a blob: URL, which Node's
 * Worker rejects with ERR_WORKER_PATH), so setThreadsCount has no effect: one thread.
 */
export async function createTfjsKernel(backendName: TfBackend, options: TfjsKernelOptions = {}): Promise<SimilarityKernel> {
  const pretranspose = options.pretranspose ?? true;
  const tf: Tf = await import('@tensorflow/tfjs');
  const backend = await initBackend(tf, backendName);
  const matMul = tf.getKernel('BatchMatMul', backendName);
  if (!matMul) throw new Error(`tfjs backend '${backendName}' has no BatchMatMul kernel`);
  const name: KernelName = backendName === 'wasm' ? 'wasm' : 'tfjs-cpu';

  const run = (a: tfTypes.TensorInfo, b: tfTypes.TensorInfo): tfTypes.TensorInfo => {
    // The wasm kernel binds its wasm function in setupFunc, which tf only calls when the backend is
    // made active; call it ourselves (cheap, idempotent) since we never activate it.
    matMul.setupFunc?.(backend);
    const attrs = { transposeA: false, transposeB: !pretranspose };
    const out = matMul.kernelFunc({ inputs: { a, b }, backend, attrs });
    return Array.isArray(out) ? out[0] : out;
  };

  const read = (out: tfTypes.TensorInfo): Float32Array =>
    backendName === 'wasm'
      ? ((backend as unknown as BackendWasm).typedArrayFromHeap(out) as Float32Array) // a view: no copy
      : (backend.readSync(out.dataId) as Float32Array);

  return {
    name,
    prepare(candidates: Float32Array, rows: number, dim: number): PreparedCandidates {
      if (candidates.length < rows * dim) throw new RangeError(`candidates hold ${candidates.length} values, need ${rows * dim}`);
      const values = pretranspose ? transpose(candidates, rows, dim) : candidates.slice(0, rows * dim);
      const shape = pretranspose ? [dim, rows] : [rows, dim];
      const b: tfTypes.TensorInfo = { dataId: backend.write(values, shape, 'float32') as DataId, shape, dtype: 'float32' };
      let last: DataId | undefined;
      const release = (): void => {
        if (last) backend.disposeData(last);
        last = undefined;
      };
      let disposed = false;
      return {
        rows,
        multiply(queries: Float32Array, count: number): Float32Array {
          if (disposed) throw new Error('multiply() after dispose()');
          if (queries.length < count * dim) throw new RangeError(`queries hold ${queries.length} values, need ${count * dim}`);
          release();
          // cpu's write keeps a reference instead of copying: hand it a private copy.
          const q = backendName === 'cpu' ? queries.slice(0, count * dim) : queries.subarray(0, count * dim);
          const a: tfTypes.TensorInfo = { dataId: backend.write(q, [count, dim], 'float32') as DataId, shape: [count, dim], dtype: 'float32' };
          try {
            const out = run(a, b);
            last = out.dataId as DataId;
            return read(out);
          } finally {
            backend.disposeData(a.dataId as DataId);
          }
        },
        dispose(): void {
          if (disposed) return;
          disposed = true;
          release();
          backend.disposeData(b.dataId as DataId);
        },
      };
    },
  };
}

/**
 * The engine's instance of the backend, initialised but not activated. Importing
 * tfjs-backend-wasm registers 'wasm' at priority 2, which would silently become the default for
 * code that never chose a backend; so when nothing is chosen yet, let tf settle its default
 * (cpu in Node) before the import.
 */
async function initBackend(tf: Tf, backendName: TfBackend): Promise<tfTypes.KernelBackend> {
  const engine = tf.engine();
  if (backendName === 'wasm' && !tf.findBackendFactory('wasm')) {
    if (engine.backendName == null) await tf.ready();
    await import('@tensorflow/tfjs-backend-wasm');
  }
  let backend = engine.findBackend(backendName);
  if (backend == null) {
    // findBackend started an asynchronous initialisation (wasm compiles its module); wait for it.
    await engine.ready();
    backend = engine.findBackend(backendName);
  }
  if (backend == null) throw new Error(`tfjs could not initialise its '${backendName}' backend`);
  return backend;
}

/** rows x dim -> dim x rows, in tiles so that both sides are read and written in cache-sized runs. */
export function transpose(m: Float32Array, rows: number, dim: number): Float32Array {
  const out = new Float32Array(rows * dim);
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let k0 = 0; k0 < dim; k0 += T) {
      const k1 = Math.min(dim, k0 + T);
      for (let r = r0; r < r1; r++) {
        for (let k = k0; k < k1; k++) out[k * rows + r] = m[r * dim + k];
      }
    }
  }
  return out;
}
