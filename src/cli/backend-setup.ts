import { isBackendRequest, selectBackend, BACKEND_REQUESTS, type SelectedBackend } from '../tf/backend.js';
import { registerWasmKernels } from '../tf/wasm-kernels.js';
import { UserError } from '../util/errors.js';

/** Pick the TF.js backend for training or embedding; wasm gets the kernels it lacks for training first. */
export async function activateBackend(request: string, log: (line: string) => void): Promise<SelectedBackend> {
  if (!isBackendRequest(request)) throw new UserError(`--backend must be one of ${BACKEND_REQUESTS.join(', ')}, got "${request}"`);
  registerWasmKernels();
  return selectBackend(request, log);
}
