import { UserError } from '../../util/errors.js';
import { jsKernel } from './js-kernel.js';
import { createOrtKernel } from './ort-kernel.js';
import { KERNEL_CHOICES, type KernelChoice, type SimilarityKernel } from './similarity-kernel.js';
import { createTfjsKernel } from './tfjs-kernel.js';

/** One initialisation per process and kernel; a failure is remembered so 'auto' does not retry it. */
let ortKernel: Promise<SimilarityKernel> | undefined;
let wasmKernel: Promise<SimilarityKernel> | undefined;

export function isKernelChoice(value: string): value is KernelChoice {
  return (KERNEL_CHOICES as readonly string[]).includes(value);
}

/**
 * The similarity kernel for a choice. 'auto' = onnxruntime's Gemm (MLAS, every core, ~200 GFLOP/s
 * here) when it starts, else wasm (XNNPACK, one core, ~32 GFLOP/s), else the pure-JS kernel
 * (~5 GFLOP/s); each fallback is logged. An explicit 'ort' or 'wasm' that cannot start is a
 * UserError. Every kernel gives the same ranks: rankTrueMatches settles near-ties exactly.
 */
export async function loadSimilarityKernel(choice: KernelChoice = 'auto', log: (line: string) => void = () => {}): Promise<SimilarityKernel> {
  if (!isKernelChoice(choice)) {
    throw new UserError(`unknown similarity kernel "${String(choice)}" (choose one of ${KERNEL_CHOICES.join(', ')})`);
  }
  if (choice === 'js') return jsKernel;
  if (choice === 'ort' || choice === 'auto') {
    ortKernel ??= createOrtKernel();
    try {
      return await ortKernel;
    } catch (err) {
      if (choice === 'ort') throw new UserError(`the onnxruntime similarity kernel is not available: ${firstLine(err)}`);
      log(`similarity kernel: onnxruntime unavailable (${firstLine(err)}); trying wasm`);
    }
  }
  wasmKernel ??= createTfjsKernel('wasm');
  try {
    return await wasmKernel;
  } catch (err) {
    if (choice === 'wasm') throw new UserError(`the wasm similarity kernel is not available: ${firstLine(err)}`);
    log(`similarity kernel: wasm unavailable (${firstLine(err)}); using the pure-JS kernel`);
    return jsKernel;
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
