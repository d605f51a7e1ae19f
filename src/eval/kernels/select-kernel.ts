import { UserError } from '../../util/errors.js';
import { jsKernel } from './js-kernel.js';
import { KERNEL_CHOICES, type KernelChoice, type SimilarityKernel } from './similarity-kernel.js';
import { createTfjsKernel } from './tfjs-kernel.js';

/** One wasm initialisation per process; a failure is remembered so 'auto' does not retry it. */
let wasmKernel: Promise<SimilarityKernel> | undefined;

export function isKernelChoice(value: string): value is KernelChoice {
  return (KERNEL_CHOICES as readonly string[]).includes(value);
}

/**
 * The similarity kernel for a choice. 'auto' = wasm (XNNPACK, ~44 GFLOP/s on one core here) when
 * it initialises, else the pure-JS kernel (~5 GFLOP/s); the fallback is logged. An explicit
 * 'wasm' that cannot start is a UserError.
 */
export async function loadSimilarityKernel(choice: KernelChoice = 'auto', log: (line: string) => void = () => {}): Promise<SimilarityKernel> {
  if (!isKernelChoice(choice)) {
    throw new UserError(`unknown similarity kernel "${String(choice)}" (choose one of ${KERNEL_CHOICES.join(', ')})`);
  }
  if (choice === 'js') return jsKernel;
  wasmKernel ??= createTfjsKernel('wasm');
  try {
    return await wasmKernel;
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0];
    if (choice === 'wasm') throw new UserError(`the wasm similarity kernel is not available: ${reason}`);
    log(`similarity kernel: wasm unavailable (${reason}); using the pure-JS kernel`);
    return jsKernel;
  }
}
