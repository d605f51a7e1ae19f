import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.js';
import { elementCount, type ParamInit, type ParamSpec } from './param-spec.js';
import { LabelledRandom } from '../util/labelled-random.js';

/** What forward passes need from a parameter set: a tensor by its state-dict name. */
export interface ParamReader {
  get(name: string): tf.Tensor;
  /** Every parameter name (to select a block's parameters by prefix). */
  names(): string[];
}

/** Names of the parameters under `prefix` (a module path such as `text_encoder.tfs.title`). */
export function namesUnder(params: ParamReader, prefix: string): string[] {
  return params.names().filter((name) => name.startsWith(`${prefix}.`));
}

function initialValues(spec: ParamSpec, seed: number): Float32Array {
  const values = new Float32Array(elementCount(spec.shape));
  const init: ParamInit = spec.init;
  if (init.kind === 'constant') {
    values.fill(init.value);
    return values;
  }
  // Per-name streams: adding or reordering parameters leaves the others' starting values unchanged.
  const rng = LabelledRandom.forLabel(seed, spec.name);
  if (init.kind === 'uniform') {
    for (let i = 0; i < values.length; i++) values[i] = (2 * rng.uniform() - 1) * init.bound;
  } else {
    for (let i = 0; i < values.length; i++) values[i] = rng.normal() * init.std;
  }
  return values;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The model's parameters as a flat map from the seed's state-dict names (no `module.` prefix) to
 * tf.Variables in PyTorch layout, so checkpoints, ONNX export and imports of the authors' weights
 * are name-for-name copies.
 */
export class ParamStore implements ParamReader {
  private constructor(private readonly vars: Map<string, tf.Variable>) {}

  /** Fresh parameters for `specs`, each drawn from its own stream of (seed, name). */
  static initialise(specs: readonly ParamSpec[], seed: number): ParamStore {
    const store = new ParamStore(new Map());
    store.addMissing(specs, seed);
    return store;
  }

  /**
   * Parameters from named tensors (a checkpoint). Strict: every spec must be present with its shape
   * and nothing else may be; `source` (a file path) names the origin in errors. Tensors are copied.
   */
  static fromNamedTensors(
    specs: readonly ParamSpec[], tensors: ReadonlyMap<string, tf.Tensor>, source: string,
  ): ParamStore {
    const expected = new Map(specs.map((s) => [s.name, s]));
    const missing = specs.filter((s) => !tensors.has(s.name)).map((s) => s.name);
    const unexpected = [...tensors.keys()].filter((name) => !expected.has(name));
    const problems: string[] = [];
    if (missing.length) problems.push(`missing ${missing.length} parameter(s): ${listSome(missing)}`);
    if (unexpected.length) problems.push(`unexpected ${unexpected.length} parameter(s): ${listSome(unexpected)}`);
    for (const spec of specs) {
      const t = tensors.get(spec.name);
      if (t && !sameShape(t.shape, spec.shape)) {
        problems.push(`${spec.name} has shape [${t.shape}] but the model config needs [${spec.shape}]`);
      }
      if (t && t.dtype !== 'float32') problems.push(`${spec.name} has dtype ${t.dtype}, expected float32`);
    }
    if (problems.length) throw new UserError(`${source}: parameters do not match the model: ${problems.join('; ')}`);
    const vars = new Map<string, tf.Variable>();
    for (const spec of specs) vars.set(spec.name, tf.variable(tensors.get(spec.name)!, true));
    return new ParamStore(vars);
  }

  /** Initialise the specs this store lacks (stage 2 adds `Wv` to a stage-1 model); returns their names. */
  addMissing(specs: readonly ParamSpec[], seed: number): string[] {
    const added: string[] = [];
    for (const spec of specs) {
      if (this.vars.has(spec.name)) continue;
      const value = tf.tensor(initialValues(spec, seed), spec.shape, 'float32');
      this.vars.set(spec.name, tf.variable(value, true));
      value.dispose();
      added.push(spec.name);
    }
    return added;
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`model parameter "${name}" does not exist`);
    return v;
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  /** Names in insertion (state-dict) order. */
  names(): string[] {
    return [...this.vars.keys()];
  }

  /** Number of scalars, optionally only of names starting with `prefix`. */
  elementCount(prefix = ''): number {
    let n = 0;
    for (const [name, v] of this.vars) if (name.startsWith(prefix)) n += v.size;
    return n;
  }

  /** The live variables by name (not copies): read them to save a checkpoint, do not dispose them. */
  toNamedTensors(): Map<string, tf.Tensor> {
    return new Map(this.vars);
  }

  /** Copy values in from named tensors of matching shapes (e.g. restoring a checkpoint into a live store). */
  assignFrom(tensors: ReadonlyMap<string, tf.Tensor>, source: string): void {
    for (const [name, t] of tensors) {
      const v = this.vars.get(name);
      if (!v) throw new UserError(`${source}: unexpected parameter ${name}`);
      if (!sameShape(v.shape, t.shape)) {
        throw new UserError(`${source}: ${name} has shape [${t.shape}] but the model needs [${v.shape}]`);
      }
      v.assign(t);
    }
  }

  /**
   * The loss value and its gradient for every parameter the loss depends on, keyed by name
   * (parameters the loss does not reach get no entry, like PyTorch's grad None).
   */
  valueAndGrads(lossFn: () => tf.Scalar): { value: tf.Scalar; grads: Map<string, tf.Tensor> } {
    const list = [...this.vars.values()];
    const { value, grads } = tf.variableGrads(lossFn, list);
    const byName = new Map<string, tf.Tensor>();
    for (const [name, v] of this.vars) {
      const g = grads[v.name];
      if (g) byName.set(name, g);
    }
    return { value, grads: byName };
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

function listSome(names: string[]): string {
  return names.length <= 5 ? names.join(', ') : `${names.slice(0, 5).join(', ')}, ...`;
}
